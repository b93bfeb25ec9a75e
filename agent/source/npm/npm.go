// Package npm reads the Node.js packages installed globally with npm (`npm install -g`).
//
// npm installs a global package into <prefix>/lib/node_modules/<name> (a scoped one into
// <prefix>/lib/node_modules/@scope/<name>), its package.json as published. The source lists,
// under the host root, the node_modules directories of the prefixes where npm and the Node
// version managers put them: /usr/lib/node_modules (a Node installed with prefix /usr, as
// NodeSource's packages are), /usr/local/lib/node_modules (npm's default prefix elsewhere),
// /opt/*/lib/node_modules (Node unpacked into /opt), nvm's /usr/local/nvm/versions/node/*;
// in each home of /etc/passwd (root's included) nvm's ~/.nvm/versions/node/*, fnm's
// ~/.local/share/fnm/node-versions/*/installation and ~/.fnm/node-versions/*/installation,
// volta's ~/.volta/tools/image/packages/<name>, ~/.npm-global and ~/.local; and the prefix
// a `prefix=` line of /etc/npmrc, /usr/etc/npmrc, /usr/local/etc/npmrc or a home's ~/.npmrc
// sets. Debian's node-* packages put their modules into /usr/share/nodejs and
// /usr/lib/nodejs (and /usr/lib/<triplet>/nodejs): those are dpkg's software and are not read.
//
// Each top-level package there is a package of format "npm" named as npm names it (title
// npm:typescript, npm:@angular/cli), explicitly requested (a global install is asked for;
// the dependencies nested below it are not read): its version, description, license, its
// directory as the location and that directory's modification time as the install time, the
// home's account as the user, and as labels the commands it installs (bins), its repository,
// the Node version of an nvm or fnm prefix (node_version) and, for a package `npm link`
// linked into the prefix, the directory the link leads to (link), resolved inside the host
// root. npm and corepack, which come with Node itself, are part of the platform.
package npm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "npm"
	// MaxManifest bounds one package.json: a published one is a few KiB.
	MaxManifest = 1 << 20
	// MaxNpmrc bounds one npmrc.
	MaxNpmrc = 64 << 10
	// MaxPrefixes bounds the prefixes read per pass, MaxPackages the package directories.
	MaxPrefixes = 256
	MaxPackages = 50000
	modules     = "lib/node_modules"
)

// A prefixPattern is where prefixes are: a path (relative to a home for the per-user ones)
// whose elements are path.Match patterns; the element at nodeAt, when >= 0, is the version
// of Node the prefix belongs to.
type prefixPattern struct {
	pattern string
	nodeAt  int
}

var systemPrefixes = []prefixPattern{
	{"usr", -1},
	{"usr/local", -1},
	{"opt/*", -1},
	{"usr/local/nvm/versions/node/*", 5},
}

var homePrefixes = []prefixPattern{
	{".nvm/versions/node/*", 3},
	{".local/share/fnm/node-versions/*/installation", 4},
	{".fnm/node-versions/*/installation", 2},
	{".volta/tools/image/packages/*", -1},
	{".volta/tools/image/packages/@*/*", -1},
	{".npm-global", -1},
	{".local", -1},
}

// systemNpmrcs are the global npmrc files whose prefix is read.
var systemNpmrcs = []string{"/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc"}

// debianDirs hold the modules of Debian's node-* packages, which dpkg reports.
var debianDirs = []string{"/usr/share/nodejs", "/usr/lib/nodejs", "/usr/lib/*/nodejs"}

// bundled are the packages that come with Node itself.
var bundled = []string{"npm", "corepack"}

// Source reads the packages npm installed globally.
type Source struct{ root hostfs.Root }

// New returns an npm source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "npm" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// prefix is one node_modules directory: its host path, real path under the root, the account
// whose home it is in and the Node version it belongs to.
type prefix struct{ host, real, user, node string }

// prefixes returns the node_modules directories that exist, each once (the first naming
// it), at most MaxPrefixes.
func (s *Source) prefixes(ctx context.Context) []prefix {
	var out []prefix
	seen := map[string]bool{}
	debian := s.debianDirs()
	add := func(p prefix) {
		p.host = path.Clean(p.host + "/" + modules)
		real, err := s.realPath(p.host)
		if err != nil || len(out) >= MaxPrefixes || seen[real] || under(real, debian) {
			return
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return
		}
		p.real, seen[real] = real, true
		out = append(out, p)
	}
	expand := func(pp prefixPattern, base, user string) {
		for _, m := range source.ExpandDirs(s.root, base, strings.Split(pp.pattern, "/"), MaxPrefixes) {
			p := prefix{host: m, user: user}
			if pp.nodeAt >= 0 {
				p.node = strings.Split(strings.TrimPrefix(m, base+"/"), "/")[pp.nodeAt]
			}
			add(p)
		}
	}
	for _, pp := range systemPrefixes {
		expand(pp, "", "")
	}
	for _, f := range systemNpmrcs {
		if p := s.npmrcPrefix(f, ""); p != "" {
			add(prefix{host: p})
		}
	}
	for i, a := range source.Accounts(s.root) {
		if i%64 == 0 && ctx.Err() != nil {
			break
		}
		home := strings.TrimSuffix(a.Home, "/")
		for _, pp := range homePrefixes {
			expand(pp, home, a.Name)
		}
		if p := s.npmrcPrefix(home+"/.npmrc", home); p != "" {
			add(prefix{host: p, user: a.Name})
		}
	}
	return out
}

// npmrcPrefix returns the prefix an npmrc sets, as an absolute host path: "~/" and
// "${HOME}" are the home's (a system npmrc's are not known), any other variable unknown.
func (s *Source) npmrcPrefix(file, home string) string {
	real, err := s.root.Resolve(file)
	if err != nil {
		return ""
	}
	b, err := source.ReadRegular(real, MaxNpmrc)
	if err != nil {
		return ""
	}
	p := ParseNpmrc(b)
	if home != "" {
		if rest, ok := strings.CutPrefix(p, "~/"); ok || p == "~" {
			p = home + "/" + rest
		}
		p = strings.ReplaceAll(p, "${HOME}", home)
	}
	if !path.IsAbs(p) || strings.Contains(p, "${") {
		return ""
	}
	return path.Clean(p)
}

// debianDirs returns the real paths of Debian's module directories on the host.
func (s *Source) debianDirs() []string {
	var out []string
	for _, d := range debianDirs {
		for _, m := range source.ExpandDirs(s.root, "", strings.Split(strings.TrimPrefix(d, "/"), "/"), MaxPrefixes) {
			if real, err := s.realPath(m); err == nil {
				out = append(out, real)
			}
		}
	}
	return out
}

// under reports whether real is one of dirs or below one.
func under(real string, dirs []string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return real == d || strings.HasPrefix(real, d+"/") })
}

// realPath returns the path under the root of the host path p with every symbolic link
// resolved inside the root; on the host itself ("/"), the kernel's resolution.
func (s *Source) realPath(p string) (string, error) {
	if filepath.Clean(string(s.root)) == "/" {
		return filepath.EvalSymlinks(p)
	}
	return s.root.Resolve(p)
}

// WatchPaths implements source.Watcher: the system's node_modules directories and every one
// found when the agent starts, where npm adds and removes packages.
func (s *Source) WatchPaths() []string {
	out := []string{s.root.Path("/usr/lib/node_modules"), s.root.Path("/usr/local/lib/node_modules")}
	for _, p := range s.prefixes(context.Background()) {
		if hp := s.root.Path(p.host); !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	return out
}

// Collect implements source.Source. A host with none of the node_modules directories has no
// global npm packages: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	prefixes := s.prefixes(ctx)
	if len(prefixes) == 0 {
		return res, fmt.Errorf("npm: %w", source.ErrNotPresent)
	}
	r := reader{src: s, ctx: ctx}
	for _, p := range prefixes {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		r.readDir(p, p.real, "")
	}
	res.Software, res.Skipped = source.MergeCopies(r.pkgs), r.skipped
	return res, ctx.Err()
}

// reader is the state of one Collect.
type reader struct {
	src     *Source
	ctx     context.Context
	pkgs    []model.Package
	seen    int // package directories looked at
	skipped int
}

// readDir reads the packages of the node_modules directory real (of prefix p), or of one of
// its scopes (scope "@acme/"), in batches, at most MaxPackages of them per pass.
func (r *reader) readDir(p prefix, real, scope string) {
	f, err := os.Open(real)
	if err != nil {
		r.skipped++
		return
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(256)
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !e.IsDir() && e.Type()&os.ModeSymlink == 0 {
				continue // .bin, .package-lock.json, .staging; stray files
			}
			if scope == "" && strings.HasPrefix(name, "@") && e.IsDir() {
				r.readDir(p, real+"/"+name, name+"/")
				continue
			}
			if r.seen >= MaxPackages || r.seen%64 == 0 && r.ctx.Err() != nil {
				r.skipped++ // the rest of this directory is not read
				return
			}
			r.seen++
			if pkg, ok := r.read(p, real, scope+name, e); ok {
				r.pkgs = append(r.pkgs, pkg)
			} else {
				r.skipped++
			}
		}
		if err == io.EOF || len(entries) == 0 {
			return
		}
		if err != nil {
			r.skipped++
			return
		}
	}
}

// read makes the package of the directory or link e in node_modules; ok is false when it
// leads nowhere inside the root or holds no valid package.json.
func (r *reader) read(p prefix, real, dirName string, e os.DirEntry) (model.Package, bool) {
	fi, err := e.Info()
	if err != nil {
		return model.Package{}, false
	}
	host := p.host + "/" + dirName
	dir, link := real+"/"+e.Name(), ""
	if e.Type()&os.ModeSymlink != 0 {
		if dir, err = r.src.realPath(host); err != nil {
			return model.Package{}, false
		}
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			return model.Package{}, false
		}
		link = r.src.hostPath(dir)
	}
	b, err := source.ReadRegular(dir+"/package.json", MaxManifest)
	if err != nil {
		return model.Package{}, false
	}
	m, err := ParseManifest(b)
	if err != nil {
		return model.Package{}, false
	}
	pkg := model.Package{
		Source:      sourceFormat,
		Name:        m.Name,
		Version:     m.Version,
		InstallTime: fi.ModTime().UTC(),
		PackageInfo: model.PackageInfo{
			Summary: source.Text([]byte(m.Description), protocol.MaxFieldLen),
			License: source.Text([]byte(m.License), protocol.MaxFieldLen),
		},
		InstallInfo: model.InstallInfo{
			Location:  source.Text([]byte(host), protocol.MaxFieldLen),
			User:      p.user,
			Requested: model.RequestedExplicit,
		},
	}
	if slices.Contains(bundled, m.Name) {
		pkg.Platform, pkg.Requested = true, "" // comes with Node, asked for by no one
	}
	labels := map[string]string{}
	for k, v := range map[string]string{"node_version": p.node, "repository": m.Repository, "link": link,
		"bins": strings.Join(m.Bins, ",")} {
		if v != "" {
			labels[k] = v
		}
	}
	if m.Name != dirName {
		labels["installed_as"] = dirName // an alias: npm install -g name@npm:other
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	r.skipped += dropped
	return pkg, true
}

// hostPath returns the host path of real, a path under the root.
func (s *Source) hostPath(real string) string {
	root := filepath.Clean(string(s.root))
	if root == "/" {
		return real
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(real, root), "/")
}
