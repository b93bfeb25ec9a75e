package ingest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// Report applies a report of the host agent is enrolled for.
func (g *Ingest) Report(ctx context.Context, agent store.Agent, r *protocol.Report) (*protocol.ReportResponse, error) {
	start := time.Now()
	resp, err := g.report(ctx, agent, r)
	result := "error"
	switch {
	case err == nil && resp.Duplicate:
		result = "duplicate"
	case err == nil:
		result = resp.Status
	default:
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Status < 500 {
			result = "rejected"
		}
		g.Refused(agent, r, err)
	}
	kind := r.Kind
	if kind != protocol.KindFull && kind != protocol.KindDelta && kind != protocol.KindHeartbeat {
		kind = "invalid"
	}
	g.m.reports.WithLabelValues(kind, result).Inc()
	g.m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return resp, err
}

func (g *Ingest) report(ctx context.Context, agent store.Agent, r *protocol.Report) (*protocol.ReportResponse, error) {
	if r.HostID != agent.HostID {
		return nil, protocol.Errorf(http.StatusForbidden, "this credential reports for host %s, not %s", agent.HostID, r.HostID)
	}
	// Free text never costs a report: what an older or hostile agent left dirty is cleaned
	// and counted, and only then is the structure validated.
	cleaned := protocol.CleanReport(r)
	for field, n := range cleaned {
		g.m.cleaned.WithLabelValues(field).Add(float64(n))
	}
	if err := protocol.Validate(r); err != nil {
		return nil, err
	}
	lock := g.lock(r.HostID)
	lock.Lock()
	defer lock.Unlock()
	now := g.now().UTC().Truncate(time.Second)
	resp, err := g.write(ctx, agent, r, now, cleaned != nil)
	if err != nil {
		return nil, err
	}
	if resp.Status == protocol.StatusAccepted {
		g.seen(r, now)
	}
	return resp, nil
}

// write applies a report to the host's record: one store.Update of the record's key, which
// starts from the record as this replica holds it (its own last write, else the index's) and
// runs again from the current record when another write won. A heartbeat that changes
// nothing is answered from the held summary, without decoding the record.
func (g *Ingest) write(ctx context.Context, agent store.Agent, r *protocol.Report, now time.Time, cleaned bool) (*protocol.ReportResponse, error) {
	start, held := g.heldHost(r.HostID)
	if r.Kind == protocol.KindHeartbeat && len(r.Events) == 0 && r.EventsDropped == 0 && held.exists {
		if resp := verdict(r, agent, held.exists, held.hash, held.seq, held.updated); resp != nil {
			return resp, nil
		}
	}
	var out applied
	var rec *store.HostRecord
	res, err := g.st.Update(ctx, "put_host", []store.KV{start}, func(cur []store.KV) ([]store.Write, error) {
		old, err := g.decodeHeld(ctx, cur[0], held.rec)
		held.rec = nil // only for the value it was decoded from
		if err != nil {
			return nil, err
		}
		if out, err = applyReport(old, r, agent, now, cleaned); err != nil || out.rec == nil {
			return nil, err
		}
		val, err := g.encode(ctx, r, out)
		if err != nil {
			return nil, err
		}
		rec = out.rec
		g.w.pend(r.HostID, val, rec)
		return []store.Write{store.Put(cur[0].Key, val)}, nil
	})
	// One report of a host is applied at a time (per-host lock): its pending record is this
	// write's, whose revision putHost records below.
	defer g.w.unpend(r.HostID)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, g.storeErr("write host", err)
	}
	for field, n := range out.replaced {
		g.m.cleaned.WithLabelValues(field).Add(float64(n))
	}
	if out.note != "" {
		g.log.Info(out.note, "host_id", r.HostID, "seq", r.Seq)
	}
	if res.Revision != 0 {
		g.w.putHost(r.HostID, res.Revision, res.KVs[0], rec)
		g.m.events.Add(float64(len(r.Events)))
	}
	return out.resp, nil
}

// heldRecord is what this replica holds of a host's record, for the heartbeat's answer.
type heldRecord struct {
	exists  bool
	hash    string
	seq     uint64
	updated time.Time
	rec     *store.HostRecord // decoded, when this replica wrote it
}

// heldHost returns the starting point of a write of the host's record (its own last write
// if the index does not have it yet, else the index's; absent for a host the index does not
// know) and what it says of the host.
func (g *Ingest) heldHost(id string) (store.KV, heldRecord) {
	if kv, rec, ok := g.w.host(id); ok {
		if rec == nil {
			return kv, heldRecord{}
		}
		return kv, heldRecord{exists: true, hash: rec.Hash, seq: rec.Seq, updated: rec.UpdatedAt, rec: rec}
	}
	key := g.st.Key(store.KindHost, id)
	if h, ok := g.ix.Host(id); ok {
		return store.KV{Key: key, Value: h.Raw, ModRevision: h.ModRevision},
			heldRecord{exists: true, hash: h.Summary.Hash, seq: h.Summary.Seq, updated: h.Summary.UpdatedAt}
	}
	// Not known here: absent, or written by another replica a moment ago. A write from
	// absence then loses once and brings the record; a decision to write nothing is
	// confirmed on etcd (store.Update), so no read is needed first.
	return store.KV{Key: key}, heldRecord{}
}

// decodeHeld decodes the host record kv (nil for an absent key); rec is the record when
// this replica already has it decoded. An unreadable record is logged and treated as absent:
// the next full report replaces it.
func (g *Ingest) decodeHeld(ctx context.Context, kv store.KV, rec *store.HostRecord) (*store.HostRecord, error) {
	if kv.Value == nil {
		return nil, nil
	}
	if rec != nil {
		return rec, nil
	}
	old, err := g.ix.DecodeHostUnordered(kv.Value, g.w.build)
	if errors.Is(err, store.ErrUnknownBuild) {
		// Written by another replica with builds this index has not seen yet: they precede
		// the record in the store, so wait until the index reaches it.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		werr := g.ix.WaitRevision(wctx, kv.ModRevision)
		cancel()
		if werr != nil {
			return nil, g.storeErr("wait for the index", werr)
		}
		old, err = g.ix.DecodeHostUnordered(kv.Value, g.w.build)
	}
	if err != nil {
		g.log.Warn("unreadable host record; asking for a full report", "host_id", kv.Key, "err", err)
		return nil, nil
	}
	return old, nil
}

// maxRecordBytes keeps a host record well under etcd's 1.5 MiB request limit.
const maxRecordBytes = 1 << 20

// encode catalogs the titles and numbers the builds a new record needs, then encodes it.
func (g *Ingest) encode(ctx context.Context, r *protocol.Report, out applied) ([]byte, error) {
	now := out.rec.UpdatedAt
	if err := g.catalog(ctx, r, out.st, now); err != nil {
		return nil, err
	}
	numbers, err := g.number(ctx, out.rec.Software)
	if err != nil {
		return nil, err
	}
	val, err := store.EncodeHost(out.rec, func(in store.Installation) (uint32, bool) {
		id, ok := numbers[in.Ref()]
		return id, ok
	})
	if err != nil {
		return nil, protocol.Errorf(http.StatusBadRequest, "host record: %v", err)
	}
	if len(val) > maxRecordBytes {
		return nil, protocol.Errorf(http.StatusRequestEntityTooLarge, "the host's inventory takes %d bytes compressed, over the limit of %d", len(val), maxRecordBytes)
	}
	return val, nil
}
