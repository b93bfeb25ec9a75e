// Package dpkg reads the packages installed on Debian-family hosts from dpkg's database.
//
// It reads, under the host root: /var/lib/dpkg/status (the database), every stanza file in
// /var/lib/dpkg/status.d/ (distroless images keep one file per package there), and the
// modification time of /var/lib/dpkg/info/<package>[:<arch>].list, which dpkg rewrites when it
// unpacks a package and which is the only install or upgrade time dpkg keeps.
//
// A package is reported when its files are on disk: status installed, and also unpacked,
// half-configured, triggers-awaited and triggers-pending, which are reported with that word in
// Package.State. Packages that are not installed, only have their configuration files left, or
// whose unpacking did not finish (half-installed) are not reported.
package dpkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const (
	statusPath   = "/var/lib/dpkg/status"
	statusDDir   = "/var/lib/dpkg/status.d"
	infoDir      = "/var/lib/dpkg/info"
	maxStatus    = 256 << 20 // the status file of a large desktop is ~10 MiB
	maxStanza    = 1 << 20
	maxFieldLen  = 4096 // longest value kept; longer ones are cut at a rune boundary
	sourceFormat = "deb"
)

// ErrMalformed is wrapped by the errors of a status file that is not a dpkg database at all.
var ErrMalformed = errors.New("malformed dpkg database")

// Source reads dpkg's database.
type Source struct {
	root  hostfs.Root
	cache source.Cache
}

// New returns a dpkg source reading under root.
func New(root hostfs.Root) *Source { return &Source{root: root} }

// Name implements source.Source.
func (*Source) Name() string { return "dpkg" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return "deb" }

// Locks implements source.Locker: apt holds lock-frontend for a whole transaction and dpkg
// holds lock while it writes, both as fcntl locks.
func (s *Source) Locks() []source.Lock {
	return []source.Lock{{Path: s.root.Path("/var/lib/dpkg/lock-frontend"), Fcntl: true}, {Path: s.root.Path("/var/lib/dpkg/lock"), Fcntl: true}}
}

// WatchPaths implements source.Watcher: dpkg renames status-new over status when it commits;
// apt renames a new extended_states into /var/lib/apt and appends to /var/log/apt/history.log,
// both while it holds lock-frontend, so that one apt run is read once, after it.
func (s *Source) WatchPaths() []string {
	return []string{s.root.Path("/var/lib/dpkg"), s.root.Path(statusDDir), s.root.Path(aptStateDir), s.root.Path(aptLogDir)}
}

// Collect implements source.Source.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	// dpkg commits by renaming a new status over the old one and rewrites a package's file
	// list when it unpacks it: unchanged stamps mean an unchanged database.
	// apt's records of who installed what (apt.go) are read with it.
	key := make([]source.Stamp, 6)
	for i, p := range []string{statusPath, statusDDir, infoDir, extendedStatesPath, aptLogDir, aptLogDir + "/" + historyName} {
		if fi, err := s.root.Stat(p); err == nil {
			key[i] = source.StampOf(fi)
		}
	}
	if pkgs, skipped, ok := s.cache.Get(key); ok {
		res.Software, res.Skipped = pkgs, skipped
		return res, nil
	}
	status, err := s.root.ReadFile(statusPath, maxStatus)
	statusMissing := hostfs.NotPresent(err)
	if err != nil && !statusMissing {
		return res, fmt.Errorf("dpkg: %w", err)
	}
	if err == nil {
		pkgs, skipped, perr := Parse(status, false)
		if perr != nil {
			return res, fmt.Errorf("dpkg: %s: %w", statusPath, perr)
		}
		res.Software, res.Skipped = pkgs, skipped
	}

	entries, err := s.root.ReadDir(statusDDir)
	statusDMissing := hostfs.NotPresent(err)
	if err != nil && !statusDMissing {
		return res, fmt.Errorf("dpkg: %w", err)
	}
	if statusMissing && statusDMissing {
		return res, fmt.Errorf("dpkg: %w", source.ErrNotPresent)
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".md5sums") {
			continue
		}
		b, err := s.root.ReadFile(path.Join(statusDDir, name), maxStanza)
		if err != nil {
			res.Skipped++
			continue
		}
		pkgs, skipped, err := Parse(b, true)
		if err != nil {
			res.Skipped++
			continue
		}
		res.Software = append(res.Software, pkgs...)
		res.Skipped += skipped
	}
	s.installTimes(res.Software)
	res.Skipped += aptInfo(s.root, res.Software, key[3] != (source.Stamp{}), key[4] != (source.Stamp{}))
	s.cache.Put(key, slices.Clone(res.Software), res.Skipped)
	return res, nil
}

// installTimes sets each package's install time from its file list's modification time.
func (s *Source) installTimes(pkgs []model.Package) {
	dir, err := s.root.Resolve(infoDir)
	if err != nil {
		return
	}
	lists, err := openDir(dir)
	if err != nil {
		return
	}
	defer lists.close()
	var buf []byte
	for i := range pkgs {
		p := &pkgs[i]
		buf = append(buf[:0], p.Name...)
		n := len(buf)
		buf = append(buf, ".list"...)
		mt, ok := lists.mtime(buf)
		if !ok && p.Arch != "" {
			// Multi-Arch: same packages keep their lists as name:arch.list.
			buf = append(append(append(buf[:n], ':'), p.Arch...), ".list"...)
			mt, ok = lists.mtime(buf)
		}
		if ok {
			p.InstallTime = mt
		}
	}
}

// Parse parses dpkg status stanzas. With implicitInstalled, a stanza without a Status field
// counts as installed (status.d files of distroless images have none). It returns the
// packages whose files are on disk and how many stanzas were malformed and skipped; the error
// is reserved for input that is not a status file at all.
func Parse(data []byte, implicitInstalled bool) (pkgs []model.Package, skipped int, err error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, 0, fmt.Errorf("%w: NUL byte in text database", ErrMalformed)
	}
	in := make(source.Interner)
	var st stanza
	sawValid := false
	flush := func() {
		if st.empty() {
			return
		}
		p, ok, bad := st.pkg(implicitInstalled, in)
		switch {
		case bad:
			skipped++
		case ok:
			pkgs = append(pkgs, p)
		default:
			sawValid = true // a valid record of a package that is not on disk
		}
		st = stanza{}
	}
	var last *[]byte // the field a continuation line belongs to, nil if not kept
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			last = nil
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == nil && st.empty() {
				st.broken = true // a continuation with nothing to continue
			}
			continue // continuation lines: only the first Description line is kept
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			st.broken = true
			last = nil
			continue
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		last = st.field(key)
		if last != nil {
			*last = val
		} else {
			last = &st.other
		}
		st.fields++
	}
	flush()
	if len(pkgs) == 0 && skipped > 0 && !sawValid {
		return nil, skipped, fmt.Errorf("%w: no valid package record, %d malformed", ErrMalformed, skipped)
	}
	return pkgs, skipped, nil
}

// stanza holds the raw fields of one status entry that the inventory keeps.
type stanza struct {
	name, status, version, arch, maintainer, section, source, size, desc, origin []byte
	other                                                                        []byte
	fields                                                                       int
	broken                                                                       bool
}

func (s *stanza) empty() bool { return s.fields == 0 && !s.broken }

func (s *stanza) field(key []byte) *[]byte {
	switch string(key) {
	case "Package":
		return &s.name
	case "Status":
		return &s.status
	case "Version":
		return &s.version
	case "Architecture":
		return &s.arch
	case "Maintainer":
		return &s.maintainer
	case "Section":
		return &s.section
	case "Source":
		return &s.source
	case "Installed-Size":
		return &s.size
	case "Description":
		return &s.desc
	case "Origin":
		return &s.origin
	}
	return nil
}

// onDisk maps the dpkg package states whose files are on disk to the State reported.
var onDisk = map[string]string{
	"installed":        "",
	"triggers-pending": "triggers-pending",
	"triggers-awaited": "triggers-awaited",
	"half-configured":  "half-configured",
	"unpacked":         "unpacked",
}

// pkg turns the stanza into a package. ok is false for packages that are not on disk; bad is
// true for stanzas that are malformed.
func (s *stanza) pkg(implicitInstalled bool, in source.Interner) (p model.Package, ok, bad bool) {
	if s.broken || len(s.name) == 0 || !validName(s.name) {
		return p, false, true
	}
	state := ""
	if len(s.status) == 0 {
		if !implicitInstalled {
			return p, false, true
		}
	} else {
		f := bytes.Fields(s.status)
		if len(f) != 3 {
			return p, false, true
		}
		var known bool
		state, known = onDisk[string(f[2])]
		if !known {
			switch string(f[2]) {
			case "not-installed", "config-files", "half-installed":
				return p, false, false
			}
			return p, false, true
		}
	}
	if len(s.version) == 0 {
		return p, false, true
	}
	p = model.Package{
		Source:  sourceFormat,
		Name:    string(s.name),
		Version: source.Text(s.version, maxFieldLen),
		Arch:    in.String(s.arch, maxFieldLen),
		PackageInfo: model.PackageInfo{
			Maintainer: in.String(s.maintainer, maxFieldLen),
			Section:    in.String(s.section, maxFieldLen),
			Vendor:     in.String(s.origin, maxFieldLen),
			Summary:    source.Text(s.desc, maxFieldLen),
		},
		State: state,
	}
	if len(s.source) > 0 {
		// "Source: openssl (3.0.11-1~deb12u2)" names the source package and its version.
		src := s.source
		if i := bytes.IndexByte(src, ' '); i >= 0 {
			src = src[:i]
		}
		p.Origin = in.String(src, maxFieldLen)
	} else {
		p.Origin = p.Name
	}
	if len(s.size) > 0 {
		if kib, err := strconv.ParseUint(string(s.size), 10, 64); err == nil && kib < 1<<44 {
			p.InstalledSize = kib * 1024
		}
	}
	return p, true, false
}

// validName checks a package name as dpkg does: lower-case letters, digits and + - . only.
func validName(b []byte) bool {
	if len(b) > 256 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		case c >= 'A' && c <= 'Z': // old databases have some; dpkg accepts them when reading
		default:
			return false
		}
	}
	return true
}
