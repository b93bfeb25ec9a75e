package ingest

import (
	"net/http"
	"slices"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// applied is what a report does to its host's record: the answer, and the new record to
// write (nil when nothing changes).
type applied struct {
	resp *protocol.ReportResponse
	rec  *store.HostRecord
	// st is the host's new state (set with rec), the one rec's software comes from.
	st *protocol.State
	// note says why a report that looked applicable was not (for the log).
	note string
	// replaced counts, by field, the text the collector replaced in a full state whose
	// agent hashed it before it was cleaned.
	replaced map[string]int
}

// applyReport computes what a validated report does to the host's record old (nil: none,
// or unreadable): a pure function of the record, the report, the agent's enrollment and the
// time, with no store and no index, so that every case is a table test (apply_test.go).
// cleaned says whether the report's text had to be cleaned: its hash then covers bytes the
// collector no longer has. It fails only with a *protocol.Error, for a report to refuse.
func applyReport(old *store.HostRecord, r *protocol.Report, agent store.Agent, now time.Time, cleaned bool) (applied, error) {
	held := ""
	var heldSeq uint64
	var updated time.Time
	if old != nil {
		held, heldSeq, updated = old.Hash, old.Seq, old.UpdatedAt
	}
	if resp := verdict(r, agent, old != nil, held, heldSeq, updated); resp != nil {
		return applied{resp: resp}, nil
	}
	needFull := applied{resp: &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: held, Seq: heldSeq}}
	var st protocol.State
	var replaced map[string]int
	switch r.Kind {
	case protocol.KindDelta:
		if old == nil || r.BaseHash != old.Hash {
			return needFull, nil
		}
		base := old.State()
		protocol.Normalize(&base)
		st = protocol.Apply(&base, r.Delta)
		if protocol.Hash(&st) != r.Hash {
			needFull.note = "delta does not lead to the report's hash; asking for a full report"
			return needFull, nil
		}
	case protocol.KindHeartbeat:
		// It carries events (a package installed and removed again): the state stays, the
		// events are recorded.
		st = old.State()
		protocol.Normalize(&st)
	case protocol.KindFull:
		st = *r.State
		protocol.Normalize(&st)
		if h := protocol.Hash(&st); h != r.Hash {
			// An agent that hashed its text before it was cleaned (here, or by the JSON
			// decoder, which replaces invalid UTF-8): store the cleaned state under the
			// agent's hash, so that it keeps getting its own hash back (see the protocol
			// package doc). Otherwise the two sides disagree on structure.
			replaced = protocol.Replaced(&st)
			if !cleaned && replaced == nil {
				return applied{}, protocol.Errorf(http.StatusBadRequest, "hash: the state hashes to %s, not %s", h, r.Hash)
			}
		}
	}
	if old != nil && old.Hash == r.Hash && len(r.Events) == 0 && r.EventsDropped == 0 {
		// Nothing changed (a full report after a restart of the agent, say): no write.
		return applied{resp: &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: held, Seq: heldSeq}, replaced: replaced}, nil
	}
	rec := record(old, r, &st, now)
	return applied{resp: &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: rec.Hash, Seq: rec.Seq}, rec: rec, st: &st, replaced: replaced}, nil
}

// verdict answers the reports that need no new record, from what the collector holds for the
// host (its hash and seq, and when its record last changed): a report older than the one that
// made the record (a retry that crossed a newer report; re-enrollment starts the sequence
// again), and heartbeats without events. It returns nil for a report to apply.
func verdict(r *protocol.Report, agent store.Agent, exists bool, hash string, seq uint64, updated time.Time) *protocol.ReportResponse {
	if exists && r.Seq <= seq && !updated.Before(agent.EnrolledAt.Truncate(time.Second)) {
		if r.Hash == hash {
			return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: hash, Seq: seq, Duplicate: true}
		}
		// The agent sends a full report numbered above the Seq in the answer (its own
		// counter may have gone back with a restored state directory).
		return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: hash, Seq: seq}
	}
	if r.Kind != protocol.KindHeartbeat {
		return nil
	}
	if !exists || r.BaseHash != hash {
		return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: hash, Seq: seq}
	}
	if len(r.Events) > 0 || r.EventsDropped > 0 {
		// Its events are recorded like a delta's.
		return nil
	}
	return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: hash, Seq: seq}
}

// record builds the host's new record from its old one (nil on the first report).
func record(old *store.HostRecord, r *protocol.Report, st *protocol.State, now time.Time) *store.HostRecord {
	rec := &store.HostRecord{HostID: r.HostID, Hash: r.Hash, Seq: r.Seq, FirstReport: now, UpdatedAt: now,
		Host: st.Host, Services: st.Services, Listeners: st.Listeners, Sources: st.Sources}
	var had map[titleRef]store.Installation // title → how it came to the host
	if old != nil {
		rec.FirstReport = old.FirstReport
		rec.Events, rec.EventsDropped = old.Events, old.EventsDropped
		had = make(map[titleRef]store.Installation, len(old.Software))
		for _, in := range old.Software {
			t := titleRef{in.Source, in.Name}
			if prev, ok := had[t]; !ok || (in.Installed && !prev.Installed) {
				had[t] = in
			}
		}
	}
	arrived := arrivals(r.Events, time.Time{})
	rec.Software = make([]store.Installation, len(st.Software))
	for i, p := range st.Software {
		in := store.Installation{Source: p.Source, Name: p.Name, Version: p.Version, Arch: p.Arch, InstallTime: p.InstallTime, State: p.State,
			InstallInfo: p.InstallInfo}
		switch prev, ok := had[titleRef{p.Source, p.Name}]; {
		case ok:
			in.Installed, in.InstalledAt = prev.Installed, prev.InstalledAt
		case old != nil:
			// New on a host that had reported before: installed while Onus watched.
			in.Installed = true
			switch at := arrived[titleRef{p.Source, p.Name}]; {
			case !at.IsZero():
				in.InstalledAt = at
			case !p.InstallTime.IsZero() && !p.InstallTime.After(now):
				in.InstalledAt = p.InstallTime
			default:
				in.InstalledAt = now
			}
		}
		rec.Software[i] = in
	}
	rec.Events = appendEvents(rec.Events, r.Events)
	rec.EventsDropped += r.EventsDropped
	if n := len(rec.Events) - store.MaxHostEvents; n > 0 {
		rec.Events = rec.Events[n:]
		rec.EventsDropped += n
	}
	return rec
}

// titleRef is a software title (source and name), as a map key that costs no allocation.
type titleRef struct{ source, name string }

// arrivals returns when each title arrived, from the events: the earliest install or
// upgrade, not after notAfter unless that is zero.
func arrivals(events []protocol.Event, notAfter time.Time) map[titleRef]time.Time {
	arrived := map[titleRef]time.Time{}
	for _, e := range events {
		if e.Type == protocol.EventRemoved || (!notAfter.IsZero() && e.Time.After(notAfter)) {
			continue
		}
		t := titleRef{e.Source, e.Name}
		if at, ok := arrived[t]; !ok || e.Time.Before(at) {
			arrived[t] = e.Time.UTC()
		}
	}
	return arrived
}

// appendEvents adds the events not already held (a report whose answer was lost is sent
// again with the same events).
func appendEvents(held, fresh []protocol.Event) []protocol.Event {
	type key struct {
		typ, title, arch, version string
		t                         int64
	}
	seen := make(map[key]bool, len(held))
	k := func(e protocol.Event) key { return key{e.Type, e.Title(), e.Arch, e.Version, e.Time.Unix()} }
	for _, e := range held {
		seen[k(e)] = true
	}
	out := slices.Clip(held)
	for _, e := range fresh {
		if !seen[k(e)] {
			seen[k(e)] = true
			e.Time, e.DetectedAt = e.Time.UTC(), e.DetectedAt.UTC()
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b protocol.Event) int { return a.Time.Compare(b.Time) })
	return out
}
