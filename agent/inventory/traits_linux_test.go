package inventory

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
)

// TestLinuxSourceTraits pins what each Linux source says of itself: the package format it
// produces, the parts a failed read keeps, the locks its package manager holds. The agent
// knows these from the sources alone, so a source that stopped saying one would silently lose
// its carry-over or its lock wait.
func TestLinuxSourceTraits(t *testing.T) {
	root := t.TempDir()
	inv, err := New(Options{Root: hostfs.Root(root), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	under := func(p string) string { return filepath.Join(root, p) }
	want := map[string]source.Traits{
		"host": {Produces: source.PartHost},
		"dpkg": {PackageFormat: "deb", Locks: []source.Lock{
			{Path: under("/var/lib/dpkg/lock-frontend"), Fcntl: true}, {Path: under("/var/lib/dpkg/lock"), Fcntl: true}}},
		"rpm": {PackageFormat: "rpm", Locks: []source.Lock{
			{Path: under("/usr/lib/sysimage/rpm/.rpm.lock"), Fcntl: true}, {Path: under("/var/lib/rpm/.rpm.lock"), Fcntl: true}}},
		"apk":        {PackageFormat: "apk"},
		"pacman":     {PackageFormat: "pacman", Locks: []source.Lock{{Path: under("/var/lib/pacman/db.lck")}}},
		"systemd":    {ServiceManagers: []string{"systemd"}},
		"ports":      {Produces: source.PartListeners},
		"kmod":       {PackageFormat: "kmod"},
		"containers": {PackageFormat: "container-image", ServiceManagers: []string{"docker", "podman", "containerd"}},
		"files":      {PackageFormat: "file"},
		"gem":        {PackageFormat: "gem"},
		"cargo":      {PackageFormat: "cargo"},
		"gobin":      {PackageFormat: "go"},
		"pypi":       {PackageFormat: "pypi"},
		"npm":        {PackageFormat: "npm"},
		"snap":       {PackageFormat: "snap"},
		"flatpak":    {PackageFormat: "flatpak"},
		"brew":       {PackageFormat: "brew"},
		"brew-cask":  {PackageFormat: "brew-cask"},
	}
	got := inv.Traits()
	if len(got) != len(want) {
		t.Errorf("%d sources, want %d", len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[g.Name]
		if !ok {
			t.Errorf("source %q: pin its traits here", g.Name)
			continue
		}
		w.Name = g.Name
		if g.PackageFormat != w.PackageFormat || g.Produces != w.Produces || !slices.Equal(g.Locks, w.Locks) ||
			!slices.Equal(g.ServiceManagers, w.ServiceManagers) {
			t.Errorf("source %q says %+v, want %+v", g.Name, g, w)
		}
		// Every source produces something a failed read must keep.
		if g.PackageFormat == "" && g.Produces == 0 && len(g.ServiceManagers) == 0 {
			t.Errorf("source %q produces nothing a failed read keeps", g.Name)
		}
	}
}

// TestLinuxPackageFormatsHaveVersionOrder: the collector orders each package format's
// versions by the ordering registered for it in internal/protocol; a package source whose
// format has none would have its upgrades and downgrades told apart by the plain segment
// ordering instead of its package manager's.
func TestLinuxPackageFormatsHaveVersionOrder(t *testing.T) {
	inv, err := New(Options{Root: hostfs.Root(t.TempDir()), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range inv.Traits() {
		if s.PackageFormat == "" {
			continue
		}
		n++
		if _, ok := protocol.VersionOrder(s.PackageFormat); !ok {
			t.Errorf("source %q produces %q packages, which have no version ordering registered in protocol.CompareVersions", s.Name, s.PackageFormat)
		}
	}
	if n == 0 {
		t.Error("no package source in the Linux list")
	}
}
