// Package pypi reads the Python distributions installed on a host from their metadata.
//
// pip, uv and setuptools record each distribution they install in the site directory it
// went into: a <name>-<version>.dist-info directory whose METADATA holds its core metadata,
// with INSTALLER (the tool that installed it) and REQUESTED (present when it was asked for
// rather than pulled in as a dependency) beside it; or, from older tools, an egg-info
// directory with a PKG-INFO, or an egg-info file that is one. The source reads, under the
// host root, the site directories of the system (/usr/lib/python3*/site-packages and
// dist-packages, /usr/lib64/python3*/..., /usr/local/lib/python3*/... and
// /usr/local/lib64/python3*/site-packages, pipx's global /opt/pipx/venvs/*) and of each home
// in /etc/passwd (pip install --user's ~/.local/lib/python3*/site-packages; pyenv's
// ~/.pyenv/versions/*; pipx's ~/.local/share/pipx/venvs/* and the older ~/.local/pipx/venvs/*;
// uv's tools, ~/.local/share/uv/tools/*), never the virtual environments of project trees.
// In the distribution's own site directories, the metadata a package database lists is not
// read (see owned.go): it is the package database's software.
//
// Each distribution is a package of format "pypi" named as PEP 503 normalizes its name
// (title pypi:acme-tool-cli for Acme.Tool_CLI): its version, summary, the dist-info's path
// as the location and its modification time as the install time, the home's account as the
// user, whether it was requested, and as labels the installer, the kind of environment and
// the Python version of the site directory.
package pypi

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/files"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "pypi"
	// MaxMetadata bounds what is read of one METADATA or PKG-INFO: the headers take a few
	// KiB, the long description after them is not needed.
	MaxMetadata = 64 << 10
	// MaxSiteDirs bounds the site directories read per pass, MaxDists the distributions,
	// MaxEntries the entries listed in one site directory.
	MaxSiteDirs  = 1024
	MaxDists     = 50000
	MaxEntries   = 200000
	maxInstaller = 256
)

// The kinds of environment, the label environment.
const (
	KindSystem = "system" // the system's site directories
	KindUser   = "user"   // pip install --user
	KindPyenv  = "pyenv"
	KindPipx   = "pipx"
	KindUV     = "uv"
)

// sitePattern is where site directories are: a host path (relative to a home for the
// per-user ones) whose elements with "*" match directories by path.Match. distro marks the
// distribution's own; venv is the index of the element naming a pipx or uv virtual
// environment after its main distribution, or -1.
type sitePattern struct {
	pattern, kind string
	distro        bool
	venv          int
}

var systemSites = []sitePattern{
	{"usr/lib/python3*/site-packages", KindSystem, true, -1},
	{"usr/lib/python3*/dist-packages", KindSystem, true, -1},
	{"usr/lib64/python3*/site-packages", KindSystem, true, -1},
	{"usr/local/lib/python3*/site-packages", KindSystem, false, -1},
	{"usr/local/lib/python3*/dist-packages", KindSystem, false, -1},
	{"usr/local/lib64/python3*/site-packages", KindSystem, false, -1},
	{"opt/pipx/venvs/*/lib/python*/site-packages", KindPipx, false, 3},
}

var userSites = []sitePattern{
	{".local/lib/python3*/site-packages", KindUser, false, -1},
	{".pyenv/versions/*/lib/python*/site-packages", KindPyenv, false, -1},
	{".local/share/pipx/venvs/*/lib/python*/site-packages", KindPipx, false, 4},
	{".local/pipx/venvs/*/lib/python*/site-packages", KindPipx, false, 3},
	{".local/share/uv/tools/*/lib/python*/site-packages", KindUV, false, 4},
}

// Source reads the Python distributions installed on a host.
type Source struct {
	root     hostfs.Root
	stateDir string
	mu       sync.Mutex
	memo     struct {
		loaded bool
		stamp  string
		paths  map[string]bool
	}
}

// New returns a pypi source reading under root.
func New(root hostfs.Root) *Source { return NewWithState(root, "") }

// NewWithState returns a pypi source reading under root that keeps what the package
// databases list in the agent's state directory stateDir ("" keeps it in memory only).
func NewWithState(root hostfs.Root, stateDir string) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root, stateDir: stateDir}
}

// Name implements source.Source.
func (*Source) Name() string { return "pypi" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// WatchPaths implements source.Watcher: the directories holding the system's site
// directories, and every site directory there is now.
func (s *Source) WatchPaths() []string {
	out := []string{s.root.Path("/usr/local/lib"), s.root.Path("/usr/lib/python3")}
	for _, d := range s.siteDirs(context.Background()) {
		out = append(out, s.root.Path(d.host))
	}
	return out
}

// siteDir is one site directory found on the host.
type siteDir struct {
	host, kind, user string
	distro           bool
	main             string // the main distribution of a pipx or uv environment, normalized
	python           string // the Python version of its path, "3.11"
}

// siteDirs returns the site directories there are, at most MaxSiteDirs, in path order.
func (s *Source) siteDirs(ctx context.Context) []siteDir {
	var out []siteDir
	add := func(p sitePattern, base, user string) {
		elems := strings.Split(p.pattern, "/")
		for _, d := range source.ExpandDirs(s.root, base, elems, MaxSiteDirs) {
			if len(out) >= MaxSiteDirs || !s.isDir(d) {
				continue
			}
			sd := siteDir{host: d, kind: p.kind, user: user, distro: p.distro}
			rel := strings.Split(strings.TrimPrefix(d, base+"/"), "/")
			if p.venv >= 0 && p.venv < len(rel) {
				sd.main = NormalizeName(rel[p.venv])
			}
			if v, ok := strings.CutPrefix(rel[len(rel)-2], "python"); ok && v != "" {
				sd.python = v
			}
			out = append(out, sd)
		}
	}
	for _, p := range systemSites {
		add(p, "", "")
	}
	for i, a := range source.Accounts(s.root) {
		if i%64 == 0 && ctx.Err() != nil {
			break
		}
		for _, p := range userSites {
			add(p, strings.TrimSuffix(a.Home, "/"), a.Name)
		}
	}
	slices.SortStableFunc(out, func(a, b siteDir) int { return strings.Compare(a.host, b.host) })
	return slices.CompactFunc(out, func(a, b siteDir) bool { return a.host == b.host })
}

// users returns the user names of the host's /etc/passwd by uid.
func (s *Source) users() map[uint32]string {
	b, err := s.root.ReadFile("/etc/passwd", 16<<20)
	if err != nil {
		return nil
	}
	return files.ParsePasswd(b)
}

// userName names uid as the host's passwd file does, else "uid:1000".
func (r *reader) userName(uid uint32) string {
	if n, ok := r.users[uid]; ok {
		return n
	}
	return "uid:" + strconv.FormatUint(uint64(uid), 10)
}

func (s *Source) isDir(p string) bool {
	fi, err := s.root.Stat(p)
	return err == nil && fi.IsDir()
}

// Collect implements source.Source. A host with no site directory has no Python
// distributions: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	dirs := s.siteDirs(ctx)
	if len(dirs) == 0 {
		return res, fmt.Errorf("pypi: %w", source.ErrNotPresent)
	}
	r := reader{src: s, users: s.users()}
	if slices.ContainsFunc(dirs, func(d siteDir) bool { return d.distro }) {
		r.owned, r.skipped = s.owned(ctx)
	}
	for _, d := range dirs {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		r.readSite(ctx, d)
	}
	res.Software, res.Skipped = source.MergeCopies(r.pkgs), r.skipped
	return res, ctx.Err()
}

// reader is the state of one Collect.
type reader struct {
	src     *Source
	users   map[uint32]string
	owned   ownedSet
	pkgs    []model.Package
	skipped int
}

// metadataNames returns the names of the dist-info and egg-info entries of the site
// directory at real, in name order, listing at most MaxEntries entries.
func (r *reader) metadataNames(real string) []string {
	f, err := os.Open(real)
	if err != nil {
		if !hostfs.NotPresent(err) {
			r.skipped++
		}
		return nil
	}
	defer f.Close()
	var names []string
	for listed := 0; ; {
		entries, err := f.ReadDir(1024)
		for _, e := range entries {
			if n := e.Name(); strings.HasSuffix(n, ".dist-info") || strings.HasSuffix(n, ".egg-info") {
				names = append(names, n)
			}
		}
		listed += len(entries)
		if err != nil {
			break
		}
		if listed >= MaxEntries {
			r.skipped++ // the rest of an oversized directory
			break
		}
	}
	slices.Sort(names)
	return names
}

// readSite reads the distributions of one site directory.
func (r *reader) readSite(ctx context.Context, d siteDir) {
	real, err := r.src.root.Resolve(d.host)
	if err != nil {
		r.skipped++
		return
	}
	for i, name := range r.metadataNames(real) {
		if i%64 == 0 && ctx.Err() != nil {
			return
		}
		host := d.host + "/" + name
		if d.distro && r.owned.owns(host) {
			continue // a package database's software
		}
		if len(r.pkgs) >= MaxDists {
			r.skipped++
			continue
		}
		p, ok := r.read(real+"/"+name, host, d)
		if !ok {
			r.skipped++
			continue
		}
		r.pkgs = append(r.pkgs, p)
	}
}

// read makes the package of one dist-info or egg-info; ok is false when its metadata cannot
// be read or names no valid distribution.
func (r *reader) read(real, host string, d siteDir) (model.Package, bool) {
	fi, err := os.Lstat(real)
	if err != nil {
		return model.Package{}, false
	}
	meta, isDir := real, fi.IsDir()
	switch {
	case isDir && strings.HasSuffix(real, ".dist-info"):
		meta += "/METADATA"
	case isDir:
		meta += "/PKG-INFO"
	case !fi.Mode().IsRegular(): // a link or special file named like metadata
		return model.Package{}, false
	}
	b, err := readHeaders(meta)
	if err != nil {
		return model.Package{}, false
	}
	md := ParseMetadata(b)
	if !validName(md.Name) || !validVersion(md.Version) {
		return model.Package{}, false
	}
	p := model.Package{
		Source:      sourceFormat,
		Name:        NormalizeName(md.Name),
		Version:     md.Version,
		InstallTime: fi.ModTime().UTC(),
		PackageInfo: model.PackageInfo{Summary: source.Text([]byte(md.Summary), protocol.MaxFieldLen)},
		InstallInfo: model.InstallInfo{Location: source.Text([]byte(host), protocol.MaxFieldLen), User: d.user},
	}
	labels := map[string]string{"environment": d.kind}
	if d.python != "" {
		labels["python"] = d.python
	}
	if isDir {
		r.installInfo(&p, real, labels, d)
	}
	if p.InstalledBy == "" {
		if uid, ok := owner(fi); ok {
			p.InstalledBy, p.Evidence = r.userName(uid), cmp.Or(p.Evidence, "file-owner")
		}
	}
	var dropped int
	p.Labels, dropped = source.Labels(labels)
	r.skipped += dropped
	return p, true
}

// installInfo reads INSTALLER and REQUESTED beside the metadata: a distribution pip or uv
// installed is requested when REQUESTED is there, or when it is the main distribution of
// a pipx or uv environment, else a dependency.
func (r *reader) installInfo(p *model.Package, real string, labels map[string]string, d siteDir) {
	installer, hasInstaller := readInstaller(real + "/INSTALLER")
	if installer != "" {
		labels["installer"] = installer
	}
	_, err := os.Lstat(real + "/REQUESTED")
	requested := err == nil
	switch {
	case requested || d.main != "" && d.main == p.Name:
		p.Requested = model.RequestedExplicit
	case hasInstaller:
		p.Requested = model.RequestedDependency
	}
	if hasInstaller || requested {
		p.Evidence = "pip-installer"
	} else if p.Requested != "" {
		p.Evidence = d.kind + "-venv"
	}
}

// readHeaders reads the start of a metadata file, at most MaxMetadata bytes, and only its
// whole lines when the file goes on past them.
func readHeaders(real string) ([]byte, error) {
	f, fi, err := source.OpenRegular(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxMetadata))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) == MaxMetadata && fi.Size() > MaxMetadata {
		b = b[:bytes.LastIndexAny(b, "\r\n")+1]
	}
	return b, nil
}

// readInstaller returns the first line of an INSTALLER file ("pip", "uv"), and whether
// there is one.
func readInstaller(real string) (string, bool) {
	f, _, err := source.OpenRegular(real)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxInstaller))
	line, _, _ := strings.Cut(string(b), "\n")
	return source.Text([]byte(strings.TrimSpace(line)), protocol.MaxNameLen), true
}
