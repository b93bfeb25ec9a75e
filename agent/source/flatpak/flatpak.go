// Package flatpak reads the applications and runtimes flatpak installed on a host.
//
// A flatpak installation is a directory: the system's, /var/lib/flatpak; each user's,
// ~/.local/share/flatpak of each home in /etc/passwd; and those configured in
// /etc/flatpak/installations.d/*.conf ([Installation "id"] Path=...). In it each installed
// ref, <installation>/{app,runtime}/<id>/<arch>/<branch>, has a link "active" to the
// directory of its deployed commit, which holds the deploy data ("deploy", a GVariant of type
// (ssasta{sv}): the remote it came from, the commit, the installed size, and metadata such
// as the AppStream name, summary, version and license), the metadata key file ([Application]
// or [Runtime] name, runtime) and, under files/share/metainfo (or the older
// files/share/appdata), the AppStream metainfo file, read for the version where the deploy
// data has none. The remote's URL is read from the installation's repo/config.
//
// Each ref is a package of format "flatpak" named after its ID (title flatpak:org.gimp.GIMP,
// flatpak:org.freedesktop.Platform); runtimes are part of the platform. Links inside an
// installation (active, the app's current) are read as names of directories beside them,
// never followed elsewhere.
package flatpak

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const (
	sourceFormat = "flatpak"
	// SystemDir is the system installation; UserDir a home's, relative to it.
	SystemDir = "/var/lib/flatpak"
	UserDir   = ".local/share/flatpak"
	// InstallationsDir holds the configuration of further installations.
	InstallationsDir = "/etc/flatpak/installations.d"
	// MaxRefs bounds the refs read per pass, MaxEntries the entries listed per directory and
	// MaxInstallations the installations configured in InstallationsDir.
	MaxRefs          = 10000
	MaxEntries       = 10000
	MaxInstallations = 64
)

// Source reads the flatpak installations of a host.
type Source struct{ root hostfs.Root }

// New returns a flatpak source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "flatpak" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// installation is one flatpak installation: its host path, its name ("system", "user" or the
// configured ID) and, for a home's, the account.
type installation struct{ host, id, user string }

// installations returns the installations of the host, each path once; skipped counts the
// configuration files that could not be read.
func (s *Source) installations() (out []installation, skipped int) {
	seen := map[string]bool{}
	add := func(in installation) {
		if !seen[in.host] {
			seen[in.host] = true
			out = append(out, in)
		}
	}
	add(installation{host: SystemDir, id: "system"})
	extra, skipped := s.configured()
	for _, in := range extra {
		add(in)
	}
	for _, a := range source.Accounts(s.root) {
		add(installation{host: strings.TrimSuffix(a.Home, "/") + "/" + UserDir, id: "user", user: a.Name})
	}
	return out, skipped
}

// configured reads the installations of InstallationsDir/*.conf.
func (s *Source) configured() (out []installation, skipped int) {
	real, err := s.root.Resolve(InstallationsDir)
	if err != nil {
		return nil, 0
	}
	names, err := listDir(real, MaxInstallations, func(e os.DirEntry) bool {
		return e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".conf")
	})
	if err != nil {
		return nil, boolInt(!hostfs.NotPresent(err))
	}
	for _, n := range names {
		b, err := source.ReadRegular(real+"/"+n, MaxKeyFile)
		if err != nil {
			skipped++
			continue
		}
		kf, err := ParseKeyFile(b)
		if err != nil {
			skipped++
			continue
		}
		for _, g := range slices.Sorted(maps.Keys(kf)) {
			id, ok := strings.CutPrefix(g, `Installation "`)
			id, ok2 := strings.CutSuffix(id, `"`)
			if !ok || !ok2 {
				continue
			}
			p := kf.Get(g, "Path")
			if !path.IsAbs(p) || !validID(id) {
				skipped++
				continue
			}
			out = append(out, installation{host: path.Clean(p), id: id})
		}
	}
	return out, skipped
}

// WatchPaths implements source.Watcher: the app and runtime directories of each
// installation, where flatpak adds, replaces and removes refs.
func (s *Source) WatchPaths() []string {
	ins, _ := s.installations()
	var out []string
	for _, in := range ins {
		out = append(out, s.root.Path(in.host+"/app"), s.root.Path(in.host+"/runtime"))
	}
	return out
}

// Collect implements source.Source. A host with no installation directory is one flatpak
// installed nothing on: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	ins, skipped := s.installations()
	res.Skipped = skipped
	var pkgs []model.Package
	present := false
	budget := MaxRefs
	for _, in := range ins {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		real, err := s.root.Resolve(in.host)
		if err != nil {
			res.Skipped++
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		present = true
		r := reader{inst: in, real: real, remotes: remotes(real)}
		found, n := r.refs(ctx, &budget)
		pkgs = append(pkgs, found...)
		res.Skipped += n
	}
	if !present {
		return res, fmt.Errorf("flatpak: %w", source.ErrNotPresent)
	}
	res.Software = source.MergeCopies(pkgs)
	return res, ctx.Err()
}

// remotes returns the URL of each remote of the installation's repo/config.
func remotes(real string) map[string]string {
	p, ok := within(real, "repo/config")
	if !ok {
		return nil
	}
	b, err := source.ReadRegular(p, MaxKeyFile)
	if err != nil {
		return nil
	}
	kf, err := ParseKeyFile(b)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for g, keys := range kf {
		if name, ok := strings.CutPrefix(g, `remote "`); ok && strings.HasSuffix(name, `"`) {
			out[strings.TrimSuffix(name, `"`)] = keys["url"]
		}
	}
	return out
}

// listDir returns the sorted names of the entries of the directory real that keep accepts,
// reading at most MaxEntries entries.
func listDir(real string, max int, keep func(os.DirEntry) bool) ([]string, error) {
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(MaxEntries)
	if err != nil && len(des) == 0 {
		return nil, err
	}
	var out []string
	for _, e := range des {
		if keep(e) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

func isDir(e os.DirEntry) bool { return e.IsDir() }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
