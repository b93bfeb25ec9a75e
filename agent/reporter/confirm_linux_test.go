//go:build linux

package reporter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// writeInPlace rewrites dpkg's status file the way a careless tool does, not the way dpkg
// commits: truncated and written in place, in two writes with a pause between them, so that
// a reader can catch it half-written.
func writeInPlace(t *testing.T, root string, content []byte, pause time.Duration) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(root, "var/lib/dpkg/status"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := len(content) / 2
	if _, err := f.Write(content[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	if _, err := f.Write(content[half:]); err != nil {
		t.Fatal(err)
	}
}

func doubtfulReads(a *testAgent, result string) float64 {
	return testutil.ToFloat64(a.r.m.doubtful.WithLabelValues("dpkg", result))
}

// TestHalfWrittenStatusIsNotHistory truncates dpkg's status file to half its size, lets the
// agent read it, and restores it before the read is confirmed: no event, the collector's
// state untouched.
func TestHalfWrittenStatusIsNotHistory(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) {
		o.Settle, o.HeartbeatInterval = 3*time.Second, 300*time.Millisecond
	})
	waitFull(t, a)
	status := filepath.Join(root, "var/lib/dpkg/status")
	content, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}

	n := testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch"))
	if err := os.WriteFile(status, content[:len(content)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 2*time.Second, "the half-written database read", func() bool { return testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch")) > n })
	if err := os.WriteFile(status, content, 0o644); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 2*time.Second, "the doubtful read discarded", func() bool { return doubtfulReads(a, "discarded") == 1 })
	// Heartbeats read the database meanwhile; past Settle, nothing may have come of it.
	time.Sleep(a.r.opts.Settle + time.Second)
	if ev := peer.allEvents(); len(ev) != 0 || eventsSeen(a) != 0 {
		t.Errorf("events %+v from a half-written database", ev)
	}
	if st, _ := peer.state(debianHostID); st == nil || len(st.Software) != 19 {
		t.Errorf("the collector holds %d packages, want the 19", len(st.Software))
	}
	if v := doubtfulReads(a, "confirmed"); v != 0 {
		t.Errorf("%v doubtful reads confirmed", v)
	}
}

// TestRewritesInPlaceAreNotHistory rewrites dpkg's status file in place 15 times with the
// same content, each time pausing half-way long enough for the agent to read it: no event.
func TestRewritesInPlaceAreNotHistory(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) { o.Settle = time.Second })
	waitFull(t, a)
	content, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	for range 15 {
		writeInPlace(t, root, content, 3*a.r.opts.Debounce)
		time.Sleep(2 * a.r.opts.Debounce)
	}
	time.Sleep(a.r.opts.Settle + time.Second)
	if ev := peer.allEvents(); len(ev) != 0 || eventsSeen(a) != 0 {
		t.Errorf("%v events noticed, %d delivered, from rewrites of identical content: %+v", eventsSeen(a), len(ev), ev)
	}
	if v := doubtfulReads(a, "discarded"); v == 0 {
		t.Error("no half-written read was caught: the test did not test anything")
	} else {
		t.Logf("%v half-written reads discarded", v)
	}
	if v := doubtfulReads(a, "confirmed"); v != 0 {
		t.Errorf("%v doubtful reads confirmed", v)
	}
}

// TestLargeRemovalConfirmed removes 6 of the 19 packages the way dpkg commits: the read is
// doubtful, confirmed by a second read once Settle has passed, and the six removals arrive.
func TestLargeRemovalConfirmed(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) { o.Settle = 500 * time.Millisecond })
	waitFull(t, a)
	gone := []string{"curl", "docker-ce", "grafana", "mariadb-server", "nginx", "postgresql-15"}
	start := time.Now()
	rewriteStatus(t, root, func(s string) string {
		for _, name := range gone {
			s = dropStanza(s, name)
		}
		return s
	})
	wait.Until(t, 10*time.Second, "the six removals", func() bool { return len(peer.allEvents()) >= len(gone) })
	t.Logf("removals reported %v after the database changed (settle %v)", time.Since(start).Round(time.Millisecond), a.r.opts.Settle)
	var got []string
	for _, e := range peer.allEvents() {
		if e.Type != protocol.EventRemoved {
			t.Errorf("event %+v", e)
		}
		got = append(got, e.Name)
	}
	if strings.Join(got, " ") != strings.Join(gone, " ") {
		t.Errorf("removed %v, want %v", got, gone)
	}
	if v := doubtfulReads(a, "confirmed"); v != 1 {
		t.Errorf("%v doubtful reads confirmed, want 1", v)
	}
	if st, _ := peer.state(debianHostID); st == nil || len(st.Software) != 19-len(gone) {
		t.Errorf("the collector's state lacks the removals")
	}
}
