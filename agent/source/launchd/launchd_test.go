//go:build unix

package launchd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollect(t *testing.T) {
	res, err := New("testdata/root").Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	type want struct{ state, user, program, kind, origin, runAtLoad, keepAlive string }
	wants := map[string]want{
		"alice/com.google.keystone.agent": {"enabled", "alice", "/Users/alice/Library/Google/GoogleSoftwareUpdate/GoogleSoftwareUpdate.bundle/Contents/Resources/GoogleSoftwareUpdateAgent.app/Contents/MacOS/GoogleSoftwareUpdateAgent", "agent", "user", "", ""},
		"alice/homebrew.mxcl.redis":       {"enabled", "alice", "/opt/homebrew/opt/redis/bin/redis-server", "agent", "user", "true", "true"},
		"bob/com.apple.Finder":            {"enabled", "bob", "/Users/bob/bin/finder-wrapper", "agent", "user", "", ""},
		"com.apple.Finder":                {"enabled", "", "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", "agent", "system", "", "conditional"},
		"com.apple.metadata.mds":          {"enabled", "", "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Support/mds", "daemon", "system", "true", "true"},
		"com.docker.vmnetd":               {"disabled", "", "/Library/PrivilegedHelperTools/com.docker.vmnetd", "daemon", "local", "true", "true"},
		"com.example.backup":              {"enabled", "_backup", "/usr/local/libexec/backup", "daemon", "local", "", ""},
		"com.hidden.updater":              {"enabled", "", "/Users/Shared/.updater/run", "agent", "local", "true", ""},
		"com.onus-project.onus-agent":     {"enabled", "", "/usr/local/bin/onus-agent", "daemon", "local", "true", "true"},
		"com.openssh.sshd":                {"enabled", "", "/usr/libexec/sshd-keygen-wrapper", "daemon", "system", "", ""},
	}
	if len(res.Services) != len(wants) || res.Skipped != 0 {
		t.Errorf("%d services, %d skipped; want %d, 0", len(res.Services), res.Skipped, len(wants))
	}
	for _, s := range res.Services {
		w, ok := wants[s.Name]
		l := s.Labels
		if !ok || s.Manager != "launchd" || s.UnitFileState != w.state || s.User != w.user || l["program"] != w.program ||
			l["kind"] != w.kind || l["origin"] != w.origin || l["run_at_load"] != w.runAtLoad || l["keep_alive"] != w.keepAlive {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if _, err := os.Stat(filepath.Join("testdata/root", s.Path)); err != nil {
			t.Errorf("%s: path %v", s.Name, err)
		}
	}
	accepted(t, res.Services)
}

// accepted fails t unless the collector accepts svcs as they are.
func accepted(t *testing.T, svcs []model.Service) {
	t.Helper()
	st := protocol.State{Host: model.Host{ID: "h"}, Services: slices.Clone(svcs)}
	protocol.CleanState(&st)
	protocol.Normalize(&st)
	if len(st.Services) != len(svcs) {
		t.Errorf("%d services, %d once normalized: two share a key", len(svcs), len(st.Services))
	}
	r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
	if err := protocol.Validate(&r); err != nil {
		t.Errorf("the collector would refuse these services: %v", err)
	}
}

// TestAgentJob checks the onus agent's own job, deploy/launchd, as launchd reads it.
func TestAgentJob(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/launchd/com.onus-project.onus-agent.plist")
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParseJob(b)
	if err != nil {
		t.Fatal(err)
	}
	if j.Label != "com.onus-project.onus-agent" || j.Program != "/usr/local/bin/onus-agent" || !j.RunAtLoad ||
		j.KeepAlive != "true" || j.Disabled || j.UserName != "root" {
		t.Errorf("%+v", j)
	}
	for _, s := range []string{"<string>run</string>", "<string>--config</string>", "<string>/usr/local/etc/onus/agent.yaml</string>",
		"<string>/Library/Logs/onus/onus-agent.log</string>"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("the job has no %s", s)
		}
	}
	fixture, err := os.ReadFile("testdata/root/Library/LaunchDaemons/com.onus-project.onus-agent.plist")
	if err != nil || !bytes.Equal(fixture, b) {
		t.Errorf("the fixture's copy of the job differs: run testdata/make.sh (%v)", err)
	}
}

// TestUserOverrides: a user's disabled.<uid>.plist, the uid owning the home, overrides that
// user's agents only; a malformed one is counted.
func TestUserOverrides(t *testing.T) {
	root := t.TempDir()
	for _, u := range []string{"alice", "bob"} {
		writeFile(t, filepath.Join(root, "Users", u, "Library/LaunchAgents/a.plist"), jobXML("com.a"))
	}
	writeFile(t, filepath.Join(root, "Library/LaunchAgents/a.plist"), jobXML("com.a"))
	db := filepath.Join(root, overridesDir)
	writeFile(t, filepath.Join(db, "disabled."+strconv.Itoa(os.Getuid())+".plist"),
		`<plist version="1.0"><dict><key>com.a</key><true/><key>com.b</key><string>x</string></dict></plist>`)
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, s := range res.Services {
		states[s.Name] = s.UnitFileState
	}
	// Both homes belong to the test's user: both agents disabled, the global one not.
	if states["alice/com.a"] != "disabled" || states["bob/com.a"] != "disabled" || states["com.a"] != "enabled" || res.Skipped != 0 {
		t.Errorf("%v, %d skipped", states, res.Skipped)
	}
	writeFile(t, filepath.Join(db, "disabled.plist"), "bplist00")
	if res, err := New(hostfs.Root(root)).Collect(context.Background()); err != nil || res.Skipped != 0 {
		// No daemon: the system domain's overrides are not read.
		t.Errorf("%v, %d skipped", err, res.Skipped)
	}
	writeFile(t, filepath.Join(root, "Library/LaunchDaemons/d.plist"), jobXML("com.d"))
	if res, err := New(hostfs.Root(root)).Collect(context.Background()); err != nil || res.Skipped != 1 {
		t.Errorf("%v, %d skipped, want the malformed disabled.plist", err, res.Skipped)
	}
}

func TestNotPresent(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	r := hostfs.Root("testdata/root")
	ps := New(r).WatchPaths()
	for _, p := range []string{"/System/Library/LaunchDaemons", "/Library/LaunchAgents", "/Users/alice/Library/LaunchAgents"} {
		if !slices.Contains(ps, r.Path(p)) {
			t.Errorf("%s not watched: %v", p, ps)
		}
	}
	if slices.Contains(ps, r.Path("/Users/Shared/Library/LaunchAgents")) {
		t.Error("/Users/Shared is watched")
	}
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const xmlJob = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>Label</key><string>%s</string><key>Program</key><string>/bin/x</string></dict></plist>`

func jobXML(label string) string { return strings.Replace(xmlJob, "%s", label, 1) }

// TestHostile: a job linked out of the root, a link loop, a FIFO, a sparse 100 MiB list, bad
// XML, a truncated binary list, a list that is not a dict, a job without a Label or with a
// label holding "/", and a second job of a label are skipped and counted.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "Library/LaunchDaemons")
	writeFile(t, filepath.Join(dir, "ok.plist"), jobXML("com.ok"))
	writeFile(t, filepath.Join(dir, "ok-again.plist"), jobXML("com.ok"))
	writeFile(t, filepath.Join(dir, "badxml.plist"), `<plist><dict><key>Label</key><string>x`)
	writeFile(t, filepath.Join(dir, "truncated.plist"), "bplist00\xd1\x01\x02")
	writeFile(t, filepath.Join(dir, "array.plist"), `<plist version="1.0"><array><string>Label</string></array></plist>`)
	writeFile(t, filepath.Join(dir, "nolabel.plist"), `<plist version="1.0"><dict><key>Program</key><string>/x</string></dict></plist>`)
	writeFile(t, filepath.Join(dir, "slash.plist"), jobXML("../../etc"))
	writeFile(t, filepath.Join(dir, "big.plist"), "")
	if err := os.Truncate(filepath.Join(dir, "big.plist"), 100<<20); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.plist"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.plist")
	writeFile(t, outside, jobXML("com.secret"))
	for link, target := range map[string]string{"out.plist": outside, "loop.plist": filepath.Join(dir, "loop.plist")} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	// A link inside the root is followed there.
	writeFile(t, filepath.Join(root, "opt/jobs/in.plist"), jobXML("com.in"))
	if err := os.Symlink("/opt/jobs/in.plist", filepath.Join(dir, "in.plist")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Services {
		got = append(got, s.Name)
	}
	// ok-again, badxml, truncated, array, nolabel, slash, big, fifo, out, loop.
	if want := []string{"com.in", "com.ok"}; !slices.Equal(got, want) || res.Skipped != 10 {
		t.Errorf("got %q, %d skipped; want %q, 10", got, res.Skipped, want)
	}
}

func FuzzParseJob(f *testing.F) {
	for _, p := range []string{"testdata/root/System/Library/LaunchDaemons/com.openssh.sshd.plist",
		"testdata/root/Users/alice/Library/LaunchAgents/homebrew.mxcl.redis.plist",
		"../../../deploy/launchd/com.onus-project.onus-agent.plist"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJob(b)
		if err != nil {
			return
		}
		if !validLabel(j.Label) || (j.KeepAlive != "" && j.KeepAlive != "true" && j.KeepAlive != "conditional") {
			t.Fatalf("%+v", j)
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	s := New("testdata/root")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
