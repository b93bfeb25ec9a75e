package model

import "maps"

// InstallInfo is what a source knows of one installation beyond its identity (source, name,
// arch, version): where it is, whose it is, and who put it there. It is embedded in Package,
// its fields encoding in place after state. Every text field is free text of at most
// protocol.MaxFieldLen bytes, checked and cleaned through Texts; the labels are bounded by
// protocol.MaxLabels.
//
// Unlike PackageInfo, which is kept once per title for the whole fleet, these fields belong
// to the installation on one host and are stored with it.
type InstallInfo struct {
	// Location is where the installation lives, as an absolute path in the host's view (the
	// host root removed): "/opt/acme/bin/acmectl" for a file, the dist-info directory of a
	// Python distribution, the installation directory of a flatpak.
	Location string `json:"location,omitempty"`
	// User is the user a per-user installation belongs to (the owner of the home it was found
	// in), or the owner of a file no package owns: a user name where the host's passwd file
	// names the uid, else "uid:1000".
	User string `json:"user,omitempty"`
	// Digest identifies the content: "sha256:<hex>" of a file or of a container image's
	// configuration (its image ID).
	Digest string `json:"digest,omitempty"`
	// Requested says whether the installation was asked for ("explicit") or pulled in as a
	// dependency of another ("dependency"), where the package manager records it; empty when
	// unknown.
	Requested string `json:"requested,omitempty"`
	// InstalledBy is who installed it, where the host records it: apt's Requested-By, dnf's
	// user, a container's compose project or Kubernetes namespace owner label, a file's owner.
	InstalledBy string `json:"installed_by,omitempty"`
	// InstallCommand is the command line that installed it, where recorded (apt's history).
	InstallCommand string `json:"install_command,omitempty"`
	// Evidence names where InstalledBy and Requested were read: "apt-history",
	// "apt-extended-states", "dnf-history", "pacman-log", "file-owner", "container-label".
	Evidence string `json:"evidence,omitempty"`
	// Copies counts further installations of the same package the source found at other
	// locations (the same version of a library in two Python environments): 0 when there is
	// one. Location is the first of them in path order.
	Copies int `json:"copies,omitempty"`
	// Platform marks software that is part of the platform rather than an application: snap
	// bases, core, snapd, kernels and gadgets; flatpak runtimes; in-tree kernel modules.
	Platform bool `json:"platform,omitempty"`
	// Labels are what the software is labelled with where it carries labels (a container
	// image's labels, OCI annotations), and facts of a source that have no field of their own
	// ("out_of_tree": "true" for a kernel module). Keys are structure, values free text.
	Labels map[string]string `json:"labels,omitempty"`
}

// Texts returns the text fields of i, in declaration order, for the code that validates and
// cleans every one of them the same way. A new text field of InstallInfo is added here too (a
// test checks that none is missing).
func (i *InstallInfo) Texts() [7]InfoText {
	return [...]InfoText{{"location", &i.Location}, {"user", &i.User}, {"digest", &i.Digest},
		{"requested", &i.Requested}, {"installed_by", &i.InstalledBy}, {"install_command", &i.InstallCommand},
		{"evidence", &i.Evidence}}
}

// IsZero reports whether i holds nothing.
func (i *InstallInfo) IsZero() bool {
	for _, f := range i.Texts() {
		if *f.Ptr != "" {
			return false
		}
	}
	return i.Copies == 0 && !i.Platform && len(i.Labels) == 0
}

// The values of InstallInfo.Requested.
const (
	RequestedExplicit   = "explicit"
	RequestedDependency = "dependency"
)

// Equal reports whether i and o hold the same values.
func (i *InstallInfo) Equal(o *InstallInfo) bool {
	a, b := i.Texts(), o.Texts()
	for k := range a {
		if *a[k].Ptr != *b[k].Ptr {
			return false
		}
	}
	return i.Copies == o.Copies && i.Platform == o.Platform && maps.Equal(i.Labels, o.Labels)
}

// Equal reports whether s and o hold the same values.
func (s *Service) Equal(o *Service) bool {
	return s.Manager == o.Manager && s.Name == o.Name && s.Description == o.Description &&
		s.UnitFileState == o.UnitFileState && s.ActiveState == o.ActiveState && s.SubState == o.SubState &&
		s.Path == o.Path && s.User == o.User && s.Image == o.Image && maps.Equal(s.Labels, o.Labels)
}

// Equal reports whether p and o hold the same values, install times compared as instants.
func (p *Package) Equal(o *Package) bool {
	return p.Source == o.Source && p.Name == o.Name && p.Version == o.Version && p.Arch == o.Arch &&
		p.InstallTime.Equal(o.InstallTime) && p.PackageInfo == o.PackageInfo &&
		p.InstalledSize == o.InstalledSize && p.State == o.State && p.InstallInfo.Equal(&o.InstallInfo)
}
