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
	waitFor(t, 10*time.Second, "a refused report", func() bool {
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
