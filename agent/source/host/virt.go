package host

import (
	"bytes"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// dmiVendors maps what SMBIOS says (sys_vendor, product_name, bios_vendor, board_vendor) to
// the hypervisor, in systemd-detect-virt's vocabulary. The first match wins.
var dmiVendors = []struct{ prefix, vm string }{
	{"KVM", "kvm"},
	{"OpenStack", "kvm"},
	{"KubeVirt", "kvm"},
	{"Amazon EC2", "amazon"},
	{"QEMU", "qemu"},
	{"VMware", "vmware"},
	{"VMW", "vmware"},
	{"innotek GmbH", "oracle"},
	{"VirtualBox", "oracle"},
	{"Oracle Corporation", "oracle"},
	{"Xen", "xen"},
	{"Bochs", "bochs"},
	{"Parallels", "parallels"},
	{"BHYVE", "bhyve"},
	{"Hyper-V", "microsoft"},
	{"Apple Virtualization", "apple"},
	{"Google Compute Engine", "google"},
	{"Google", "google"},
	{"Cloud Hypervisor", "cloud-hypervisor"},
	{"Firecracker", "firecracker"},
}

// detectVirtualization tells what the host root runs on. It reads files only, so it answers
// for the host root rather than for the agent's own container, and it weighs its evidence:
// a /.dockerenv left in an image that now boots as a VM does not make the VM a container.
func detectVirtualization(r hostfs.Root) model.Virtualization {
	var v model.Virtualization
	v.VM = detectVM(r, &v.Evidence)
	v.Container = detectContainer(r, &v.Evidence)
	return v
}

const clocksourcePath = "/sys/devices/system/clocksource/clocksource0/available_clocksource"

func detectVM(r hostfs.Root, ev *[]string) string {
	// Microsoft's kernels for WSL2 run in a Hyper-V VM.
	if rel := firstLine(r, "/proc/sys/kernel/osrelease"); strings.Contains(strings.ToLower(rel), "microsoft") {
		*ev = append(*ev, "kernel release "+rel)
		return "microsoft"
	}
	dmiPresent := false
	for _, f := range []string{"sys_vendor", "product_name", "board_vendor", "bios_vendor"} {
		val := firstLine(r, "/sys/class/dmi/id/"+f)
		if val == "" {
			continue
		}
		dmiPresent = true
		for _, d := range dmiVendors {
			if strings.HasPrefix(val, d.prefix) {
				*ev = append(*ev, "dmi "+f+"="+val)
				// QEMU with KVM acceleration is a KVM guest, as systemd-detect-virt says.
				if d.vm == "qemu" && strings.Contains(firstLine(r, clocksourcePath), "kvm-clock") {
					*ev = append(*ev, "clocksource kvm-clock")
					return "kvm"
				}
				return d.vm
			}
		}
		// Microsoft's "Virtual Machine" product is Hyper-V; its sys_vendor alone is also on
		// physical Surface machines.
		if f == "product_name" && val == "Virtual Machine" && firstLine(r, "/sys/class/dmi/id/sys_vendor") == "Microsoft Corporation" {
			*ev = append(*ev, "dmi product_name=Virtual Machine")
			return "microsoft"
		}
	}
	if t := firstLine(r, "/sys/hypervisor/type"); t == "xen" {
		*ev = append(*ev, "/sys/hypervisor/type=xen")
		return "xen"
	}
	if b, err := r.ReadFile("/proc/device-tree/hypervisor/compatible", 4096); err == nil {
		c := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		*ev = append(*ev, "device-tree hypervisor "+strings.TrimSpace(c))
		switch {
		case strings.Contains(c, "linux,kvm"):
			return "kvm"
		case strings.Contains(c, "xen"):
			return "xen"
		case strings.Contains(c, "vmware"):
			return "vmware"
		}
		return "other"
	}
	cpuinfo, _ := r.ReadFile("/proc/cpuinfo", 4<<20)
	hypervisorFlag := hasCPUFlag(cpuinfo, "hypervisor")
	clocks := firstLine(r, clocksourcePath)
	cmdline := firstLine(r, "/proc/cmdline")
	switch {
	case strings.Contains(clocks, "kvm-clock"):
		*ev = append(*ev, "clocksource kvm-clock")
		// Firecracker exposes no SMBIOS tables and attaches its devices over virtio-mmio,
		// which it announces on the kernel command line.
		if !dmiPresent && (strings.Contains(cmdline, "virtio_mmio.device=") || strings.Contains(cmdline, "firecracker")) {
			*ev = append(*ev, "no SMBIOS, firecracker kernel command line")
			return "firecracker"
		}
		return "kvm"
	case strings.Contains(clocks, "hyperv"):
		*ev = append(*ev, "clocksource "+clocks)
		return "microsoft"
	case strings.Contains(clocks, "xen"):
		*ev = append(*ev, "clocksource xen")
		return "xen"
	case hypervisorFlag:
		*ev = append(*ev, "cpu flag hypervisor")
		return "other"
	}
	return ""
}

// hasCPUFlag reports whether the first "flags" line of /proc/cpuinfo lists flag.
func hasCPUFlag(cpuinfo []byte, flag string) bool {
	for len(cpuinfo) > 0 {
		var line []byte
		if i := bytes.IndexByte(cpuinfo, '\n'); i >= 0 {
			line, cpuinfo = cpuinfo[:i], cpuinfo[i+1:]
		} else {
			line, cpuinfo = cpuinfo, nil
		}
		if !bytes.HasPrefix(line, []byte("flags")) {
			continue
		}
		_, list, _ := bytes.Cut(line, []byte(":"))
		for _, f := range bytes.Fields(list) {
			if string(f) == flag {
				return true
			}
		}
		return false
	}
	return false
}

func detectContainer(r hostfs.Root, ev *[]string) string {
	// systemd's convention: the container manager sets container= for PID 1.
	if b, err := r.ReadFile("/proc/1/environ", 1<<20); err == nil {
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("container=")); ok && len(v) > 0 {
				*ev = append(*ev, "pid 1 environment container="+string(v))
				return containerName(string(v))
			}
		}
	}
	if v := firstLine(r, "/run/systemd/container"); v != "" {
		*ev = append(*ev, "/run/systemd/container="+v)
		return containerName(v)
	}
	if r.Exists("/run/.containerenv") {
		*ev = append(*ev, "/run/.containerenv")
		return "podman"
	}
	if b, err := r.ReadFile("/proc/1/cgroup", 1<<20); err == nil {
		s := string(b)
		for _, c := range []struct{ marker, name string }{
			{"/kubepods", "kubernetes"},
			{"/docker/", "docker"},
			{"/docker-", "docker"},
			{"/libpod", "podman"},
			{"/lxc/", "lxc"},
			{"/lxc.payload", "lxc"},
			{"containerd", "containerd"},
		} {
			if strings.Contains(s, c.marker) {
				*ev = append(*ev, "pid 1 cgroup "+c.marker)
				return c.name
			}
		}
	}
	if r.Exists("/.dockerenv") {
		if rootFSType(r) == "overlay" {
			*ev = append(*ev, "/.dockerenv with an overlay root")
			return "docker"
		}
		*ev = append(*ev, "ignored /.dockerenv: the root file system is not an overlay mount")
	}
	return ""
}

func containerName(v string) string {
	switch v {
	case "docker", "podman", "lxc", "systemd-nspawn", "wsl", "containerd", "kubernetes":
		return v
	case "lxc-libvirt":
		return "lxc"
	case "oci":
		return "other"
	}
	return "other"
}

// rootFSType returns the file system type PID 1 sees mounted on "/".
func rootFSType(r hostfs.Root) string {
	b, err := r.ReadFile("/proc/1/mountinfo", 16<<20)
	if err != nil {
		return ""
	}
	typ := ""
	for _, m := range ParseMountinfo(b) {
		if m.Mountpoint == "/" {
			typ = m.Type // the last mount on "/" is the one in effect
		}
	}
	return typ
}
