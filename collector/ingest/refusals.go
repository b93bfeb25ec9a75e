package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// An agent whose reports are refused resends them with backoff, and its inventory freezes
// where it was. So that this never goes unseen, each refusal of an authenticated host's
// report is kept in the host's status (store.Refusal) until a report of the host is
// accepted. Refusals travel with the batched status flush, like liveness: a host refused on
// every attempt costs one status write per flush interval, not one per request.

// refusalStatus returns the HTTP status of an error that refuses a report for good: a 4xx
// other than those that only say "later" (408, 429) or "who are you" (401).
func refusalStatus(err error) (int, bool) {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status < 400 || pe.Status >= 500 {
		return 0, false
	}
	switch pe.Status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return 0, false
	}
	return pe.Status, true
}

// Refused records, for the next status flush, that a report sent with agent's credential
// was refused with err; errors that are no refusal (see refusalStatus) are ignored. r is the
// report as far as it could be decoded (nil when nothing was). The HTTP layer calls it for
// the reports it cannot decode; Report calls it for the reports it refuses.
func (g *Ingest) Refused(agent store.Agent, r *protocol.Report, err error) {
	status, ok := refusalStatus(err)
	if !ok || agent.HostID == "" {
		return
	}
	var pe *protocol.Error
	errors.As(err, &pe)
	now := g.now().UTC().Truncate(time.Second)
	// The message may quote what the refused report held: clean it as the report's own text.
	ref := store.Refusal{At: now, Since: now, Status: status, Reason: protocol.CleanText(pe.Msg, store.MaxRefusalReason)}
	if r != nil {
		ref.Kind, ref.Seq = reportKind(r.Kind), r.Seq
	}
	held, _ := g.ix.Status(agent.HostID)
	shard := store.StatusShard(agent.HostID)
	g.mu.Lock()
	m := g.toFlush(shard)
	// The pending status, if any, is newer than the index's: it holds an accepted report or
	// a refusal not yet written.
	st, pending := m[agent.HostID]
	if !pending {
		st = held
	}
	first := st.Refused == nil
	if !first {
		ref.Since = st.Refused.Since
	}
	st.Refused = &ref
	m[agent.HostID] = st
	g.mu.Unlock()
	g.m.refused.WithLabelValues(fmt.Sprint(status)).Inc()
	if first {
		g.log.Warn("reports of a host refused; its inventory stays as last accepted until a report is accepted",
			"host_id", agent.HostID, "status", status, "reason", ref.Reason, "kind", ref.Kind, "seq", ref.Seq)
	}
}

// reportKind names a report's kind for a refusal: one of the protocol's, "invalid" for any
// other value (which is not kept: it came from the refused report).
func reportKind(kind string) string {
	switch kind {
	case protocol.KindFull, protocol.KindDelta, protocol.KindHeartbeat, "":
		return kind
	}
	return "invalid"
}

// mergeStatus returns a host's status from the one held (in the store, or an older pending
// one) and a pending one, and whether it differs from held. Liveness (last seen, seq,
// capacity) is the later of the two, pending's on a tie. A refusal stays while no accepted
// report came after it: a pending refusal as late as the last accepted report stays, a held
// one only if later than a pending accepted report (times are in seconds, and within one
// replica pending is what happened last). Two refusals of one episode keep its first start.
func mergeStatus(held, pending store.HostStatus) (store.HostStatus, bool) {
	out := pending
	fromHeld := held.LastSeen.After(pending.LastSeen)
	if fromHeld {
		out.LastSeen, out.Seq, out.Capacity = held.LastSeen, held.Seq, held.Capacity
	}
	ref := pending.Refused
	if ref != nil && ref.At.Before(out.LastSeen) {
		ref = nil
	}
	if h := held.Refused; h != nil && (h.At.After(out.LastSeen) || fromHeld && h.At.Equal(out.LastSeen)) {
		switch {
		case ref == nil:
			ref = h
		case h.Since.Before(ref.Since) || h.At.After(ref.At):
			merged := *ref
			if h.At.After(ref.At) {
				merged = *h
			}
			merged.Since = h.Since
			if ref.Since.Before(h.Since) {
				merged.Since = ref.Since
			}
			ref = &merged
		}
	}
	out.Refused = ref
	same := fromHeld && out.Seq == held.Seq && (ref == held.Refused || ref != nil && held.Refused != nil && *ref == *held.Refused)
	return out, !same
}
