//go:build linux

package reporter

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/internal/testutil/mddoc"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// TestMetricsDoc checks docs/metrics.md against the metrics of an agent built as onus-agent
// run builds it (Go and process collectors, inventory sources, reporter) after it enrolled
// with a real collector, reported, and noticed a package install: every family documented
// with its type and labels, and every documented one exposed.
func TestMetricsDoc(t *testing.T) {
	const secret = "docs-enroll-secret-0123456789"
	c := apptest.Start(t, app.Options{EnrollSecret: secret})

	root, state := copyRoot(t, "debian12"), t.TempDir()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: state, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, root, state, c.URL(), func(o *Options) {
		o.EnrollSecret, o.Inventory, o.Registerer = secret, inv, reg
	})
	waitFull(t, a)
	installDeb(t, root, "docs-tool", "1.0-1", time.Now().Add(-time.Second))
	wait.Until(t, 10*time.Second, "the install event", func() bool { return eventsSeen(a) > 0 })

	doc := mddoc.Read(t, "metrics.md")
	sec := doc.Find("onus-agent")
	if sec == nil {
		t.Fatalf("%s: no section about onus-agent", doc.Path)
	}
	mddoc.CheckMetrics(t, doc.Path, sec, reg)
}
