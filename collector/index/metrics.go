package index

import (
	"encoding/json"
	"strconv"

	"github.com/onus-project/onus/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events  prometheus.Counter
	relists prometheus.Counter
	lag     prometheus.Histogram
	resolve prometheus.Histogram
	gauges  []prometheus.Collector
}

func newMetrics(ix *Index) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "onus", Subsystem: "collector", Name: "watch_events_total",
			Help: "Store changes applied to the in-memory index from the etcd watch."}),
		relists: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "onus", Subsystem: "collector", Name: "index_relists_total",
			Help: "Times the index listed the store again after a compaction or a broken watch."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "onus", Subsystem: "collector", Name: "watch_lag_seconds",
			Help:    "Time from a write by this collector to its arrival on the etcd watch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		resolve: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "onus", Subsystem: "collector", Name: "ownership_resolve_duration_seconds",
			Help:    "Time to resolve the owner of every asset in the index after the ownership registry changed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: name, Help: help}, f)
	}
	m.gauges = []prometheus.Collector{
		gauge("index_revision", "The etcd revision the in-memory index reflects.", func() float64 { return float64(ix.Revision()) }),
		gauge("index_hosts", "Hosts in the in-memory index.", func() float64 { _, h, _ := ix.Counts(); return float64(h) }),
		gauge("index_agents", "Enrolled agents in the in-memory index.", func() float64 { a, _, _ := ix.Counts(); return float64(a) }),
		gauge("index_titles", "Software titles in the in-memory index.", func() float64 { _, _, t := ix.Counts(); return float64(t) }),
		gauge("index_synced", "Whether the index has listed the store (1) or not yet (0).", func() float64 {
			select {
			case <-ix.ready:
				return 1
			default:
				return 0
			}
		}),
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range append([]prometheus.Collector{m.events, m.relists, m.lag, m.resolve}, m.gauges...) {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observeRev records the watch lag of this process's writes up to rev.
func (m *metrics) observeRev(st *store.Store, rev int64) {
	for _, d := range st.WrittenUpTo(rev) {
		m.lag.Observe(d.Seconds())
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func itoa(n int) string { return strconv.Itoa(n) }
