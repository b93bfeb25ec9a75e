package inventory

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

const macRoot = "testdata/macos14"

func macNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// TestMacOSRoot runs the inventory on a macOS root as `onus-agent inventory --host-root`
// does: the macOS sources run, none of the Linux ones, and the host is macOS 14.5.
func TestMacOSRoot(t *testing.T) {
	if !IsMacOS(macRoot) || IsMacOS(hostfs.Root(t.TempDir())) {
		t.Fatal("IsMacOS does not tell the macOS root")
	}
	inv, err := New(Options{Root: macRoot, StateDir: t.TempDir(), Now: macNow, Labels: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"host", "macapps", "pkgutil", "brew", "brew-cask", "launchd"}
	if got := inv.Sources(); !slices.Equal(got, want) {
		t.Errorf("sources %v, want %v", got, want)
	}
	out, err := inv.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range out.Sources {
		if st.State == "error" {
			t.Errorf("source %s failed: %s", st.Name, st.Error)
		}
		if (st.Name == "macapps" || st.Name == "pkgutil" || st.Name == "launchd") && (st.State != "ok" || st.Items == 0) {
			t.Errorf("source %s found nothing: %+v", st.Name, st)
		}
	}
	o := out.Host.OS
	if o.ID != "macos" || o.Family != "macos" || o.VersionID != "14.5" || o.PrettyName != "macOS 14.5 (23F79)" {
		t.Errorf("OS %+v", o)
	}
	if out.Host.Hostname != "mac-alice.example.com" || out.Host.IDSource != "generated" {
		t.Errorf("host %q, ID from %q", out.Host.Hostname, out.Host.IDSource)
	}
	for _, p := range out.Software {
		if p.Source != "macapp" && p.Source != "pkg" {
			t.Errorf("a package of format %q", p.Source)
		}
	}
	for i := range out.Sources {
		out.Sources[i].Duration = 0
	}
	out.Host.ID = "<generated>"
	golden.AssertJSON(t, filepath.Join("testdata", "macos14.golden.json"), out)
}

// TestMacOSSourceTraits pins what each macOS source says of itself, and that each package
// format has a version ordering.
func TestMacOSSourceTraits(t *testing.T) {
	inv, err := New(Options{Root: macRoot, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]source.Traits{
		"host":      {Produces: source.PartHost},
		"macapps":   {PackageFormat: "macapp"},
		"pkgutil":   {PackageFormat: "pkg"},
		"brew":      {PackageFormat: "brew"},
		"brew-cask": {PackageFormat: "brew-cask"},
		"launchd":   {ServiceManagers: []string{"launchd"}},
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
		if g.PackageFormat != w.PackageFormat || g.Produces != w.Produces || !slices.Equal(g.ServiceManagers, w.ServiceManagers) {
			t.Errorf("source %q says %+v, want %+v", g.Name, g, w)
		}
		if g.PackageFormat != "" {
			if _, ok := protocol.VersionOrder(g.PackageFormat); !ok {
				t.Errorf("source %q produces %q packages, which have no version ordering registered", g.Name, g.PackageFormat)
			}
		}
	}
}
