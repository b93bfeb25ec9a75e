// Package macapps reads the applications installed on a macOS host: its application
// bundles, from their Info.plist, never running them.
//
// The source lists, under the host root, the bundles (directories named *.app) in
// /Applications and in /System/Applications, each with one level of folders below it
// (/Applications/Utilities/X.app), and in the Applications folder of each home of /Users
// (macOS keeps its accounts in Directory Services, not /etc/passwd: a home's user is its
// directory's name). A bundle is not searched for the bundles it holds (helpers,
// extensions): they repeat its bundle identifier. Each bundle's Contents/Info.plist, XML or
// binary, gives
//
//   - the name: CFBundleDisplayName, else CFBundleName, else CFBundleExecutable, else the
//     bundle's name without .app;
//   - the version: CFBundleShortVersionString, else CFBundleVersion, else "unknown";
//   - CFBundleIdentifier and LSMinimumSystemVersion;
//
// and Contents/_MASReceipt/receipt, when it exists (a directory and a regular file, no link),
// says the App Store installed it. A folder, bundle or Contents that is a link is followed
// inside the host root only; an Info.plist must be a regular file.
//
// Each bundle is a package of format "macapp" named after its bundle identifier (title
// macapp:com.apple.Safari), or after its name when it has none: the name as its summary,
// the bundle's path as its location, the home's user for one in ~/Applications, and as
// labels bundle_id, min_os and app_store ("true"). An application of /System/Applications,
// which macOS installs and updates itself, is part of the platform.
package macapps

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/plist"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "macapp"
	// MaxInfoPlist bounds one Info.plist: large applications' are tens of KiB.
	MaxInfoPlist = 1 << 20
	// MaxApps bounds the bundles read per pass; past it each bundle counts as skipped.
	MaxApps = 10000
	// MaxEntries bounds the entries listed in one folder.
	MaxEntries = 50000
	// MaxHomes bounds the homes of /Users read.
	MaxHomes = 1000
)

// Folder is one folder applications are installed in.
type Folder struct {
	Path     string // host path
	User     string // the home's user, for a home's Applications
	Platform bool   // macOS's own applications
}

// Source reads the application bundles of a macOS host.
type Source struct{ root hostfs.Root }

// New returns a macapps source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "macapps" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// Folders returns the folders the source lists: /Applications, /System/Applications, then
// each home's Applications.
func (s *Source) Folders() []Folder {
	out := []Folder{{Path: "/Applications"}, {Path: "/System/Applications", Platform: true}}
	for _, h := range Homes(s.root) {
		out = append(out, Folder{Path: h.Home + "/Applications", User: h.Name})
	}
	return out
}

// Home is a macOS home: a directory of /Users.
type Home struct{ Name, Home string }

// Homes returns the homes of /Users under root, in name order, at most MaxHomes: each
// directory but Shared (the folder every user shares) and hidden ones.
func Homes(root hostfs.Root) []Home {
	des, err := root.ReadDir("/Users")
	if err != nil {
		return nil
	}
	var out []Home
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") || name == "Shared" || len(out) >= MaxHomes {
			continue
		}
		if fi, err := root.Stat("/Users/" + name); err != nil || !fi.IsDir() {
			continue
		}
		out = append(out, Home{Name: source.Text([]byte(name), 256), Home: "/Users/" + name})
	}
	return out
}

// WatchPaths implements source.Watcher: the application folders.
func (s *Source) WatchPaths() []string {
	var out []string
	for _, f := range s.Folders() {
		out = append(out, s.root.Path(f.Path))
	}
	return out
}

// bundle is one application bundle found: its host path, its path under the root when the
// folders on the way were resolved without a link ("" when the bundle is a link, which
// Resolve follows), and its folder.
type bundle struct {
	path, real string
	folder     Folder
}

// Collect implements source.Source. A host without any of the application folders is not
// a macOS host: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	var bundles []bundle
	present := false
	for _, f := range s.Folders() {
		found, skipped, ok := s.list(f)
		present = present || ok
		res.Skipped += skipped
		bundles = append(bundles, found...)
	}
	if !present {
		return res, fmt.Errorf("macapps: %w", source.ErrNotPresent)
	}
	var pkgs []model.Package
	for i, b := range bundles {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		if i >= MaxApps {
			res.Skipped += len(bundles) - i
			break
		}
		p, skipped, ok := s.read(b)
		res.Skipped += skipped
		if ok {
			pkgs = append(pkgs, p)
		}
	}
	res.Software = source.MergeCopies(pkgs)
	return res, nil
}

// list returns the bundles of folder f and of its subfolders. ok is false when f does not
// exist. The folder is resolved once; a subfolder or bundle that is a link is resolved on
// its own, inside the root.
func (s *Source) list(f Folder) (found []bundle, skipped int, ok bool) {
	real, err := s.root.Resolve(f.Path)
	if err != nil {
		return nil, 0, true
	}
	des, err := os.ReadDir(real)
	if err != nil {
		return nil, 0, !hostfs.NotPresent(err)
	}
	for i, de := range des {
		if i >= MaxEntries || len(found) > MaxApps {
			skipped += len(des) - i
			break
		}
		p := f.Path + "/" + de.Name()
		if isBundle(de.Name()) {
			found = append(found, bundleOf(p, real, de, f))
			continue
		}
		if strings.HasPrefix(de.Name(), ".") || !de.IsDir() && de.Type()&fs.ModeSymlink == 0 {
			continue
		}
		subReal := real + "/" + de.Name()
		if !de.IsDir() {
			if subReal, err = s.root.Resolve(p); err != nil {
				continue
			}
		}
		sub, err := os.ReadDir(subReal)
		if err != nil {
			continue
		}
		for j, de := range sub {
			if j >= MaxEntries || len(found) > MaxApps {
				skipped += len(sub) - j
				break
			}
			if isBundle(de.Name()) {
				found = append(found, bundleOf(p+"/"+de.Name(), subReal, de, f))
			}
		}
	}
	return found, skipped, true
}

// bundleOf is the bundle of entry de at host path p, in the folder whose path under the root
// is dir.
func bundleOf(p, dir string, de fs.DirEntry, f Folder) bundle {
	b := bundle{path: p, folder: f}
	if de.IsDir() {
		b.real = dir + "/" + de.Name()
	}
	return b
}

func isBundle(name string) bool {
	return len(name) > len(".app") && strings.HasSuffix(name, ".app") && !strings.HasPrefix(name, ".")
}

// contents returns the path under the root of bundle b's Contents directory: below a bundle
// found without a link, Contents itself when it is no link either; else as Resolve finds it.
func (s *Source) contents(b bundle) (string, error) {
	if b.real != "" {
		c := b.real + "/Contents"
		if fi, err := os.Lstat(c); err == nil && fi.IsDir() {
			return c, nil
		}
	}
	return s.root.Resolve(b.path + "/Contents")
}

// read makes the package of one bundle. ok is false for a bundle without a readable
// Info.plist (a regular file: a link in its place is not followed), which counts as skipped.
func (s *Source) read(b bundle) (p model.Package, skipped int, ok bool) {
	contents, err := s.contents(b)
	if err != nil {
		return p, 1, false
	}
	raw, err := source.ReadRegular(contents+"/Info.plist", MaxInfoPlist)
	if err != nil {
		return p, 1, false
	}
	info, err := plist.DecodeDict(raw)
	if err != nil {
		return p, 1, false
	}
	app := AppOf(info, path.Base(b.path))
	app.AppStore = hasReceipt(contents)
	p, skipped = app.Package(b.path, b.folder)
	return p, skipped, true
}

// hasReceipt reports whether the Contents directory at real holds _MASReceipt/receipt, a
// directory and a regular file, neither a link.
func hasReceipt(real string) bool {
	fi, err := os.Lstat(real + "/_MASReceipt")
	if err != nil || !fi.IsDir() {
		return false
	}
	fi, err = os.Lstat(real + "/_MASReceipt/receipt")
	return err == nil && fi.Mode().IsRegular()
}

// App is what an Info.plist says of an application.
type App struct {
	Name, Version, BundleID, MinOS string
	AppStore                       bool
}

// AppOf reads an application's Info.plist; dir is the bundle's name (X.app).
func AppOf(info plist.Dict, dir string) App {
	a := App{
		Name:     first(info, "CFBundleDisplayName", "CFBundleName", "CFBundleExecutable"),
		Version:  first(info, "CFBundleShortVersionString", "CFBundleVersion"),
		BundleID: strings.TrimSpace(info.String("CFBundleIdentifier")),
		MinOS:    strings.TrimSpace(info.String("LSMinimumSystemVersion")),
	}
	if a.Name == "" {
		a.Name = strings.TrimSuffix(dir, ".app")
	}
	if a.Version == "" {
		a.Version = "unknown"
	}
	return a
}

// first returns the first of keys info holds a string of other than white space, trimmed.
func first(info plist.Dict, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(info.String(k)); v != "" {
			return v
		}
	}
	return ""
}

// Package makes the package of application a found at host path p in folder f; dropped
// counts the labels left out.
func (a App) Package(p string, f Folder) (model.Package, int) {
	name := a.BundleID
	if name == "" {
		name = a.Name
	}
	if name = source.Text([]byte(name), protocol.MaxNameLen); name == "" {
		name = source.Text([]byte(strings.TrimSuffix(path.Base(p), ".app")), protocol.MaxNameLen)
	}
	pkg := model.Package{
		Source:      sourceFormat,
		Name:        name,
		Version:     source.Text([]byte(a.Version), protocol.MaxFieldLen),
		PackageInfo: model.PackageInfo{Summary: source.Text([]byte(a.Name), protocol.MaxFieldLen)},
		InstallInfo: model.InstallInfo{
			Location: source.Text([]byte(p), protocol.MaxFieldLen),
			User:     f.User,
			Platform: f.Platform,
		},
	}
	labels := map[string]string{}
	if a.BundleID != "" {
		labels["bundle_id"] = a.BundleID
	}
	if a.MinOS != "" {
		labels["min_os"] = a.MinOS
	}
	if a.AppStore {
		labels["app_store"] = "true"
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	return pkg, dropped
}
