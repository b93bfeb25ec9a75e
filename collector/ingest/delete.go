package ingest

import (
	"context"

	"github.com/onus-project/onus/internal/store"
)

// DeleteHost removes a host: its agent (so its credential stops working) and its record in
// one transaction, then its status. It reports whether there was anything to delete.
func (g *Ingest) DeleteHost(ctx context.Context, hostID string) (bool, error) {
	lock := g.lock(hostID)
	lock.Lock()
	defer lock.Unlock()
	agentKey, hostKey := g.st.Key(store.KindAgent, hostID), g.st.Key(store.KindHost, hostID)
	hostStart, _ := g.heldHost(hostID)
	res, err := g.st.Update(ctx, "delete_host", []store.KV{store.Unread(agentKey), hostStart}, func(cur []store.KV) ([]store.Write, error) {
		var w []store.Write
		for _, kv := range cur {
			if kv.Value != nil {
				w = append(w, store.Del(kv.Key))
			}
		}
		return w, nil
	})
	if err != nil {
		return false, g.storeErr("delete host", err)
	}
	if res.Revision == 0 {
		return false, nil
	}
	g.w.putAgent(hostID, res.Revision, nil)
	g.w.putHost(hostID, res.Revision, store.KV{Key: hostKey}, nil)
	g.mu.Lock()
	delete(g.dirty[store.StatusShard(hostID)], hostID)
	g.mu.Unlock()
	// Drop the host from its status shard too.
	shard := store.StatusShard(hostID)
	_, err = g.st.Update(ctx, "put_status", []store.KV{store.Unread(g.st.Key(store.KindStatus, shard))}, func(cur []store.KV) ([]store.Write, error) {
		m := g.decodeShard(shard, cur[0])
		if _, ok := m[hostID]; !ok {
			return nil, nil
		}
		delete(m, hostID)
		val, err := store.EncodeStatus(m)
		if err != nil {
			return nil, err
		}
		return []store.Write{store.Put(cur[0].Key, val)}, nil
	})
	if err != nil {
		// The host is gone; a status left in its shard lists nothing (hosts are listed by
		// record or enrolled agent) and goes with the shard's next write of the host.
		g.log.Warn("host deleted; removing its status failed", "host_id", hostID, "err", err)
	}
	return true, nil
}
