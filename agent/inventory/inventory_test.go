//go:build linux

package inventory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// stable drops what a fixture root cannot pin: durations, the interfaces of the test's own
// network namespace and the statfs figures of the file system the fixture is checked out on.
func stable(inv *model.Inventory) {
	inv.Host.Interfaces = nil
	for i := range inv.Host.Filesystems {
		f := &inv.Host.Filesystems[i]
		f.TotalBytes, f.UsedBytes, f.FreeBytes = 0, 0, 0
	}
	for i := range inv.Sources {
		inv.Sources[i].Duration = 0
	}
}

// TestFixtureRoots runs the whole Linux inventory on each distribution's fixture root and
// compares it with the golden inventory beside the roots.
func TestFixtureRoots(t *testing.T) {
	roots := []struct {
		name     string
		software string // the source that must find packages there
	}{
		{"debian12", "dpkg"}, {"rocky9", "rpm"}, {"alpine3", "apk"}, {"arch", "pacman"},
		{"opensuse15", "rpm"}, {"centos7", "rpm"}, {"distroless", "dpkg"},
		// Every byte a local user or a package can put where the sources read: the golden
		// file shows each value as the sources escape it.
		{"hostile", "dpkg"},
	}
	for _, r := range roots {
		t.Run(r.name, func(t *testing.T) {
			inv, err := New(Options{Root: hostfs.Root(fixture.Root(t, r.name)), StateDir: t.TempDir(), Now: fixedNow,
				Labels: map[string]string{"env": "test"}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := inv.Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range out.Sources {
				if st.State == "error" && st.Name != "host" {
					t.Errorf("source %s failed on a clean fixture: %s", st.Name, st.Error)
				}
				if st.Name == r.software && (st.State != "ok" || st.Items == 0) {
					t.Errorf("source %s found nothing: %+v", st.Name, st)
				}
			}
			stable(out)
			if out.Host.IDSource == "generated" {
				out.Host.ID = "<generated>"
			}
			golden.AssertJSON(t, filepath.Join("testdata", r.name+".golden.json"), out)
		})
	}
}

// broken is a source whose database exists but cannot be read.
type broken struct{}

func (broken) Name() string { return "broken" }
func (broken) Collect(context.Context) (source.Result, error) {
	return source.Result{Skipped: 2}, errors.New("database is corrupt")
}

type absent struct{}

func (absent) Name() string { return "absent" }
func (absent) Collect(context.Context) (source.Result, error) {
	return source.Result{}, source.ErrNotPresent
}

type pkgs struct{ n int }

func (pkgs) Name() string { return "pkgs" }
func (p pkgs) Collect(context.Context) (source.Result, error) {
	var r source.Result
	for i := range p.n {
		r.Software = append(r.Software, model.Package{Source: "deb", Name: string(rune('z' - i)), Version: "1"})
	}
	return r, nil
}

// TestFailureIsolation: one failing source is reported and counted, the others still are.
func TestFailureIsolation(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	inv, err := New(Options{Root: hostfs.Root(t.TempDir()), Sources: []source.Source{broken{}, absent{}, pkgs{3}}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	out, err := inv.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Software) != 3 || out.Software[0].Name != "x" {
		t.Errorf("software = %+v, want 3 sorted packages", out.Software)
	}
	want := map[string]string{"broken": "error", "absent": "not_present", "pkgs": "ok"}
	for _, st := range out.Sources {
		if want[st.Name] != st.State {
			t.Errorf("%s: state %q, want %q", st.Name, st.State, want[st.Name])
		}
	}
	if got := testutil.ToFloat64(inv.success.WithLabelValues("broken")); got != 0 {
		t.Errorf("broken success = %v", got)
	}
	if got := testutil.ToFloat64(inv.present.WithLabelValues("absent")); got != 0 {
		t.Errorf("absent present = %v", got)
	}
	if got := testutil.ToFloat64(inv.skipped.WithLabelValues("broken")); got != 2 {
		t.Errorf("broken skipped = %v", got)
	}
	if got := testutil.ToFloat64(inv.items.WithLabelValues("pkgs")); got != 3 {
		t.Errorf("pkgs items = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 15 {
		t.Errorf("gathered %d series: %v", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestCorruptDatabaseOnRealRoot: a host whose rpm database is garbage still reports its dpkg
// packages, and names the rpm failure.
func TestCorruptDatabaseOnRealRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg", "var/lib/rpm"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.ReadFile(filepath.Join(fixture.Roots(t), "debian12/var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), st, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), []byte("SQLite format 3\x00 truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := New(Options{Root: hostfs.Root(root), StateDir: t.TempDir(), Only: []string{"dpkg", "rpm"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := inv.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Software) == 0 {
		t.Error("dpkg packages lost because rpm failed")
	}
	for _, s := range out.Sources {
		if s.Name == "rpm" && (s.State != "error" || !strings.Contains(s.Error, "rpm")) {
			t.Errorf("rpm status = %+v, want a clear error", s)
		}
	}
}

func TestUnknownSource(t *testing.T) {
	if _, err := New(Options{Only: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "dpkg") {
		t.Fatalf("err = %v, want the list of known sources", err)
	}
	if _, err := New(Options{Root: "/does/not/exist"}); err == nil {
		t.Fatal("a missing host root must be an error")
	}
}

// BenchmarkCollectLiveCold is one full inventory pass of the machine running the benchmark,
// by a new Inventory each time: nothing is cached.
func BenchmarkCollectLiveCold(b *testing.B) {
	state := b.TempDir()
	b.ReportAllocs()
	start := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op") }()
	for b.Loop() {
		inv, err := New(Options{Root: "/", StateDir: state})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inv.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectLive is a full inventory pass by a long-lived Inventory, as the agent's
// periodic rescans are: unchanged package databases come from the cache.
func BenchmarkCollectLive(b *testing.B) {
	start := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op") }()
	inv, err := New(Options{Root: "/", StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inv.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSourceLive times each source alone on this machine, built afresh each time.
func BenchmarkSourceLive(b *testing.B) {
	opts := SourceOptions{Root: "/", StateDir: b.TempDir()}
	for i, s := range Sources(opts) {
		b.Run(s.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Sources(opts)[i].Collect(context.Background())
			}
		})
	}
}

// cpuTime is the user and system CPU time this process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
