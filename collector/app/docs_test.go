package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// TestMetricsDoc checks docs/metrics.md against the metrics a real collector serves on
// /metrics (its own and the embedded etcd's) once it has enrolled hosts, taken full and
// delta reports with an install of unowned software, and applied an ownership registry:
// every family documented with its type and labels, and every documented one served.
func TestMetricsDoc(t *testing.T) {
	// An enroll secrets file, as serve passes one: its reload metrics are served too.
	secrets := filepath.Join(t.TempDir(), "enroll-secrets")
	if err := os.WriteFile(secrets, []byte("# rotation in progress\n"+secret+"\n"+secret+"-next\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{DataDir: t.TempDir(), EnrollSecretFile: secrets})
	for _, name := range []string{"debian12", "rocky9"} {
		inv := fixture.Golden(t, name)
		cred := enroll(t, c.url, inv.Host.ID)
		full, st := fullReport(inv, 1)
		report(t, c.url, cred, full)
		if name != "debian12" {
			continue
		}
		installedAt := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
		next := st
		next.Software = append(slices.Clone(st.Software), model.Package{Source: "deb", Name: "docs-shadow-tool", Version: "1.0-1", Arch: "amd64", InstallTime: installedAt})
		protocol.Normalize(&next)
		delta := &protocol.Report{HostID: inv.Host.ID, Seq: 2, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: full.Hash,
			Hash: protocol.Hash(&next), Delta: protocol.Diff(&st, &next), Events: protocol.Events(&st, &next, installedAt), Capacity: full.Capacity}
		if resp := report(t, c.url, cred, delta); resp.Status != protocol.StatusAccepted {
			t.Fatalf("delta: %+v", resp)
		}
		hb := &protocol.Report{HostID: inv.Host.ID, Seq: 3, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: delta.Hash, Hash: delta.Hash, Capacity: full.Capacity}
		report(t, c.url, cred, hb)
	}
	if code, body := do(t, "POST", c.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(testOwners)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	// The fleet metrics follow the index, which follows the store's watch.
	waitMetrics(t, gatherer(c), `onus_software_unowned_new_titles 1`, "onus_software_unowned_new_titles")

	doc := mddoc.Read(t, "metrics.md")
	sec := doc.Find("onus-collector")
	if sec == nil {
		t.Fatalf("%s: no section about onus-collector", doc.Path)
	}
	mddoc.CheckMetrics(t, doc.Path, sec, c.opts.Gatherer.(prometheus.Gatherers))
}
