// Package gem reads the Ruby gems installed on a host from their specifications.
//
// A gem directory (GEM_HOME) holds specifications/<name>-<version>[-<platform>].gemspec, the
// Ruby source RubyGems writes when it installs a gem. The source reads, under the host root,
// the gem directories of the system (/usr/lib/ruby/gems/*, Ruby's own; /var/lib/gems/*,
// where Debian's `gem install` puts gems; /usr/local/lib/ruby/gems/*, a Ruby built from
// source) and of each home in /etc/passwd (~/.gem/ruby/*, ~/.local/share/gem/ruby/*,
// rbenv's ~/.rbenv/versions/*/lib/ruby/gems/*, RVM's ~/.rvm/gems/*). Debian's own gem
// directories (/usr/share/rubygems-integration/*, /usr/lib/<triplet>/rubygems-integration/*,
// /usr/lib/<triplet>/ruby/gems/*) hold the gems of ruby-* packages, which the dpkg source
// reports: they are not read. Nor is Ruby's own directory, /usr/lib/ruby/gems/*, on a host
// with a package database: it is the distribution's ruby package's.
//
// Each specification is a package of format "gem" named after the gem (title gem:rails): its
// name, version, platform (the architecture, unless "ruby"), summary, licenses, authors and
// homepage are read from the assignments RubyGems writes, without evaluating any Ruby; the
// file name fills what they do not say. A default gem (specifications/default/), which ships
// with Ruby itself, is part of the platform.
package gem

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "gem"
	// MaxSpec bounds one specification: RubyGems' are a few KiB, a certificate chain and a
	// long description included.
	MaxSpec = 1 << 20
	// MaxGemDirs bounds the gem directories read per pass, MaxSpecs the specifications.
	MaxGemDirs = 256
	MaxSpecs   = 50000
)

// The kinds of gem directory, the label gem_dir_kind.
const (
	KindRuby   = "ruby"   // the Ruby installation's own, /usr/lib/ruby/gems/<ver>
	KindSystem = "system" // gem install as root: /var/lib/gems/<ver>, /usr/local/lib/ruby/gems/<ver>
	KindUser   = "user"   // gem install --user-install
	KindRbenv  = "rbenv"
	KindRVM    = "rvm"
)

// dirPattern is where gem directories are: a host path (relative to a home for the per-user
// ones) whose "*" elements match any directory.
type dirPattern struct{ pattern, kind string }

var systemDirs = []dirPattern{
	{"/usr/lib/ruby/gems/*", KindRuby},
	{"/var/lib/gems/*", KindSystem},
	{"/usr/local/lib/ruby/gems/*", KindSystem},
}

var userDirs = []dirPattern{
	{".gem/ruby/*", KindUser},
	{".local/share/gem/ruby/*", KindUser},
	{".rbenv/versions/*/lib/ruby/gems/*", KindRbenv},
	{".rvm/gems/*", KindRVM},
}

// Source reads the gems installed on a host.
type Source struct{ root hostfs.Root }

// New returns a gem source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "gem" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// WatchPaths implements source.Watcher: the directories holding the system's gem
// directories, and the specifications directory of every gem directory there is now.
func (s *Source) WatchPaths() []string {
	out := []string{s.root.Path("/var/lib/gems"), s.root.Path("/usr/local/lib/ruby/gems"), s.root.Path("/usr/lib/ruby/gems")}
	for _, d := range s.gemDirs(context.Background()) {
		out = append(out, s.root.Path(d.host+"/specifications"))
	}
	return out
}

// gemDir is one gem directory found on the host.
type gemDir struct {
	host, kind, user string
}

// gemDirs returns the gem directories that have a specifications directory, at most
// MaxGemDirs, in path order.
func (s *Source) gemDirs(ctx context.Context) []gemDir {
	var out []gemDir
	add := func(p dirPattern, base, user string) {
		for _, d := range source.ExpandDirs(s.root, base, strings.Split(p.pattern, "/"), MaxGemDirs) {
			if len(out) < MaxGemDirs && s.isDir(d+"/specifications") {
				out = append(out, gemDir{host: d, kind: p.kind, user: user})
			}
		}
	}
	distro := s.packageDatabase()
	for _, p := range systemDirs {
		if p.kind == KindRuby && distro {
			continue // the distribution's Ruby: its gems are its package's files
		}
		add(dirPattern{strings.TrimPrefix(p.pattern, "/"), p.kind}, "", "")
	}
	for i, a := range source.Accounts(s.root) {
		if i%64 == 0 && ctx.Err() != nil {
			break
		}
		for _, p := range userDirs {
			add(p, strings.TrimSuffix(a.Home, "/"), a.Name)
		}
	}
	slices.SortStableFunc(out, func(a, b gemDir) int { return strings.Compare(a.host, b.host) })
	return slices.CompactFunc(out, func(a, b gemDir) bool { return a.host == b.host })
}

// packageDatabases are the files of the package databases whose packages install Ruby in
// /usr/lib/ruby: where one exists, Ruby's own gem directory there holds the default and
// bundled gems of the distribution's ruby package (libruby3.1 on Debian, ruby-libs on Fedora),
// which that package database's source reports.
var packageDatabases = []string{"/var/lib/dpkg/status", "/lib/apk/db/installed", "/var/lib/pacman/local",
	"/var/lib/rpm", "/usr/lib/sysimage/rpm"}

func (s *Source) packageDatabase() bool {
	for _, p := range packageDatabases {
		if s.root.Exists(p) {
			return true
		}
	}
	return false
}

func (s *Source) isDir(p string) bool {
	fi, err := s.root.Stat(p)
	return err == nil && fi.IsDir()
}

// Collect implements source.Source. A host with no gem directory has no gems: the source is
// not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	dirs := s.gemDirs(ctx)
	if len(dirs) == 0 {
		return res, fmt.Errorf("gem: %w", source.ErrNotPresent)
	}
	r := reader{src: s, in: make(source.Interner)}
	for _, d := range dirs {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		r.readDir(ctx, d, "/specifications", false)
		r.readDir(ctx, d, "/specifications/default", true)
	}
	res.Software, res.Skipped = source.MergeCopies(r.pkgs), r.skipped
	return res, ctx.Err()
}

// reader is the state of one Collect.
type reader struct {
	src     *Source
	in      source.Interner
	pkgs    []model.Package
	skipped int
}

// readDir reads the specifications in dir (a path below the gem directory d).
func (r *reader) readDir(ctx context.Context, d gemDir, dir string, isDefault bool) {
	host := d.host + dir
	real, err := r.src.root.Resolve(host)
	if err != nil {
		return
	}
	entries, err := os.ReadDir(real)
	if err != nil {
		if !hostfs.NotPresent(err) {
			r.skipped++
		}
		return
	}
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return
		}
		full, ok := strings.CutSuffix(e.Name(), ".gemspec")
		if !ok || e.IsDir() {
			continue
		}
		if len(r.pkgs) >= MaxSpecs || !e.Type().IsRegular() {
			r.skipped++ // past the cap, or a link or special file named like a specification
			continue
		}
		p, ok := r.read(real+"/"+e.Name(), host+"/"+e.Name(), full, d)
		if !ok {
			r.skipped++
			continue
		}
		if isDefault {
			p.Platform = true
			p.Labels["default"] = "true"
		}
		var dropped int
		p.Labels, dropped = source.Labels(p.Labels)
		r.skipped += dropped
		r.pkgs = append(r.pkgs, p)
	}
}

// read makes the package of one specification; ok is false when it cannot be read or names
// no valid gem.
func (r *reader) read(real, host, full string, d gemDir) (model.Package, bool) {
	f, fi, err := source.OpenRegular(real)
	if err != nil {
		return model.Package{}, false
	}
	defer f.Close()
	if fi.Size() > MaxSpec {
		return model.Package{}, false
	}
	b, err := hostfs.ReadAll(f, host, MaxSpec)
	if err != nil {
		return model.Package{}, false
	}
	sp := ParseSpec(b)
	if n, v, pl, ok := SplitFullName(full); ok {
		if sp.Name == "" {
			sp.Name, sp.Platform = n, pl
		}
		if sp.Version == "" {
			sp.Version = v
		}
	}
	if !validName(sp.Name) || !validVersion(sp.Version) || (sp.Platform != "" && !validName(sp.Platform)) {
		return model.Package{}, false
	}
	p := model.Package{
		Source:      sourceFormat,
		Name:        sp.Name,
		Version:     sp.Version,
		InstallTime: fi.ModTime().UTC(),
		PackageInfo: model.PackageInfo{
			Summary:    source.Text([]byte(sp.Summary), protocol.MaxFieldLen),
			License:    r.in.String([]byte(strings.Join(sp.Licenses, ", ")), protocol.MaxFieldLen),
			Maintainer: source.Text([]byte(strings.Join(sp.Authors, ", ")), protocol.MaxFieldLen),
		},
		InstallInfo: model.InstallInfo{
			Location: source.Text([]byte(host), protocol.MaxFieldLen),
			User:     d.user,
		},
	}
	if sp.Platform != "ruby" {
		p.Arch = sp.Platform
	}
	p.Labels = map[string]string{"gem_dir": d.host, "gem_dir_kind": d.kind}
	if sp.Homepage != "" {
		p.Labels["homepage"] = sp.Homepage
	}
	return p, true
}

// validName checks a gem name or platform: RubyGems allows letters, digits, ".", "-" and "_".
func validName(s string) bool {
	if s == "" || len(s) > protocol.MaxNameLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validVersion checks a version as Gem::Version accepts it, loosely: a digit first, then
// letters, digits, "." and "-".
func validVersion(s string) bool {
	if s == "" || len(s) > 128 || s[0] < '0' || s[0] > '9' {
		return false
	}
	return validName(s) && !strings.Contains(s, "_")
}
