package store

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeMetrics time and count every etcd request of the store, by the operation that made
// it (put_host, get_agents, list, ...): the label values are the store's and its callers'
// fixed operation names, never a key.
type storeMetrics struct {
	duration  *prometheus.HistogramVec
	conflicts *prometheus.CounterVec
}

// WriteOps are the operation names of the collector's writes: their conflict counters exist
// from the start, at 0, so that rate() sees the first conflict.
var WriteOps = []string{"put_host", "put_status", "put_agent", "delete_host", "create_titles", "number_builds", "reserve_builds",
	"put_registry", "create_enrollments", "decide_enrollment"}

func newStoreMetrics() *storeMetrics {
	const ns, sub = "onus", "collector"
	m := &storeMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "store_operation_duration_seconds",
			Help: "Latency of etcd requests by operation (each attempt of a read-modify-write is one request).", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"op"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_conflicts_total",
			Help: "Compare-and-swap writes that lost to a concurrent write (and were tried again from the current value, within the attempts allowed), by operation."}, []string{"op"}),
	}
	for _, op := range WriteOps {
		m.conflicts.WithLabelValues(op)
	}
	return m
}

// Collectors returns the store's metrics, for the collector's registry.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.duration, s.metrics.conflicts}
}

// observe records one request of op that began at start.
func (s *Store) observe(op string, start time.Time) {
	s.metrics.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// noteWrite remembers the revision of a write of this process, and when it was made.
func (s *Store) noteWrite(rev int64) {
	for {
		cur := s.written.Load()
		if rev <= cur || s.written.CompareAndSwap(cur, rev) {
			break
		}
	}
	s.recent.mu.Lock()
	if len(s.recent.writes) < maxRecentWrites {
		s.recent.writes = append(s.recent.writes, recentWrite{rev: rev, at: time.Now()})
	}
	s.recent.mu.Unlock()
}

// maxRecentWrites bounds the writes kept for WrittenUpTo when nobody asks for them.
const maxRecentWrites = 10_000

// recentWrites are this process's writes that no watcher has reported yet.
type recentWrites struct {
	mu     sync.Mutex
	writes []recentWrite
}

type recentWrite struct {
	rev int64
	at  time.Time
}

// WrittenUpTo returns how long ago this process made each of its writes of revision rev or
// older that it did not return before, and forgets them: a watcher that reached rev calls it
// to measure how long its writes took to arrive.
func (s *Store) WrittenUpTo(rev int64) []time.Duration {
	s.recent.mu.Lock()
	defer s.recent.mu.Unlock()
	var out []time.Duration
	n := 0
	for _, w := range s.recent.writes {
		if w.rev <= rev {
			out = append(out, time.Since(w.at))
			continue
		}
		s.recent.writes[n] = w
		n++
	}
	s.recent.writes = s.recent.writes[:n]
	return out
}

// Written returns the revision of this process's newest write through the store (0: none):
// a cache that reached it holds every write this process made.
func (s *Store) Written() int64 { return s.written.Load() }
