//go:build linux

package reporter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/spool"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

const debianHostID = "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f"

// copyRoot copies a fixture root into a temporary directory that the test may change, with
// the modification times the fixture's tools recorded.
func copyRoot(t *testing.T, name string) string {
	t.Helper()
	src := fixture.Root(t, name)
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			dirs = append(dirs, rel)
			return nil
		}
		return keepMtime(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range slices.Backward(dirs) {
		if err := keepMtime(filepath.Join(src, rel), filepath.Join(dst, rel)); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func keepMtime(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// rewriteStatus changes dpkg's status file the way dpkg commits: it writes status-new,
// fsyncs it and renames it over status.
func rewriteStatus(t *testing.T, root string, edit func(string) string) {
	t.Helper()
	p := filepath.Join(root, "var/lib/dpkg/status")
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p + "-new")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(edit(string(old))); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+"-new", p); err != nil {
		t.Fatal(err)
	}
}

// installDeb installs a package in a fixture root as dpkg would: its file list (whose
// modification time is the install time dpkg keeps), then its status stanza.
func installDeb(t *testing.T, root, name, version string, when time.Time) {
	t.Helper()
	list := filepath.Join(root, "var/lib/dpkg/info", name+".list")
	if err := os.WriteFile(list, []byte("/.\n/usr/bin/"+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(list, when, when); err != nil {
		t.Fatal(err)
	}
	rewriteStatus(t, root, func(s string) string {
		s = dropStanza(s, name)
		return strings.TrimRight(s, "\n") + "\n\n" + fmt.Sprintf(`Package: %s
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 100
Maintainer: Test Maintainer <test@example.com>
Architecture: amd64
Version: %s
Description: %s, installed by a test
`, name, version, name)
	})
}

// removeDeb removes a package from a fixture root.
func removeDeb(t *testing.T, root, name string) {
	t.Helper()
	rewriteStatus(t, root, func(s string) string { return dropStanza(s, name) })
	os.Remove(filepath.Join(root, "var/lib/dpkg/info", name+".list"))
}

func dropStanza(s, name string) string {
	var keep []string
	for _, st := range strings.Split(strings.TrimRight(s, "\n"), "\n\n") {
		if !strings.HasPrefix(st, "Package: "+name+"\n") {
			keep = append(keep, st)
		}
	}
	return strings.Join(keep, "\n\n") + "\n"
}

type testAgent struct {
	r     *Reporter
	reg   *prometheus.Registry
	state string
	stop  func()
}

// startAgent runs a Reporter on root against url until the test ends or stop is called.
func startAgent(t *testing.T, root, state, url string, mod func(*Options)) *testAgent {
	t.Helper()
	a := newAgent(t, root, state, url, mod)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.r.Run(ctx) }()
	stopped := false
	a.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
	t.Cleanup(a.stop)
	return a
}

func newAgent(t *testing.T, root, state, url string, mod func(*Options)) *testAgent {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: state, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		CollectorURL:      url,
		InsecureHTTP:      true,
		EnrollSecret:      "s3cret",
		StateDir:          state,
		Inventory:         inv,
		HostRoot:          hostfs.Root(root),
		HeartbeatInterval: time.Hour,
		Debounce:          100 * time.Millisecond,
		LockWait:          5 * time.Second,
		BackoffMin:        20 * time.Millisecond,
		BackoffMax:        200 * time.Millisecond,
		HTTPTimeout:       5 * time.Second,
		Logger:            log,
		Registerer:        reg,
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testAgent{r: r, reg: reg, state: state}
}

// testWriter sends logs to the test's log, shown when it fails or with -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func hasPackage(st *protocol.State, name, version string) bool {
	return st != nil && slices.ContainsFunc(st.Software, func(p model.Package) bool { return p.Name == name && p.Version == version })
}

// agentAccepted counts the reports the agent saw accepted.
func agentAccepted(a *testAgent) float64 {
	n := 0.0
	for _, k := range []string{protocol.KindFull, protocol.KindDelta, protocol.KindHeartbeat} {
		n += testutil.ToFloat64(a.r.m.reports.WithLabelValues(k, "accepted")) + testutil.ToFloat64(a.r.m.reports.WithLabelValues(k, "duplicate"))
	}
	return n
}

// eventsSeen counts the software events the agent noticed.
func eventsSeen(a *testAgent) float64 {
	n := 0.0
	for _, typ := range []string{protocol.EventInstalled, protocol.EventRemoved, protocol.EventUpgraded, protocol.EventDowngraded} {
		n += testutil.ToFloat64(a.r.m.events.WithLabelValues(typ))
	}
	return n
}

// waitFull waits until the agent saw its first report accepted.
func waitFull(t *testing.T, a *testAgent) {
	t.Helper()
	wait.Until(t, 10*time.Second, "the full report", func() bool { return agentAccepted(a) > 0 })
}

func acceptedCount(p *conformantPeer) int {
	n := 0
	for _, r := range p.reports() {
		if r.status == "accepted" || r.status == "duplicate" {
			n++
		}
	}
	return n
}

func TestEnrollAndFullReport(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), filepath.Join(t.TempDir(), "state")
	a := startAgent(t, root, state, peer.URL(), nil)
	wait.Until(t, 10*time.Second, "the first report", func() bool {
		return testutil.ToFloat64(a.r.m.reports.WithLabelValues("full", "accepted")) > 0
	})

	rs := peer.reports()
	if got := kinds(rs); got[0] != "full:accepted" {
		t.Errorf("reports %v, want a full report first", got)
	}
	st, _ := peer.state(debianHostID)
	if st == nil || len(st.Software) != 19 || st.Host.Hostname != "web-01" {
		t.Fatalf("collector holds %+v", st)
	}
	fi, err := os.Stat(filepath.Join(state, spool.CredentialFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credential file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("state directory mode %v (%v), want no access for others", fi.Mode().Perm(), err)
	}
	a.stop()
	if v := testutil.ToFloat64(a.r.m.reports.WithLabelValues("full", "accepted")); v != 1 {
		t.Errorf("onus_agent_reports_total{kind=full,result=accepted} = %v", v)
	}
	if v := testutil.ToFloat64(a.r.m.enrollments.WithLabelValues("ok")); v != 1 {
		t.Errorf("onus_agent_enrollments_total{result=ok} = %v", v)
	}
	if v := testutil.ToFloat64(a.r.m.lastAccepted); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("onus_agent_last_accepted_timestamp_seconds = %v", v)
	}
	if n, err := testutil.GatherAndCount(a.reg, "onus_agent_report_duration_seconds"); err != nil || n != 1 {
		t.Errorf("report duration histogram: %d series, %v", n, err)
	}
}

// TestInstallReportedWithinSeconds installs a package the way dpkg does and expects a delta
// with an installed event, dated by the package's file list, within a few seconds.
func TestInstallReportedWithinSeconds(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), nil)
	waitFull(t, a)

	installedAt := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	start := time.Now()
	installDeb(t, root, "htop", "3.2.2-2", installedAt)
	wait.Until(t, 5*time.Second, "the install event", func() bool { return len(peer.allEvents()) > 0 })
	t.Logf("install reported %v after the status rename", time.Since(start))

	ev := peer.allEvents()
	want := protocol.Event{Type: protocol.EventInstalled, Source: "deb", Name: "htop", Arch: "amd64", Version: "3.2.2-2"}
	got := ev[0]
	got.Time, got.DetectedAt = time.Time{}, time.Time{}
	if len(ev) != 1 || got != want || !ev[0].Time.Equal(installedAt) {
		t.Errorf("events %+v, want %+v at %v", ev, want, installedAt)
	}
	rs := peer.reports()
	if k := kinds(rs); k[len(k)-1] != "delta:accepted" {
		t.Errorf("reports %v, want a delta last", k)
	}
	if st, _ := peer.state(debianHostID); !hasPackage(st, "htop", "3.2.2-2") {
		t.Error("the collector's state lacks the installed package")
	}
}

// TestLockWait holds dpkg's frontend lock the way apt does while dpkg runs: the change is
// reported only once the lock is released.
func TestLockWait(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), nil)
	waitFull(t, a)

	fd, err := unix.Open(filepath.Join(root, "var/lib/dpkg/lock-frontend"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if held, err := lockHeld(filepath.Join(root, "var/lib/dpkg/lock-frontend")); !held || err != nil {
		t.Fatalf("lockHeld = %v, %v with the lock taken", held, err)
	}
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Second))
	time.Sleep(800 * time.Millisecond) // well past the 100 ms debounce
	if ev := peer.allEvents(); len(ev) != 0 {
		t.Fatalf("reported %v while dpkg's lock was held", ev)
	}
	released := time.Now()
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "the install event", func() bool { return len(peer.allEvents()) == 1 })
	t.Logf("reported %v after the lock was released", time.Since(released))
}

// TestOutageLosesNothing keeps the collector unavailable (503, Retry-After) while packages
// are installed, upgraded and removed, then brings it back: every event arrives once, in
// order, with its time.
func TestOutageLosesNothing(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) { o.HeartbeatInterval = 300 * time.Millisecond })
	waitFull(t, a)

	peer.setDown(true)
	step := func(f func()) {
		n := eventsSeen(a)
		f()
		wait.Until(t, 5*time.Second, "the change noticed", func() bool { return eventsSeen(a) > n })
	}
	t1 := time.Now().Add(-time.Hour).Truncate(time.Second)
	t2 := t1.Add(10 * time.Minute)
	step(func() { installDeb(t, root, "htop", "3.2.2-2", t1) })
	step(func() { installDeb(t, root, "htop", "3.3.0-1", t2) })
	step(func() { installDeb(t, root, "jq", "1.6-2.1", t2.Add(time.Minute)) })
	step(func() { removeDeb(t, root, "sudo") })
	step(func() { removeDeb(t, root, "jq") })
	if got := testutil.ToFloat64(a.r.m.journal); got != 5 {
		t.Errorf("onus_agent_journal_events = %v during the outage, want 5", got)
	}
	if got := testutil.ToFloat64(a.r.m.reports.WithLabelValues("heartbeat", "unavailable")) +
		testutil.ToFloat64(a.r.m.reports.WithLabelValues("delta", "unavailable")); got == 0 {
		t.Error("no report was tried during the outage")
	}
	peer.setDown(false)
	wait.Until(t, 10*time.Second, "the events", func() bool { return len(peer.allEvents()) >= 5 })
	wait.Until(t, 5*time.Second, "an idle journal", func() bool { return testutil.ToFloat64(a.r.m.journal) == 0 })
	a.stop()

	var got []string
	for _, e := range peer.allEvents() {
		got = append(got, fmt.Sprintf("%s %s %s<-%s", e.Type, e.Name, e.Version, e.PreviousVersion))
	}
	want := []string{
		"installed htop 3.2.2-2<-", "upgraded htop 3.3.0-1<-3.2.2-2", "installed jq 1.6-2.1<-",
		"removed sudo 1.9.13p3-1+deb12u1<-", "removed jq 1.6-2.1<-",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ev := peer.allEvents()
	if !ev[0].Time.Equal(t1) || !ev[1].Time.Equal(t2) || !ev[2].Time.Equal(t2.Add(time.Minute)) {
		t.Errorf("event times %v %v %v, want the file lists' %v %v %v", ev[0].Time, ev[1].Time, ev[2].Time, t1, t2, t2.Add(time.Minute))
	}
	for i := 1; i < len(ev); i++ {
		if ev[i].DetectedAt.Before(ev[i-1].DetectedAt) {
			t.Errorf("events out of order: %+v before %+v", ev[i-1], ev[i])
		}
	}
	st, _ := peer.state(debianHostID)
	if !hasPackage(st, "htop", "3.3.0-1") || hasPackage(st, "sudo", "1.9.13p3-1+deb12u1") {
		t.Error("the collector's final state is not the host's")
	}
}

// TestLostAnswer: the collector processes a report but its answer is lost; the agent resends
// the same report, which the collector acknowledges as a duplicate: the events arrive once.
func TestLostAnswer(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), nil)
	waitFull(t, a)
	peer.mu.Lock()
	peer.loseAnswer = 1
	peer.mu.Unlock()
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Minute))
	wait.Until(t, 10*time.Second, "the duplicate", func() bool {
		return slices.Contains(kinds(peer.reports()), "delta:duplicate")
	})
	rs := peer.reports()
	if k := kinds(rs); !slices.Equal(k[len(k)-2:], []string{"delta:accepted", "delta:duplicate"}) ||
		rs[len(rs)-1].report.Seq != rs[len(rs)-2].report.Seq {
		t.Errorf("reports %v seqs %v, want the delta resent with its seq", k, seqs(rs))
	}
	if ev := peer.allEvents(); len(ev) != 1 {
		t.Errorf("events %+v, want the install once", ev)
	}
}

// TestRestartSendsDelta stops the agent, installs a package, and starts a new agent on the
// same state directory: it reports a delta against the state accepted before, with the
// install dated by dpkg's file list.
func TestRestartSendsDelta(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	a := startAgent(t, root, state, peer.URL(), nil)
	waitFull(t, a)
	a.stop()
	_, seq := peer.state(debianHostID)

	installedAt := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	installDeb(t, root, "htop", "3.2.2-2", installedAt)
	n := len(peer.reports())
	startAgent(t, root, state, peer.URL(), nil)
	wait.Until(t, 10*time.Second, "the report after the restart", func() bool { return acceptedCount(peer) > n })
	rs := peer.reports()[n:]
	if k := kinds(rs); k[0] != "delta:accepted" {
		t.Errorf("reports after the restart %v, want a delta", k)
	}
	if rs[0].report.Seq <= seq {
		t.Errorf("seq %d after the restart, not above %d", rs[0].report.Seq, seq)
	}
	ev := peer.allEvents()
	if len(ev) != 1 || ev[0].Name != "htop" || ev[0].Type != protocol.EventInstalled || !ev[0].Time.Equal(installedAt) {
		t.Errorf("events %+v, want htop installed at %v", ev, installedAt)
	}
	if peer.enrollCount() != 1 {
		t.Errorf("%d enrollments, want the credential kept", peer.enrollCount())
	}
}

// TestRestartResendsPending stops the agent while a report with events is in flight (the
// collector is down) and starts a new one: it resends that report as it was, same seq.
func TestRestartResendsPending(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	a := startAgent(t, root, state, peer.URL(), nil)
	waitFull(t, a)
	peer.setDown(true)
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Minute))
	wait.Until(t, 10*time.Second, "a refused delta", func() bool {
		return testutil.ToFloat64(a.r.m.reports.WithLabelValues("delta", "unavailable")) > 0
	})
	a.stop()
	p, err := spool.Open(spool.Options{Dir: state})
	if err != nil || p.Pending() == nil {
		t.Fatalf("no pending report saved (%v)", err)
	}
	pendingSeq := p.Pending().Report.Seq

	peer.setDown(false)
	startAgent(t, root, state, peer.URL(), nil)
	wait.Until(t, 10*time.Second, "the resent report", func() bool { return len(peer.allEvents()) > 0 })
	rs := peer.reports()
	first := slices.IndexFunc(rs, func(r received) bool { return r.status == "accepted" && r.report.Seq > 1 })
	if rs[first].report.Seq != pendingSeq || rs[first].report.Kind != protocol.KindDelta {
		t.Errorf("first report after the restart: %s seq %d, want the pending delta seq %d", rs[first].report.Kind, rs[first].report.Seq, pendingSeq)
	}
	if ev := peer.allEvents(); len(ev) != 1 {
		t.Errorf("events %+v, want one", ev)
	}
}

// TestLostSeq: the state directory lost everything but the credential; the collector's
// answer tells the agent where its sequence numbers stand, and it continues above them.
func TestLostSeq(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	fast := func(o *Options) { o.HeartbeatInterval = 100 * time.Millisecond }
	a := startAgent(t, root, state, peer.URL(), fast)
	wait.Until(t, 10*time.Second, "a few reports", func() bool { return agentAccepted(a) >= 4 })
	a.stop()
	_, seq := peer.state(debianHostID)
	for _, f := range []string{spool.SeqFile, spool.AcceptedFile, spool.BaseFile, spool.JournalFile} {
		os.Remove(filepath.Join(state, f))
	}
	startAgent(t, root, state, peer.URL(), fast)
	wait.Until(t, 10*time.Second, "a report above the old seqs", func() bool {
		_, s := peer.state(debianHostID)
		return s > seq
	})
	if k := kinds(peer.reports()); !slices.Contains(k, "full:duplicate") {
		t.Errorf("reports %v: want the restarted agent's full report taken as a duplicate", k)
	}
}

// TestNeedFull: the collector lost the host's state; the delta is answered need_full and the
// agent sends a full report with the same events.
func TestNeedFull(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), nil)
	waitFull(t, a)
	peer.forget(false)
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Minute))
	wait.Until(t, 10*time.Second, "the install event", func() bool { return len(peer.allEvents()) > 0 })
	k := kinds(peer.reports())
	if !slices.Equal(k, []string{"full:accepted", "delta:need_full", "full:accepted"}) {
		t.Errorf("reports %v", k)
	}
	if ev := peer.allEvents(); len(ev) != 1 || ev[0].Name != "htop" {
		t.Errorf("events %+v", ev)
	}
	if v := testutil.ToFloat64(a.r.m.reports.WithLabelValues("delta", "need_full")); v != 1 {
		t.Errorf("need_full counted %v times", v)
	}
}

// TestReenrollOn401: the collector lost the host and its credential; the agent enrolls again
// and sends a full report.
func TestReenrollOn401(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	a := startAgent(t, root, state, peer.URL(), nil)
	waitFull(t, a)
	old, _ := os.ReadFile(filepath.Join(state, spool.CredentialFile))
	peer.forget(true)
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Minute))
	wait.Until(t, 10*time.Second, "the install event", func() bool { return len(peer.allEvents()) > 0 })
	if n := peer.enrollCount(); n != 2 {
		t.Errorf("%d enrollments, want 2", n)
	}
	if k := kinds(peer.reports()); k[len(k)-1] != "full:accepted" {
		t.Errorf("reports %v, want a full report last", k)
	}
	if now, _ := os.ReadFile(filepath.Join(state, spool.CredentialFile)); string(now) == string(old) {
		t.Error("the credential file was not replaced")
	}
}

// TestWrongEnrollSecret: the agent keeps trying, with backoff, and reports nothing.
func TestWrongEnrollSecret(t *testing.T) {
	peer := newPeer(t)
	a := startAgent(t, copyRoot(t, "debian12"), t.TempDir(), peer.URL(), func(o *Options) { o.EnrollSecret = "wrong" })
	wait.Until(t, 5*time.Second, "two refused enrollments", func() bool {
		return testutil.ToFloat64(a.r.m.enrollments.WithLabelValues("401")) >= 2
	})
	if n := len(peer.reports()); n != 0 {
		t.Errorf("%d reports without a credential", n)
	}
}

// TestCorruptStateFiles starts an agent on a state directory whose files are garbage: they
// are moved aside, and the agent enrolls and sends a full report.
func TestCorruptStateFiles(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	a := startAgent(t, root, state, peer.URL(), nil)
	waitFull(t, a)
	a.stop()
	for _, f := range []string{spool.CredentialFile, spool.AcceptedFile, spool.BaseFile, spool.PendingFile, spool.SeqFile} {
		if err := os.WriteFile(filepath.Join(state, f), []byte("\x1f\x8b garbage {"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, spool.JournalFile), []byte("{\"id\":1,\"event\":{}}\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := len(peer.reports())
	startAgent(t, root, state, peer.URL(), nil)
	wait.Until(t, 10*time.Second, "the report after the restart", func() bool { return acceptedCount(peer) > n })
	rs := peer.reports()[n:]
	if rs[0].report.Kind != protocol.KindFull || len(rs[0].report.Events) != 0 {
		t.Errorf("first report %s with %d events, want a full one without events", rs[0].report.Kind, len(rs[0].report.Events))
	}
	for _, f := range []string{spool.CredentialFile, spool.AcceptedFile, spool.BaseFile, spool.PendingFile, spool.SeqFile, spool.JournalFile} {
		if _, err := os.Stat(filepath.Join(state, f+".corrupt")); err != nil {
			t.Errorf("%s not moved aside: %v", f, err)
		}
	}
	if peer.enrollCount() != 2 {
		t.Errorf("%d enrollments, want 2 (the credential was unreadable)", peer.enrollCount())
	}
}

// TestJournalBound keeps the collector down while more packages are installed than the
// journal holds: the report in flight when the outage began keeps its event (the collector
// may have it already), the newest events arrive, and the count of those dropped.
func TestJournalBound(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) { o.JournalMax = 3 })
	waitFull(t, a)
	peer.setDown(true)
	for i := range 5 {
		installDeb(t, root, fmt.Sprintf("pkg%d", i), "1.0-1", time.Now().Add(-time.Minute))
		wait.Until(t, 5*time.Second, "the install noticed", func() bool { return eventsSeen(a) > float64(i) })
	}
	if v := testutil.ToFloat64(a.r.m.dropped); v != 2 {
		t.Errorf("onus_agent_journal_dropped_events_total = %v, want 2", v)
	}
	peer.setDown(false)
	wait.Until(t, 10*time.Second, "the events", func() bool {
		st, _ := peer.state(debianHostID)
		return hasPackage(st, "pkg4", "1.0-1") && len(peer.allEvents()) > 0
	})
	var names []string
	dropped := 0
	for _, r := range peer.reports() {
		if r.status == "accepted" {
			dropped += r.report.EventsDropped
			for _, e := range r.report.Events {
				names = append(names, e.Name)
			}
		}
	}
	if dropped != 2 || !slices.Equal(names, []string{"pkg0", "pkg3", "pkg4"}) {
		t.Errorf("events %v with %d dropped; want pkg0, pkg3, pkg4 and 2 dropped", names, dropped)
	}
}

// TestFailedSourceKeepsItsPackages makes dpkg's database unreadable for a pass: its packages
// must not look removed.
func TestFailedSourceKeepsItsPackages(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), nil)
	waitFull(t, a)
	n := testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch"))
	rewriteStatus(t, root, func(s string) string { return "\x00" + s })
	wait.Until(t, 5*time.Second, "a collection", func() bool { return testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch")) > n })
	wait.Until(t, 5*time.Second, "the failed source reported", func() bool {
		st, _ := peer.state(debianHostID)
		return st != nil && sourceState(st, "dpkg") == "error"
	})
	st, _ := peer.state(debianHostID)
	if len(st.Software) != 19 {
		t.Errorf("%d packages while dpkg failed, want the 19 from before", len(st.Software))
	}
	rewriteStatus(t, root, func(s string) string { return strings.TrimPrefix(s, "\x00") })
	wait.Until(t, 5*time.Second, "dpkg back", func() bool {
		st, _ := peer.state(debianHostID)
		return st != nil && sourceState(st, "dpkg") == "ok"
	})
	if ev := peer.allEvents(); len(ev) != 0 {
		t.Errorf("events %+v from a failed read", ev)
	}
}

// TestHeartbeatOverTLS reports to an HTTPS collector whose CA comes from CAFile, and sends
// heartbeats with capacity figures while nothing changes.
func TestHeartbeatOverTLS(t *testing.T) {
	peer, ca := newTLSPeer(t)
	a := startAgent(t, copyRoot(t, "debian12"), t.TempDir(), peer.URL(), func(o *Options) {
		o.InsecureHTTP, o.CAFile, o.HeartbeatInterval = false, ca, 200*time.Millisecond
	})
	waitFull(t, a)
	wait.Until(t, 10*time.Second, "two heartbeats", func() bool {
		n := 0
		for _, r := range peer.reports() {
			if r.report.Kind == protocol.KindHeartbeat && r.status == "accepted" {
				n++
			}
		}
		return n >= 2
	})
	rs := peer.reports()
	hb := rs[len(rs)-1].report
	if hb.Hash != hb.BaseHash || hb.Capacity.CollectedAt.IsZero() || hb.Delta != nil || hb.State != nil {
		t.Errorf("heartbeat %+v", hb)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].report.Seq <= rs[i-1].report.Seq {
			t.Errorf("seq %d after %d", rs[i].report.Seq, rs[i-1].report.Seq)
		}
	}

	// Without the CA, the collector's certificate is not trusted.
	peer2, _ := newTLSPeer(t)
	a2 := startAgent(t, copyRoot(t, "debian12"), t.TempDir(), peer2.URL(), func(o *Options) { o.InsecureHTTP = false })
	wait.Until(t, 5*time.Second, "a failed enrollment", func() bool { return testutil.ToFloat64(a2.r.m.enrollments.WithLabelValues("error")) > 0 })
	if peer2.enrollCount() != 0 {
		t.Error("enrolled with an untrusted collector")
	}
}

// TestFullInterval: the safety net sends a full report again, without events or enrollment.
func TestFullInterval(t *testing.T) {
	peer := newPeer(t)
	a := startAgent(t, copyRoot(t, "debian12"), t.TempDir(), peer.URL(), func(o *Options) { o.FullInterval = 300 * time.Millisecond })
	waitFull(t, a)
	wait.Until(t, 10*time.Second, "a second full report", func() bool {
		return testutil.ToFloat64(a.r.m.reports.WithLabelValues("full", "accepted")) >= 2
	})
	if n := testutil.ToFloat64(a.r.m.passes.WithLabelValues("full")); n < 1 {
		t.Errorf("%v full passes", n)
	}
	if peer.enrollCount() != 1 || len(peer.allEvents()) != 0 {
		t.Errorf("%d enrollments, events %+v", peer.enrollCount(), peer.allEvents())
	}
}

func TestNewRefusesPlainHTTP(t *testing.T) {
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(fixture.Root(t, "debian12")), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	base := Options{CollectorURL: "http://127.0.0.1:1", EnrollSecret: "x", StateDir: t.TempDir(), Inventory: inv}
	if _, err := New(base); !errors.Is(err, ErrInsecureURL) {
		t.Errorf("New(http://) = %v, want ErrInsecureURL", err)
	}
	ok := base
	ok.InsecureHTTP = true
	if _, err := New(ok); err != nil {
		t.Errorf("New(http://, InsecureHTTP) = %v", err)
	}
	for name, mod := range map[string]func(*Options){
		"ftp":        func(o *Options) { o.CollectorURL = "ftp://x" },
		"no host":    func(o *Options) { o.CollectorURL = "https:///x" },
		"no secret":  func(o *Options) { o.EnrollSecret = "" },
		"no state":   func(o *Options) { o.StateDir = "" },
		"bad CA":     func(o *Options) { o.CollectorURL, o.CAFile = "https://x", "/does/not/exist" },
		"bad bounds": func(o *Options) { o.BackoffMin, o.BackoffMax = time.Minute, time.Second },
	} {
		o := ok
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}

func TestBackoff(t *testing.T) {
	r := &Reporter{opts: Options{BackoffMin: time.Second, BackoffMax: 5 * time.Minute}}
	for i := 1; i <= 20; i++ {
		d := r.backoff(0)
		ceiling := min(time.Second<<(i-1), 5*time.Minute)
		if d > ceiling {
			t.Errorf("attempt %d: %v over %v", i, d, ceiling)
		}
	}
	if d := r.backoff(7 * time.Minute); d < 7*time.Minute {
		t.Errorf("Retry-After 7m: waited %v", d)
	}
	if d := r.backoff(48 * time.Hour); d > maxRetryAfter {
		t.Errorf("Retry-After 48h: waited %v", d)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "junk": 0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
}

// TestBackoffMaxDefault: the retry delay is capped near the heartbeat interval unless set.
func TestBackoffMaxDefault(t *testing.T) {
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(fixture.Root(t, "debian12")), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name                string
		heartbeat, min, max time.Duration
		want                time.Duration
	}{
		{"default heartbeat", 0, 0, 0, DefaultHeartbeatInterval},
		{"long heartbeat", 24 * time.Hour, 0, 0, DefaultBackoffMax},
		{"heartbeat below the minimum", 100 * time.Millisecond, 0, 0, DefaultBackoffMin},
		{"set", time.Minute, 0, 10 * time.Minute, 10 * time.Minute},
	} {
		r, err := New(Options{CollectorURL: "http://127.0.0.1:1", InsecureHTTP: true, EnrollSecret: "x", StateDir: t.TempDir(), Inventory: inv,
			HeartbeatInterval: tt.heartbeat, BackoffMin: tt.min, BackoffMax: tt.max})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.opts.BackoffMax != tt.want {
			t.Errorf("%s: backoff maximum %v, want %v", tt.name, r.opts.BackoffMax, tt.want)
		}
	}
}

// TestBackoffSpread draws the retry delays of 100,000 agents that have all failed for a
// while (a collector outage) with a fixed seed: every delay is within the cap, and the
// agents' returns are spread uniformly over it (a chi-square test over one-second bins), not
// bunched.
func TestBackoffSpread(t *testing.T) {
	const (
		agents = 100_000
		lo, hi = time.Second, time.Minute
		bins   = 60
		// The chi-square quantile for 59 degrees of freedom at p = 0.999.
		critical = 98.4
	)
	rng := rand.New(rand.NewPCG(11, 2026))
	counts := make([]int, bins)
	var sum time.Duration
	for range agents {
		d := backoffDelay(rng.Int64N, 12, lo, hi, 0)
		if d < 10*time.Millisecond || d > hi {
			t.Fatalf("delay %v outside [10ms, %v]", d, hi)
		}
		counts[min(int(d/(hi/bins)), bins-1)]++
		sum += d
	}
	expected := float64(agents) / bins
	chi2, worst := 0.0, 0
	for _, c := range counts {
		chi2 += (float64(c) - expected) * (float64(c) - expected) / expected
		worst = max(worst, c)
	}
	if chi2 > critical {
		t.Errorf("chi-square %.1f over %v for a uniform spread; bins %v", chi2, critical, counts)
	}
	if float64(worst) > 1.15*expected {
		t.Errorf("%d agents return in one second, want about %.0f", worst, expected)
	}
	if mean := sum / agents; mean < hi/2-hi/100 || mean > hi/2+hi/100 {
		t.Errorf("mean delay %v, want about %v", mean, hi/2)
	}
	// Early attempts stay within their own, smaller window.
	for attempt := 1; attempt <= 6; attempt++ {
		ceiling := lo << (attempt - 1)
		for range 1000 {
			if d := backoffDelay(rng.Int64N, attempt, lo, hi, 0); d > ceiling {
				t.Fatalf("attempt %d: %v over %v", attempt, d, ceiling)
			}
		}
	}
	// Retry-After is a floor, and is itself bounded.
	if d := backoffDelay(rng.Int64N, 1, lo, hi, 7*time.Second); d < 7*time.Second {
		t.Errorf("Retry-After 7s: %v", d)
	}
}
