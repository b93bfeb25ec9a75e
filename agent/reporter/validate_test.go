//go:build linux

package reporter

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// versionless is a source with a bug: it returns a package without a version, which no
// cleaning can mend (a required field is structure).
type versionless struct{}

func (versionless) Name() string { return "versionless" }
func (versionless) Collect(context.Context) (source.Result, error) {
	return source.Result{Software: []model.Package{{Source: "deb", Name: "broken"}}}, nil
}

// TestInvalidReportCountedBeforeSending: a report the collector's validation refuses is
// counted and logged by the agent before it is sent, and sent all the same, so that the
// collector records the refusal.
func TestInvalidReportCountedBeforeSending(t *testing.T) {
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), Sources: []source.Source{
		host.New(host.Options{Root: hostfs.Root(root)}), versionless{}}})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, root, t.TempDir(), peer.URL(), func(o *Options) { o.Inventory = inv })
	wait.Until(t, 10*time.Second, "a refused report", func() bool {
		for _, r := range peer.reports() {
			if r.status == "400" {
				return true
			}
		}
		return false
	})
	if n := testutil.ToFloat64(a.r.m.invalid); n < 1 {
		t.Errorf("onus_agent_reports_invalid_total = %v, want the refused report counted before it was sent", n)
	}
}

// TestJournalEventsCleaned: events an older onus-agent journaled with raw text are cleaned
// and sent, not dropped; an event broken in its structure is still dropped.
func TestJournalEventsCleaned(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	evs := []protocol.Event{
		{Type: protocol.EventInstalled, Source: "deb", Name: "evil\x1b[31m", Version: "1.0\x7f", Time: now, DetectedAt: now},
		{Type: "exploded", Source: "deb", Name: "x", Version: "1", Time: now, DetectedAt: now},
	}
	ok, bad := validEvents(evs)
	if bad != 1 || len(ok) != 1 || ok[0].Name != `evil\x1b[31m` || ok[0].Version != `1.0\x7f` {
		t.Errorf("validEvents = %+v, %d bad; want the first cleaned and the second dropped", ok, bad)
	}
}
