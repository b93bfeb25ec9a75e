//go:build linux

package reporter

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/testutil/wait"
)

// lockedBuffer is a log destination the reporter's goroutines and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRefusedReportCounted: reports the collector refuses as invalid are counted, timed and
// logged with the collector's reason, and the agent keeps trying (with backoff) until the
// collector accepts again.
func TestRefusedReportCounted(t *testing.T) {
	peer := newPeer(t)
	root, state := copyRoot(t, "debian12"), t.TempDir()
	var logs lockedBuffer
	a := startAgent(t, root, state, peer.URL(), func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	waitFull(t, a)
	if v := testutil.ToFloat64(a.r.m.lastRefused); v != 0 {
		t.Errorf("onus_agent_last_refused_timestamp_seconds = %v before any refusal", v)
	}
	const reason = "hash: the state hashes to 5c0e, not ee90"
	peer.mu.Lock()
	peer.refuse = reason
	peer.mu.Unlock()
	before := time.Now().Unix()
	installDeb(t, root, "htop", "3.2.2-2", time.Now().Add(-time.Minute))
	wait.Until(t, 10*time.Second, "a refused full report", func() bool {
		return testutil.ToFloat64(a.r.m.reports.WithLabelValues("full", "rejected")) > 0
	})
	if v := testutil.ToFloat64(a.r.m.lastRefused); v < float64(before) || v > float64(time.Now().Unix()) {
		t.Errorf("onus_agent_last_refused_timestamp_seconds = %v, want the time of the refusal (after %d)", v, before)
	}
	if n := testutil.ToFloat64(a.r.m.reports.WithLabelValues("delta", "rejected")); n != 1 {
		t.Errorf("%v refused deltas, want 1 (then full reports)", n)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "refused the report") {
			line = l
			break
		}
	}
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, reason) || !strings.Contains(line, "status=400") {
		t.Errorf("refusal log line %q, want an error with the status and the collector's reason", line)
	}

	peer.mu.Lock()
	peer.refuse = ""
	peer.mu.Unlock()
	wait.Until(t, 10*time.Second, "htop accepted once the collector accepts again", func() bool {
		st, _ := peer.state(debianHostID)
		return hasPackage(st, "htop", "3.2.2-2")
	})
}
