package reporter

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// pass collects the inventory, carries over what failed sources produced last time, holds
// back doubtful package database reads until a second read confirms them (see confirm), and
// journals the software events since the previous collection. It fails only when ctx ends.
// It collects without holding mu (a report may be in flight meanwhile) and takes it to
// record what it found.
func (r *Reporter) pass(ctx context.Context, trigger string) error {
	start := time.Now()
	inv, err := r.opts.Inventory.Collect(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, capa := protocol.FromInventory(inv)
	// FromInventory normalized the state; only items carried over or held back need
	// sorting in again.
	carried := carryOver(r.prev, &st, r.srcs)
	if len(carried) > 0 {
		r.log.Warn("inventory sources failed; keeping what they found last time", "sources", carried)
	}
	if r.confirm(&st) || len(carried) > 0 {
		protocol.Normalize(&st)
	}
	events := softwareEvents(r.prev, &st, r.now(), r.srcs)
	dropped, err := r.spool.Record(events, st.Software, st.Sources)
	if err != nil {
		r.log.Warn("cannot save the event journal; events are kept in memory", "err", err)
	}
	// Each change is worth a line, but not the 800 lines of a distribution upgrade.
	level := slog.LevelInfo
	if len(events) > 20 {
		level = slog.LevelDebug
		r.log.Info("software changes", "events", len(events))
	}
	for _, e := range events {
		r.log.Log(ctx, level, "software change", "event", e.Type, "title", e.Title(), "version", e.Version,
			"previous_version", e.PreviousVersion, "time", e.Time)
		r.m.events.WithLabelValues(e.Type).Inc()
	}
	r.m.dropped.Add(float64(dropped))
	r.m.journal.Set(float64(r.spool.Waiting()))
	r.m.passes.WithLabelValues(trigger).Inc()
	r.prev = &st
	r.curHash = protocol.Hash(&st)
	r.capacity = capa
	r.log.Debug("inventory collected", "trigger", trigger, "software", len(st.Software), "services", len(st.Services),
		"events", len(events), "hash", r.curHash, "duration", time.Since(start))
	return nil
}

// carryOver replaces what each source that failed in this pass produced by what it produced
// in the previous one, so that a momentarily unreadable database does not look like every
// package removed. What a source produced is what it says of itself (srcs): the packages of
// its format, the services of its managers, the parts it produces; a source that says nothing keeps its partial result. It
// returns the names of the sources it carried over. Without a previous pass that ran the
// source, the failed source's partial result stays.
func carryOver(prev, st *protocol.State, srcs sourceTraits) (carried []string) {
	if prev == nil {
		return nil
	}
	for _, s := range st.Sources {
		if s.State != "error" || !slices.ContainsFunc(prev.Sources, func(p model.SourceStatus) bool { return p.Name == s.Name }) {
			continue
		}
		t := srcs[s.Name]
		did := false
		if f := t.PackageFormat; f != "" {
			keep := slices.DeleteFunc(slices.Clone(st.Software), func(p model.Package) bool { return p.Source == f })
			for _, p := range prev.Software {
				if p.Source == f {
					keep = append(keep, p)
				}
			}
			st.Software = keep
			did = true
		}
		if ms := t.ServiceManagers; len(ms) > 0 {
			keep := slices.DeleteFunc(slices.Clone(st.Services), func(s model.Service) bool { return slices.Contains(ms, s.Manager) })
			for _, s := range prev.Services {
				if slices.Contains(ms, s.Manager) {
					keep = append(keep, s)
				}
			}
			st.Services = keep
			did = true
		}
		if t.Produces&source.PartListeners != 0 {
			st.Listeners = slices.Clone(prev.Listeners)
			did = true
		}
		if t.Produces&source.PartHost != 0 && prev.Host.ID != "" {
			labels := st.Host.Labels
			st.Host = prev.Host
			st.Host.Filesystems = slices.Clone(prev.Host.Filesystems)
			st.Host.Interfaces = slices.Clone(prev.Host.Interfaces)
			st.Host.Labels = labels
			did = true
		}
		if did {
			carried = append(carried, s.Name)
		}
	}
	return carried
}

// softwareEvents returns the software events from prev to st. A package source whose
// packages are unknown on either side yields none: one that failed in this pass (its
// packages were carried over, or are a partial result), or one that had failed before with
// nothing to carry over; otherwise its first good read would report every package as
// installed. The first pass (no prev) yields none either: what a host has at enrollment is
// discovered, not installed.
func softwareEvents(prev, st *protocol.State, detected time.Time, srcs sourceTraits) []protocol.Event {
	if prev == nil {
		return nil
	}
	unknown := map[string]bool{}
	for name, t := range srcs {
		f := t.PackageFormat
		if f == "" {
			continue
		}
		if sourceState(st, name) == "error" ||
			(sourceState(prev, name) == "error" && !slices.ContainsFunc(prev.Software, func(p model.Package) bool { return p.Source == f })) {
			unknown[f] = true
		}
	}
	known := func(ps []model.Package) []model.Package {
		if len(unknown) == 0 {
			return ps
		}
		return slices.DeleteFunc(slices.Clone(ps), func(p model.Package) bool { return unknown[p.Source] })
	}
	return protocol.Events(&protocol.State{Software: known(prev.Software)}, &protocol.State{Software: known(st.Software)}, detected)
}

func sourceState(st *protocol.State, name string) string {
	for _, s := range st.Sources {
		if s.Name == name {
			return s.State
		}
	}
	return ""
}
