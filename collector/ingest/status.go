package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// Liveness and capacity are batched: an accepted report only notes its host's status in
// memory (seen), and Run writes the noted statuses every StatusFlushInterval, one
// store.Update per status shard (256 of them), merged with what the shard holds, since other
// replicas write hosts of the same shards. A flush that fails keeps its statuses for the
// next one. The write rate is therefore bounded by the shard count and the interval, not by
// the report rate.

// seen records a report's liveness and capacity for the next status flush.
func (g *Ingest) seen(r *protocol.Report, now time.Time) {
	shard := store.StatusShard(r.HostID)
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.toFlush(shard)
	m[r.HostID] = store.HostStatus{LastSeen: now, Seq: r.Seq, Capacity: r.Capacity}
}

// toFlush returns the statuses noted for a shard's next flush; the caller holds g.mu.
func (g *Ingest) toFlush(shard string) map[string]store.HostStatus {
	m := g.dirty[shard]
	if m == nil {
		m = map[string]store.HostStatus{}
		g.dirty[shard] = m
	}
	return m
}

// Run writes the batched statuses every StatusFlushInterval until ctx ends, then once more.
func (g *Ingest) Run(ctx context.Context) error {
	t := time.NewTicker(g.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return g.Flush(fctx)
		case <-t.C:
			if err := g.Flush(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("writing host statuses failed; keeping them for the next flush", "err", err)
				_ = g.storeErr("flush statuses", err)
			}
		}
	}
}

// Flush writes the pending statuses, one Update per shard.
func (g *Ingest) Flush(ctx context.Context) error {
	g.mu.Lock()
	pending := g.dirty
	g.dirty = map[string]map[string]store.HostStatus{}
	g.mu.Unlock()
	var errs []error
	for shard, hosts := range pending {
		if err := g.flushShard(ctx, shard, hosts); err != nil {
			errs = append(errs, err)
			g.keep(shard, hosts)
		}
	}
	g.m.flushes.Inc()
	return errors.Join(errs...)
}

// keep puts a shard's statuses back for the next flush, unless newer ones arrived meanwhile.
func (g *Ingest) keep(shard string, hosts map[string]store.HostStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.toFlush(shard)
	for id, s := range hosts {
		if cur, ok := m[id]; ok {
			s, _ = mergeStatus(s, cur)
		}
		m[id] = s
	}
}

// flushShard merges a shard's statuses into the shard's key.
func (g *Ingest) flushShard(ctx context.Context, shard string, hosts map[string]store.HostStatus) error {
	start := g.ix.StatusShard(shard)
	if start.ModRevision == 0 {
		// Not in the index: new, or written by another replica a moment ago.
		start = store.Unread(start.Key)
	}
	_, err := g.st.Update(ctx, "put_status", []store.KV{start}, func(cur []store.KV) ([]store.Write, error) {
		merged := g.decodeShard(shard, cur[0])
		changed := false
		for id, s := range hosts {
			old, ok := merged[id]
			if ok {
				var differs bool
				if s, differs = mergeStatus(old, s); !differs {
					continue
				}
			}
			merged[id] = s
			changed = true
		}
		if !changed {
			return nil, nil
		}
		// Hosts deleted since they reported are not written back; an enrolled host without
		// a record yet keeps its status (its first reports may be refused).
		for id := range hosts {
			if !g.known(id) {
				delete(merged, id)
			}
		}
		val, err := store.EncodeStatus(merged)
		if err != nil {
			return nil, err
		}
		return []store.Write{store.Put(cur[0].Key, val)}, nil
	})
	return err
}

// decodeShard decodes a status shard's value; an unreadable one is replaced.
func (g *Ingest) decodeShard(shard string, kv store.KV) map[string]store.HostStatus {
	if kv.Value == nil {
		return map[string]store.HostStatus{}
	}
	m, err := store.DecodeStatus(kv.Value)
	if err != nil {
		g.log.Warn("unreadable status shard replaced", "shard", shard, "err", err)
		return map[string]store.HostStatus{}
	}
	return m
}

// known reports whether a host has a record or an enrolled agent, as this replica sees it.
func (g *Ingest) known(id string) bool {
	if a, ok := g.w.agent(id); ok {
		return a != nil
	}
	if _, rec, ok := g.w.host(id); ok && rec != nil {
		return true
	}
	_, recorded := g.ix.Host(id)
	_, enrolled := g.ix.Agent(id)
	return recorded || enrolled
}
