// Package e2e runs a real collector (embedded etcd, real HTTP) and a real agent reporting a
// fixture host root in one process, and changes the host's package database the way dpkg
// does.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

const (
	secret = "e2e-enroll-secret-0123456789"
	admin  = "e2e-admin-token-0123456789"
)

// runCollector runs a collector with opts and the tests' secrets (host status flushed every
// 100 ms where unset) until the test ends or it is stopped.
func runCollector(t *testing.T, opts app.Options) *apptest.Collector {
	t.Helper()
	opts.EnrollSecret, opts.AdminToken = secret, admin
	if opts.StatusFlushInterval == 0 {
		opts.StatusFlushInterval = 100 * time.Millisecond
	}
	return apptest.Start(t, opts)
}

func startCollector(t *testing.T, dataDir, addr string) *apptest.Collector {
	t.Helper()
	return runCollector(t, app.Options{ListenAddress: addr, DataDir: dataDir})
}

// newReporter makes an agent reporting root (through sources; none: the platform's) to
// opts.CollectorURL, with opts.StateDir, the tests' enroll secret and, where unset, the short
// intervals these tests wait on.
func newReporter(t *testing.T, root string, opts reporter.Options, sources ...source.Source) *reporter.Reporter {
	t.Helper()
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: opts.StateDir, Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	opts.Inventory, opts.HostRoot, opts.EnrollSecret = inv, hostfs.Root(root), secret
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&opts.HeartbeatInterval, time.Second}, {&opts.Debounce, 100 * time.Millisecond}, {&opts.LockWait, 2 * time.Second},
		{&opts.BackoffMin, 50 * time.Millisecond}, {&opts.BackoffMax, 300 * time.Millisecond}, {&opts.HTTPTimeout, 5 * time.Second},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	r, err := reporter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func startAgent(t *testing.T, root, stateDir, url string) func() {
	t.Helper()
	r := newReporter(t, root, reporter.Options{CollectorURL: url, InsecureHTTP: true, StateDir: stateDir})
	return bg.Go(t, "agent", r.Run).Stop
}

type hostDetail struct {
	Hash     string `json:"hash"`
	Software []struct {
		Title       string    `json:"title"`
		Version     string    `json:"version"`
		Installed   bool      `json:"installed"`
		InstalledAt time.Time `json:"installed_at"`
	} `json:"software"`
	Events []protocol.Event `json:"events"`
}

// getHost reads a host's detail from the collector's API into a T (the part a test reads).
func getHost[T any](t *testing.T, url, id string) (*T, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/hosts/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, false
	}
	var d T
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d, true
}

// waitHost polls the collector until cond holds for the host, says how long it took, or
// fails after timeout.
func waitHost[T any](t *testing.T, url, id string, timeout time.Duration, what string, cond func(*T) bool) *T {
	t.Helper()
	var d *T
	took := wait.For(t, timeout, what, func() (bool, string) {
		var ok bool
		d, ok = getHost[T](t, url, id)
		return ok && cond(d), fmt.Sprintf("host: %+v", d)
	})
	t.Logf("%s after %s", what, took.Round(time.Millisecond))
	return d
}

func has(d *hostDetail, title string) bool {
	for _, s := range d.Software {
		if s.Title == title {
			return true
		}
	}
	return false
}

const hostID = "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f" // the debian12 fixture's machine-id

// TestInstallShowsUpInSeconds enrolls an agent on a Debian fixture root, installs a package
// the way dpkg does, and expects the collector to show it, as installed, within seconds.
func TestInstallShowsUpInSeconds(t *testing.T) {
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	col := startCollector(t, t.TempDir(), "")
	startAgent(t, root, t.TempDir(), col.URL())
	first := waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	at := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	start := time.Now()
	fixture.DpkgInstall(t, root, "shadow-tool", "1.0-1", at)
	d := waitHost(t, col.URL(), hostID, 10*time.Second, "shadow-tool installed", func(d *hostDetail) bool { return has(d, "deb:shadow-tool") })
	t.Logf("install visible in the collector after %s", time.Since(start).Round(time.Millisecond))
	if d.Hash == first.Hash || len(d.Software) != len(first.Software)+1 {
		t.Fatalf("after install: %d packages (was %d)", len(d.Software), len(first.Software))
	}
	for _, s := range d.Software {
		if s.Title == "deb:shadow-tool" && (!s.Installed || !s.InstalledAt.Equal(at)) {
			t.Fatalf("shadow-tool: installed %v at %s, want installed at %s", s.Installed, s.InstalledAt, at)
		}
	}
	if n := len(d.Events); n != 1 || d.Events[0].Type != protocol.EventInstalled || !d.Events[0].Time.Equal(at) {
		t.Fatalf("events: %+v", d.Events)
	}
}

// TestCollectorDownLosesNothing stops the collector, changes packages, restarts it, and
// expects every change to arrive with its original time.
func TestCollectorDownLosesNothing(t *testing.T) {
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	data := t.TempDir()
	col := startCollector(t, data, "")
	startAgent(t, root, t.TempDir(), col.URL())
	waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	col.Stop()
	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	t2 := t1.Add(10 * time.Minute)
	fixture.DpkgInstall(t, root, "tool-one", "2.0-1", t1)
	time.Sleep(400 * time.Millisecond) // a separate change, noticed on its own
	fixture.DpkgRemove(t, root, "curl")
	time.Sleep(400 * time.Millisecond)
	fixture.DpkgInstall(t, root, "tool-two", "3.1-2", t2)
	fixture.DpkgRemove(t, root, "tool-one")
	time.Sleep(time.Second) // the agent notices the changes and journals them

	again := startCollector(t, data, col.Addr())
	d := waitHost(t, again.URL(), hostID, 20*time.Second, "changes delivered", func(d *hostDetail) bool {
		return has(d, "deb:tool-two") && !has(d, "deb:curl") && !has(d, "deb:tool-one")
	})
	got := map[string]protocol.Event{}
	for _, e := range d.Events {
		got[e.Type+" "+e.Name] = e
	}
	for _, want := range []struct {
		key string
		at  time.Time
	}{{"installed tool-one", t1}, {"installed tool-two", t2}, {"removed curl", time.Time{}}} {
		e, ok := got[want.key]
		if !ok {
			t.Errorf("event %q missing; got %+v", want.key, d.Events)
			continue
		}
		if !want.at.IsZero() && !e.Time.Equal(want.at) {
			t.Errorf("%s at %s, want the database's install time %s", want.key, e.Time, want.at)
		}
	}
	if _, ok := got["removed tool-one"]; !ok {
		t.Errorf("tool-one's removal is missing: %+v", d.Events)
	}
}
