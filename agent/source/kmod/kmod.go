// Package kmod reads the kernel modules loaded on a Linux host.
//
// It reads, under the host root, /proc/modules (one line per loaded module: name, size,
// reference count, the modules using it, state, address, and the taint flags in parentheses)
// and, for each module, /sys/module/<name>/version, /sys/module/<name>/srcversion and
// /sys/module/<name>/taint.
//
// Each module is a package of format "kmod" named after the module (title kmod:zfs). Its
// version is the one the module declares (MODULE_VERSION, the version file); else its
// srcversion, the checksum of its sources modpost records, which changes whenever they do;
// else the running kernel's release (/proc/sys/kernel/osrelease): an in-tree module without a
// version of its own is the kernel's, and changes with it. A module whose taint flags hold
// "O" was built out of the kernel's tree and is labelled out_of_tree=true; every other module
// is part of the platform (InstallInfo.Platform). The taint flags, when there are any, are
// kept as the label "taint".
package kmod

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	modulesPath  = "/proc/modules"
	releasePath  = "/proc/sys/kernel/osrelease"
	maxModules   = 4 << 20 // /proc/modules of a host with 10,000 modules is ~1 MiB
	maxSysFile   = 4096
	sourceFormat = "kmod"
)

// Source reads the loaded kernel modules.
type Source struct{ root hostfs.Root }

// New returns a kmod source reading under root.
func New(root hostfs.Root) *Source { return &Source{root: root} }

// Name implements source.Source.
func (*Source) Name() string { return "kmod" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// Collect implements source.Source. A kernel built without module support has no
// /proc/modules: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	b, err := s.root.ReadFile(modulesPath, maxModules)
	if hostfs.NotPresent(err) {
		return res, fmt.Errorf("kmod: %w", source.ErrNotPresent)
	}
	if err != nil {
		return res, fmt.Errorf("kmod: %w", err)
	}
	mods, skipped := ParseModules(b)
	res.Skipped = skipped
	release := ""
	if r, err := s.root.ReadFile(releasePath, maxSysFile); err == nil {
		release = source.Text(bytes.TrimSpace(r), protocol.MaxFieldLen)
	}
	res.Software = make([]model.Package, 0, len(mods))
	for i, m := range mods {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		p, dropped := s.pkg(m, release)
		res.Skipped += dropped
		res.Software = append(res.Software, p)
	}
	slices.SortFunc(res.Software, model.ComparePackages)
	return res, nil
}

// pkg makes the package of one loaded module, reading what /sys/module says of it.
func (s *Source) pkg(m Module, release string) (model.Package, int) {
	dir := "/sys/module/" + m.Name + "/"
	version := s.sysFile(dir + "version")
	if version == "" {
		version = s.sysFile(dir + "srcversion")
	}
	if version == "" {
		version = release
	}
	taint := m.Taint
	if t := s.sysFile(dir + "taint"); t != "" {
		taint = t
	}
	p := model.Package{
		Source:        sourceFormat,
		Name:          m.Name,
		Version:       version,
		InstalledSize: m.Size,
		State:         m.State,
	}
	labels := map[string]string{}
	if taint != "" {
		labels["taint"] = taint
	}
	if bytes.IndexByte([]byte(taint), 'O') >= 0 {
		labels["out_of_tree"] = "true"
	} else {
		p.Platform = true
	}
	var dropped int
	p.Labels, dropped = source.Labels(labels)
	return p, dropped
}

// sysFile returns the first line of a sysfs attribute, cleaned, or "" when it is missing.
func (s *Source) sysFile(p string) string {
	b, err := s.root.ReadFile(p, maxSysFile)
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return source.Text(bytes.TrimSpace(b), protocol.MaxFieldLen)
}

// Module is one line of /proc/modules.
type Module struct {
	Name  string
	Size  uint64
	State string // "" for a live module, else the kernel's word in lower case: "loading", "unloading"
	Taint string // the flags in parentheses, "" for none
}

// ParseModules parses /proc/modules: "name size refcount deps state address [(taint)]" per
// line, as the kernel's m_show writes it. Lines that do not have that shape, or name a module
// the kernel could not have loaded, are skipped and counted; a name seen twice is kept once.
func ParseModules(b []byte) (mods []Module, skipped int) {
	seen := make(map[string]bool)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, ok := parseLine(line)
		if !ok || seen[m.Name] {
			skipped++
			continue
		}
		seen[m.Name] = true
		mods = append(mods, m)
	}
	return mods, skipped
}

func parseLine(line []byte) (Module, bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || len(f) > 7 || !validName(f[0]) {
		return Module{}, false
	}
	size, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return Module{}, false
	}
	m := Module{Name: string(f[0]), Size: size}
	switch string(f[4]) {
	case "Live":
	case "Loading":
		m.State = "loading"
	case "Unloading":
		m.State = "unloading"
	default:
		return Module{}, false
	}
	if len(f) == 7 {
		t := f[6]
		if len(t) < 3 || t[0] != '(' || t[len(t)-1] != ')' || !letters(t[1:len(t)-1]) {
			return Module{}, false
		}
		m.Taint = string(t[1 : len(t)-1])
	}
	return m, true
}

// validName checks a module name as the kernel keeps it: at most MODULE_NAME_LEN-1 (55)
// bytes of letters, digits, '_' and '-'.
func validName(b []byte) bool {
	if len(b) == 0 || len(b) > 55 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func letters(b []byte) bool {
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return len(b) > 0
}
