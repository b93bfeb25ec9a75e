package index_test

import (
	"fmt"
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

// BenchmarkScrape measures one scrape of the fleet metrics (what /metrics computes from the
// index under its read lock, plus encoding) over synthetic fleets: its cost grows with the
// hosts (capacity per owner, stale hosts, disk pressure walk every host) and the titles, not
// the series.
func BenchmarkScrape(b *testing.B) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, hosts := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			if testing.Short() && hosts > 10_000 {
				b.Skip("large fleet in -short mode")
			}
			ix := index.SyntheticIndex(b, hosts, 20_000, 300, 40, now)
			f, err := metrics.New(metrics.Options{Index: ix, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(f)
			b.ReportAllocs()
			var series int
			for b.Loop() {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				series = 0
				for _, mf := range mfs {
					series += len(mf.GetMetric())
				}
			}
			b.ReportMetric(float64(series), "series")
		})
	}
}
