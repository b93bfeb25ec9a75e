// Package e2e runs a real collector (embedded etcd, real HTTP) and a real agent reporting a
// fixture host root in one process, and changes the host's package database the way dpkg
// does.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

const (
	secret = "e2e-enroll-secret-0123456789"
	admin  = "e2e-admin-token-0123456789"
)

type collector struct {
	url  string
	addr string
	stop func()
}

func startCollector(t *testing.T, dataDir, addr string) *collector {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	reg := prometheus.NewRegistry()
	c, err := app.New(app.Options{ListenAddress: addr, InsecureHTTP: true, DataDir: dataDir, EnrollSecret: secret, AdminToken: admin,
		StatusFlushInterval: 100 * time.Millisecond, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	task := bg.Go(t, "collector", c.Run)
	task.Wait(c.Ready(), 30*time.Second)
	return &collector{url: "http://" + c.Addr(), addr: c.Addr(), stop: task.Stop}
}

func startAgent(t *testing.T, root, stateDir, url string) func() {
	t.Helper()
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reporter.New(reporter.Options{CollectorURL: url, InsecureHTTP: true, EnrollSecret: secret, StateDir: stateDir,
		Inventory: inv, HostRoot: hostfs.Root(root), HeartbeatInterval: time.Second, Debounce: 100 * time.Millisecond,
		LockWait: 2 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, HTTPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return bg.Go(t, "agent", r.Run).Stop
}

// copyRoot copies a fixture root, keeping modification times and symbolic links.
func copyRoot(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(out, info.ModTime(), info.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// dpkgInstall adds a package to the root's dpkg database the way dpkg does: the file list is
// written first, then status-new is written, synced, and renamed over status.
func dpkgInstall(t *testing.T, root, name, version string, at time.Time) {
	t.Helper()
	info := filepath.Join(root, "var/lib/dpkg/info", name+".list")
	if err := os.WriteFile(info, []byte("/.\n/usr/bin/"+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(info, at, at); err != nil {
		t.Fatal(err)
	}
	stanza := fmt.Sprintf("Package: %s\nStatus: install ok installed\nPriority: optional\nSection: utils\nInstalled-Size: 120\n"+
		"Maintainer: Nobody <nobody@example.com>\nArchitecture: amd64\nVersion: %s\nDescription: %s, installed by hand\n", name, version, name)
	rewriteStatus(t, root, func(s string) string { return strings.TrimRight(s, "\n") + "\n\n" + stanza })
}

// dpkgRemove removes a package's stanza the same way.
func dpkgRemove(t *testing.T, root, name string) {
	t.Helper()
	rewriteStatus(t, root, func(s string) string {
		var kept []string
		for _, st := range strings.Split(strings.TrimRight(s, "\n"), "\n\n") {
			if !strings.HasPrefix(st, "Package: "+name+"\n") {
				kept = append(kept, st)
			}
		}
		return strings.Join(kept, "\n\n") + "\n"
	})
	os.Remove(filepath.Join(root, "var/lib/dpkg/info", name+".list"))
}

func rewriteStatus(t *testing.T, root string, edit func(string) string) {
	t.Helper()
	dir := filepath.Join(root, "var/lib/dpkg")
	old, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "status-new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(edit(string(old))); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(filepath.Join(dir, "status-new"), filepath.Join(dir, "status")); err != nil {
		t.Fatal(err)
	}
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

func getHost(t *testing.T, url, id string) (*hostDetail, bool) {
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
	var d hostDetail
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d, true
}

// waitHost polls the collector until cond holds for the host, or fails after timeout.
func waitHost(t *testing.T, url, id string, timeout time.Duration, what string, cond func(*hostDetail) bool) *hostDetail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if d, ok := getHost(t, url, id); ok && cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			d, _ := getHost(t, url, id)
			t.Fatalf("after %s: %s never held; host: %+v", timeout, what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	root := copyRoot(t, fixture.Root(t, "debian12"))
	col := startCollector(t, t.TempDir(), "")
	startAgent(t, root, t.TempDir(), col.url)
	first := waitHost(t, col.url, hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	at := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	start := time.Now()
	dpkgInstall(t, root, "shadow-tool", "1.0-1", at)
	d := waitHost(t, col.url, hostID, 10*time.Second, "shadow-tool installed", func(d *hostDetail) bool { return has(d, "deb:shadow-tool") })
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
	root := copyRoot(t, fixture.Root(t, "debian12"))
	data := t.TempDir()
	col := startCollector(t, data, "")
	startAgent(t, root, t.TempDir(), col.url)
	waitHost(t, col.url, hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	col.stop()
	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	t2 := t1.Add(10 * time.Minute)
	dpkgInstall(t, root, "tool-one", "2.0-1", t1)
	time.Sleep(400 * time.Millisecond) // a separate change, noticed on its own
	dpkgRemove(t, root, "curl")
	time.Sleep(400 * time.Millisecond)
	dpkgInstall(t, root, "tool-two", "3.1-2", t2)
	dpkgRemove(t, root, "tool-one")
	time.Sleep(time.Second) // the agent notices the changes and journals them

	again := startCollector(t, data, col.addr)
	d := waitHost(t, again.url, hostID, 20*time.Second, "changes delivered", func(d *hostDetail) bool {
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
