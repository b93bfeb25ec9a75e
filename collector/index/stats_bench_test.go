package index

import (
	"fmt"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/store"
)

// BenchmarkFleetStats measures a scrape's count of the fleet (FleetStats, under the read
// lock) with every host enrolled and in its status shard, and a share of them refused.
func BenchmarkFleetStats(b *testing.B) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, size := range []struct {
		hosts   int
		refused float64
	}{{20_000, 0}, {20_000, 0.01}, {20_000, 1}} {
		b.Run(fmt.Sprintf("hosts=%d/refused=%g", size.hosts, size.refused), func(b *testing.B) {
			ix := benchIndex(size.hosts, 20_000, 200)
			every := 0
			if size.refused > 0 {
				every = int(1 / size.refused)
			}
			i, want := 0, 0
			for id := range ix.hosts {
				ix.agents[id] = AgentEntry{Agent: store.Agent{HostID: id}}
				st := store.HostStatus{LastSeen: now.Add(-time.Minute)}
				if every > 0 && i%every == 0 {
					st.Refused = &store.Refusal{At: now, Since: now.Add(-time.Duration(i) * time.Second), Status: 400, Reason: "hash: mismatch"}
					want++
				}
				shard := store.StatusShard(id)
				s := ix.status[shard]
				if s.hosts == nil {
					s.hosts = map[string]store.HostStatus{}
				}
				s.hosts[id] = st
				ix.status[shard] = s
				i++
			}
			b.ReportAllocs()
			var s *FleetStats
			for b.Loop() {
				s = ix.FleetStats(StatsOptions{Now: now, StaleAfter: 3 * time.Minute})
			}
			if s.RefusedHosts != want {
				b.Fatalf("%d refused hosts, want %d", s.RefusedHosts, want)
			}
		})
	}
}
