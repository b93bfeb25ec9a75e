package index_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/metrics"
)

// TestMetricsCardinality counts the series of the fleet metrics over synthetic fleets of
// growing size: the count must not grow with the hosts (no per-host label, OS families folded,
// unowned new software capped) and stays far under the 5,000 series budget of /metrics.
func TestMetricsCardinality(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var counts []int
	for _, hosts := range []int{2_000, 20_000} {
		if testing.Short() && hosts > 2_000 {
			continue
		}
		ix := index.SyntheticIndex(t, hosts, 5_000, 50, 40, now)
		f, err := metrics.New(metrics.Options{Index: ix, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(f)
		n, err := testutil.GatherAndCount(reg)
		if err != nil {
			t.Fatal(err)
		}
		newTitles, err := testutil.GatherAndCount(reg, "onus_software_unowned_new_info")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d hosts: %d series, %d of them unowned new software", hosts, n, newTitles)
		if newTitles != metrics.DefaultUnownedNewLimit {
			t.Errorf("%d hosts: %d onus_software_unowned_new_info series, want the cap of %d", hosts, newTitles, metrics.DefaultUnownedNewLimit)
		}
		if n >= 5_000 {
			t.Errorf("%d hosts: %d series, want under 5,000", hosts, n)
		}
		counts = append(counts, n)
	}
	if len(counts) == 2 && counts[1] != counts[0] {
		t.Errorf("series grow with the fleet: %d for 2,000 hosts, %d for 20,000", counts[0], counts[1])
	}
}
