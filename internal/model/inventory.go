// Package model holds the inventory types shared by the agent and the collector: what a host is,
// what software it has installed and which services it runs. Sizes are bytes, times are UTC.
package model

import "time"

// Inventory is everything one agent knows about its host at one moment.
type Inventory struct {
	// CollectedAt is when the pass that produced this inventory started.
	CollectedAt time.Time `json:"collected_at"`
	Host        Host      `json:"host"`
	// Software holds one entry per installed package, sorted by source, name, arch, version.
	Software []Package `json:"software"`
	// Services holds the service manager's units, sorted by name.
	Services []Service `json:"services"`
	// Listeners holds listening sockets, sorted by protocol, port, address.
	Listeners []Listener `json:"listeners"`
	// Sources says, per inventory source, whether it ran and what it found.
	Sources []SourceStatus `json:"sources"`
}

// Host holds the facts and capacity of one machine.
type Host struct {
	// ID is the stable host identity: /etc/machine-id, else the SMBIOS product UUID,
	// else an ID generated once and kept in the agent's state directory.
	ID string `json:"id"`
	// IDSource says where ID came from: "machine-id", "product-uuid" or "generated".
	IDSource       string            `json:"id_source"`
	Hostname       string            `json:"hostname"`
	FQDN           string            `json:"fqdn,omitempty"`
	OS             OS                `json:"os"`
	Kernel         string            `json:"kernel,omitempty"`
	Arch           string            `json:"arch,omitempty"`
	Virtualization Virtualization    `json:"virtualization"`
	BootTime       time.Time         `json:"boot_time,omitzero"`
	CPU            CPU               `json:"cpu"`
	Memory         Memory            `json:"memory"`
	Filesystems    []Filesystem      `json:"filesystems"`
	Interfaces     []Interface       `json:"interfaces"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// OS is what os-release says about the installed system.
type OS struct {
	ID         string `json:"id,omitempty"`          // e.g. "debian", "rocky", "alpine", "arch"
	IDLike     string `json:"id_like,omitempty"`     // e.g. "rhel centos fedora"
	Name       string `json:"name,omitempty"`        // e.g. "Debian GNU/Linux"
	Version    string `json:"version,omitempty"`     // e.g. "12 (bookworm)"
	VersionID  string `json:"version_id,omitempty"`  // e.g. "12"
	PrettyName string `json:"pretty_name,omitempty"` // e.g. "Debian GNU/Linux 12 (bookworm)"
	Family     string `json:"family,omitempty"`      // debian, rhel, alpine, arch, suse, other
}

// Virtualization says what the host runs on. Both empty means bare metal, not in a container.
type Virtualization struct {
	// VM is the hypervisor the host is a guest of: kvm, qemu, firecracker, xen, vmware,
	// microsoft, oracle, amazon, google, parallels, bhyve, other.
	VM string `json:"vm,omitempty"`
	// Container is the container runtime the host root is in: docker, podman, lxc,
	// systemd-nspawn, containerd, kubernetes, wsl, other.
	Container string `json:"container,omitempty"`
	// Evidence names what decided each answer, so a surprising value can be checked.
	Evidence []string `json:"evidence,omitempty"`
}

// CPU is the processor capacity.
type CPU struct {
	Model string `json:"model,omitempty"`
	// Sockets, Cores (physical) and Threads (logical CPUs).
	Sockets int `json:"sockets,omitempty"`
	Cores   int `json:"cores,omitempty"`
	Threads int `json:"threads"`
}

// Memory is the memory capacity in bytes.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	SwapTotalBytes uint64 `json:"swap_total_bytes"`
	SwapFreeBytes  uint64 `json:"swap_free_bytes"`
}

// Filesystem is one mounted, real (block- or network-backed) filesystem.
type Filesystem struct {
	Device     string `json:"device"`
	Mountpoint string `json:"mountpoint"`
	Type       string `json:"type"`
	TotalBytes uint64 `json:"total_bytes"`
	UsedBytes  uint64 `json:"used_bytes"`
	FreeBytes  uint64 `json:"free_bytes"` // available to unprivileged users
	ReadOnly   bool   `json:"read_only,omitempty"`
}

// Interface is one network interface with its hardware and IP addresses.
type Interface struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu,omitempty"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs,omitempty"` // CIDR notation, e.g. "192.0.2.10/24"
}

// Package is one installed package as its package database records it.
type Package struct {
	Source  string `json:"source"` // deb, rpm, apk, pacman
	Name    string `json:"name"`
	Version string `json:"version"` // full version as the package manager prints it (epoch:version-release)
	Arch    string `json:"arch,omitempty"`
	// InstallTime is when the package was installed or last upgraded, where the database
	// records it (rpm, apk, pacman) or the package's file list shows it (dpkg).
	InstallTime time.Time `json:"install_time,omitzero"`
	// PackageInfo describes the package; its fields encode in place, between install_time
	// and installed_size_bytes.
	PackageInfo
	InstalledSize uint64 `json:"installed_size_bytes,omitempty"`
	// State is empty for a fully installed package; otherwise the package manager's word for
	// a package whose files are on disk but whose installation is not complete, e.g. dpkg's
	// "unpacked", "half-configured" or "triggers-pending".
	State string `json:"state,omitempty"`
	// InstallInfo describes this installation: where it is, whose it is, who put it there.
	InstallInfo
}

// Title returns the fleet-wide identity of the package: source and name, e.g. "deb:nginx".
func (p Package) Title() string { return TitleKey(p.Source, p.Name) }

// PackageInfo is what describes a package rather than one installation of it: the fields a
// software title keeps once for the whole fleet. It is embedded wherever these fields travel
// (model.Package, the stored title, the API's software items), so that a new descriptive
// field is declared here, filled by the source that knows it, and carried everywhere else
// without further code. Every field is free text of at most protocol.MaxFieldLen bytes,
// checked and cleaned through Texts.
type PackageInfo struct {
	Vendor     string `json:"vendor,omitempty"`
	Maintainer string `json:"maintainer,omitempty"` // maintainer or packager
	Section    string `json:"section,omitempty"`    // section (deb) or group (rpm, pacman)
	Origin     string `json:"origin,omitempty"`     // source package it was built from
	License    string `json:"license,omitempty"`
	Summary    string `json:"summary,omitempty"`
}

// InfoText is one text field of a PackageInfo: its JSON name and where it is held.
type InfoText struct {
	Name string
	Ptr  *string
}

// Texts returns the fields of i, in declaration order, for the code that validates and
// cleans every one of them the same way. A new field of PackageInfo is added here too (a test
// checks that none is missing).
func (i *PackageInfo) Texts() [6]InfoText {
	return [...]InfoText{{"vendor", &i.Vendor}, {"maintainer", &i.Maintainer}, {"section", &i.Section},
		{"origin", &i.Origin}, {"license", &i.License}, {"summary", &i.Summary}}
}

// Service is one unit of the host's service manager.
type Service struct {
	// Manager is what runs it: systemd, or a container runtime (docker, podman, containerd)
	// for a container, whose Name is then the container's name.
	Manager     string `json:"manager"`
	Name        string `json:"name"` // e.g. "nginx.service"
	Description string `json:"description,omitempty"`
	// UnitFileState is enabled, disabled, static, masked, alias, indirect, generated, transient.
	UnitFileState string `json:"unit_file_state,omitempty"`
	// ActiveState and SubState come from the service manager when it is reachable
	// (active/running, inactive/dead, failed/failed); empty when it was not asked.
	ActiveState string `json:"active_state,omitempty"`
	SubState    string `json:"sub_state,omitempty"`
	// Path is the unit file, relative to the host root.
	Path string `json:"path,omitempty"`
	// User is the account the service runs as, where configured (a unit's User=).
	User string `json:"user,omitempty"`
	// Image is the image reference a container service runs ("docker.io/library/nginx:1.25").
	Image string `json:"image,omitempty"`
	// Labels are a container's labels (compose project, Kubernetes namespace and pod, OCI
	// authors, vendor and source), at most protocol.MaxLabels. Keys are structure, values
	// free text.
	Labels map[string]string `json:"labels,omitempty"`
}

// Listener is one listening socket: a TCP socket in LISTEN state or a bound UDP socket.
type Listener struct {
	Protocol string `json:"protocol"` // tcp, tcp6, udp, udp6
	Address  string `json:"address"`
	Port     uint16 `json:"port"`
	PID      int    `json:"pid,omitempty"`
	Process  string `json:"process,omitempty"`
	// Unit is the systemd unit the owning process belongs to, where known.
	Unit string `json:"unit,omitempty"`
}

// SourceStatus reports how one inventory source did in a pass.
type SourceStatus struct {
	Name string `json:"name"`
	// State is "ok", "not_present" (its database does not exist on this host) or "error".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Items is how many records the source returned, Skipped how many malformed ones it skipped.
	Items    int     `json:"items"`
	Skipped  int     `json:"skipped,omitempty"`
	Duration float64 `json:"duration_seconds"`
}
