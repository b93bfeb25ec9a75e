// Package files reads the executables on a host that no package owns: binaries and scripts
// unpacked into /usr/local, /opt and /srv, AppImages, and whatever a systemd service starts.
//
// It walks, under the host root, /usr/local, /opt and /srv without following links and
// without entering another file system, at most MaxDepth directories deep and at most
// MaxVisit directory entries per walk root and pass and at most MaxDirSize entries of one
// directory (a walk cut short is counted among the skipped records); trees other sources read or that hold no executables
// of their own are skipped (node_modules, site-packages, dist-packages, lib/python*, __pycache__,
// .git, and src, test, tests, testdata, doc, docs, man, include, locale, fonts, icons, and a Go
// distribution's tree, the gobin source's go:toolchain). It adds the executables the ExecStart= and ExecStartPre= lines of the service units
// (and their drop-ins) name, wherever they are. It keeps regular files with an exec bit, and
// files named *.AppImage that carry an AppImage's magic. It drops those a package database
// lists: dpkg's /var/lib/dpkg/info/*.list, apk's /lib/apk/db/installed, pacman's
// /var/lib/pacman/local/*/files and rpm's database (in any of its formats). What they said
// of each candidate is reused while the databases' files are unchanged (ownedmemo.go).
// It leaves to the gobin source the Go binaries that source reports (gobin.Reports, in the
// directories gobin.Dirs lists).
//
// Each one left is a package of format "file" named by its path on the host (title
// file:/opt/acme/bin/acmectl). Its version is the one the binary declares: a Go binary's main
// module version, else the version of an ELF package metadata note (.note.package, systemd's
// specification); else the first 12 hex digits of its SHA-256, "sha256:0123456789ab", so that
// the version changes whenever the content does. A file that was not hashed (over the size
// cap, or left for the next pass when the pass's hash budget is spent, or unreadable) has
// "unhashed:<size>:<mtime in Unix nanoseconds>" instead, which changes whenever a write does.
//
// Hashing is bounded: at most MaxHashBytes per pass, no file over MaxHashFile, and a file
// whose device, inode, size, modification and change times are those of a file hashed
// before is not read again. That cache is kept in memory and, when the source has a state
// directory, in files-digests.json there, so that an agent restarted on an unchanged host
// hashes nothing.
//
// It watches where software is dropped by hand (/usr/local/bin, /usr/local/sbin, and the top
// of /usr/local, /opt and /srv), the administrator's unit directory, and the package
// databases, so that a binary copied into place, a new service, or a package that takes a
// file over is seen within seconds; deeper changes are seen at the next inventory pass.
package files

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/gobin"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const sourceFormat = "file"

// The defaults of Options.
const (
	DefaultMaxVisit     = 50000
	DefaultMaxDirSize   = 10000
	DefaultMaxDepth     = 6
	DefaultMaxHashBytes = 512 << 20
	DefaultMaxHashFile  = 256 << 20
)

// Options configure a Source; zero values take the defaults.
type Options struct {
	Root hostfs.Root
	// StateDir keeps the hash cache across restarts; "" keeps it in memory only.
	StateDir string
	// MaxVisit bounds the directory entries the walk visits per walk root and pass.
	MaxVisit int
	// MaxDirSize bounds the entries read of one directory: a directory of more is data (a
	// cache, a mail spool, an upload area), not where software is installed, and the walk
	// goes on with its siblings.
	MaxDirSize int
	// MaxDepth bounds how many directories below a walk root a file may be.
	MaxDepth int
	// MaxHashBytes bounds the bytes hashed per pass; MaxHashFile, which may not exceed it,
	// the size of a file hashed at all.
	MaxHashBytes, MaxHashFile int64
}

// Stats is what one pass did.
type Stats struct {
	Visited     int   // directory entries the walk visited
	Truncated   bool  // the walk of a root stopped at MaxVisit, or a directory at MaxDirSize
	CutShort    int   // walk roots and directories whose walk was stopped by a cap
	Candidates  int   // executables found, before the package databases were read
	Owned       int   // of them, listed by a package database
	HashedFiles int   // files hashed
	HashedBytes int64 // bytes hashed
	Cached      int   // files whose cached digest was used
	TooLarge    int   // files over MaxHashFile, not hashed
	Deferred    int   // files left for the next pass: the pass's hash budget was spent
	Unreadable  int   // files and directories that could not be opened or read
	// OwnedReused is set when the package databases were unchanged since the last pass and
	// what they said of every candidate was reused instead of read again.
	OwnedReused bool
}

// Source reads the executables no package owns.
type Source struct {
	root    hostfs.Root
	rootDir string
	opts    Options

	mu    sync.Mutex
	cache hashCache
	memo  ownedMemo
	hash  hasher
	pass  pass
	last  Stats
}

// pass is the state of one Collect.
type pass struct {
	stats   Stats
	skipped int
}

// New returns a files source.
func New(opts Options) *Source {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.MaxDirSize <= 0 {
		opts.MaxDirSize = DefaultMaxDirSize
	}
	if opts.MaxVisit <= 0 {
		opts.MaxVisit = DefaultMaxVisit
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxHashBytes <= 0 {
		opts.MaxHashBytes = DefaultMaxHashBytes
	}
	if opts.MaxHashFile <= 0 || opts.MaxHashFile > opts.MaxHashBytes {
		opts.MaxHashFile = min(DefaultMaxHashFile, opts.MaxHashBytes)
	}
	return &Source{root: opts.Root, rootDir: filepath.Clean(string(opts.Root)), opts: opts,
		cache: hashCache{dir: opts.StateDir}, memo: ownedMemo{dir: opts.StateDir}}
}

// watchPaths are the directories WatchPaths names, under the root.
var watchPaths = []string{"/usr/local", "/usr/local/bin", "/usr/local/sbin", "/opt", "/srv",
	"/etc/systemd/system", "/var/lib/dpkg", apkDBDir, pacmanLocal, "/var/lib/rpm", "/usr/lib/sysimage/rpm"}

// WatchPaths implements source.Watcher.
func (s *Source) WatchPaths() []string {
	out := make([]string, len(watchPaths))
	for i, p := range watchPaths {
		out[i] = s.root.Path(p)
	}
	return out
}

// Name implements source.Source.
func (*Source) Name() string { return "files" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// Stats returns what the last pass did.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Collect implements source.Source. The source is not present on a host that has none of
// the walk roots and no unit directory.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pass = pass{}
	var res source.Result
	cands := make(map[string]*candidate)
	present := s.walk(ctx, cands)
	targets, units := s.unitTargets()
	s.addTargets(targets, cands)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if !present && !units {
		return res, fmt.Errorf("files: %w", source.ErrNotPresent)
	}
	s.pass.stats.Candidates = len(cands)
	owned, err := s.owned(ctx, cands)
	if err != nil {
		return res, err
	}
	s.pass.stats.Owned = owned
	users := s.users()
	paths := make([]string, 0, len(cands))
	for p := range cands {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	goDirs := make(map[string]bool)
	for _, d := range gobin.Dirs(s.root) {
		goDirs[d] = true
	}
	s.cache.begin()
	names := make(map[string]bool, len(paths))
	for i, p := range paths {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		c := cands[p]
		m, ok := s.inspect(c)
		if !ok || goDirs[path.Dir(c.host)] && gobin.Reports(m.GoModule, m.GoPath) {
			continue // not an executable, or a Go binary the gobin source reports
		}
		if pkg, ok := s.pkg(c, m, users, names); ok {
			res.Software = append(res.Software, pkg)
		}
	}
	_ = s.cache.end() // a cache not written costs hashing again after a restart, no more
	slices.SortFunc(res.Software, model.ComparePackages)
	res.Skipped = s.pass.skipped + s.pass.stats.CutShort
	s.last = s.pass.stats
	return res, nil
}

// inspect returns what the content of c is; ok is false when c is not to be reported (a
// file named like an AppImage that is not one).
func (s *Source) inspect(c *candidate) (Meta, bool) {
	st := &s.pass.stats
	if c.st.Ino != 0 {
		if m, ok := s.cache.get(c.st.Key); ok {
			st.Cached++
			return m, c.exec || m.AppImage
		}
	}
	f, err := os.OpenFile(c.real, openFlags, 0)
	if err != nil {
		st.Unreadable++
		return Meta{}, c.exec
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		st.Unreadable++
		return Meta{}, false
	}
	c.st = statOf(fi) // what was opened, should it have changed since the walk
	var m Meta
	var isELF bool
	isELF, m.AppImage = magic(f)
	if !c.exec && !m.AppImage {
		return Meta{}, false
	}
	if isELF {
		declared(f, c.st.Size, &m)
	}
	switch size := c.st.Size; {
	case size > s.opts.MaxHashFile:
		m.TooLarge = true
		st.TooLarge++
	case st.HashedBytes+size > s.opts.MaxHashBytes:
		st.Deferred++
		return m, true // not cached: hashed by a later pass
	default:
		d, n, err := s.hash.hash(f, size)
		st.HashedBytes += n
		if err != nil {
			st.Unreadable++
			return m, true
		}
		st.HashedFiles++
		m.Digest = d
	}
	if c.st.Ino != 0 {
		s.cache.put(c.st.Key, m)
	}
	return m, true
}

// pkg makes the package of one file; ok is false when its path cannot be a package's name
// (too long once escaped, or escaping to another file's name), which is counted as skipped.
func (s *Source) pkg(c *candidate, m Meta, users map[uint32]string, names map[string]bool) (model.Package, bool) {
	name := protocol.CleanText(c.host, protocol.MaxFieldLen)
	if len(name) > protocol.MaxNameLen || names[name] {
		s.pass.skipped++
		return model.Package{}, false
	}
	names[name] = true
	p := model.Package{
		Source:        sourceFormat,
		Name:          name,
		Version:       version(m, c.st),
		InstallTime:   time.Unix(0, c.st.Mtime).UTC(),
		InstalledSize: uint64(max(c.st.Size, 0)),
		InstallInfo:   model.InstallInfo{Location: name, Digest: m.Digest},
	}
	if c.st.HasUID {
		u, ok := users[c.st.UID]
		if !ok {
			u = "uid:" + strconv.FormatUint(uint64(c.st.UID), 10)
		}
		p.User, p.InstalledBy, p.Evidence = u, u, "file-owner"
	}
	labels := map[string]string{}
	if m.AppImage {
		labels["appimage"] = "true"
	}
	if m.GoModule != "" {
		labels["go_module"] = m.GoModule
	}
	if n := m.Note; n != nil {
		for k, v := range map[string]string{"package_type": n.Type, "package_name": n.Name, "package_os_cpe": n.OSCPE} {
			if v != "" {
				labels[k] = v
			}
		}
	}
	var dropped int
	p.Labels, dropped = source.Labels(labels)
	s.pass.skipped += dropped
	return p, true
}

// version is what the binary declares, else its digest's prefix, else its size and time.
func version(m Meta, st fileStat) string {
	var v string
	switch {
	case m.GoVersion != "" && m.GoVersion != "(devel)":
		v = m.GoVersion
	case m.Note != nil && m.Note.Version != "":
		v = m.Note.Version
	case len(m.Digest) >= len("sha256:")+12:
		return m.Digest[:len("sha256:")+12]
	default:
		return "unhashed:" + strconv.FormatInt(st.Size, 10) + ":" + strconv.FormatInt(st.Mtime, 10)
	}
	return source.Text([]byte(v), protocol.MaxFieldLen)
}
