package reporter

import (
	"fmt"
	"slices"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// A package database read is doubtful when it skipped more malformed records than the
// previous read, or lost more than doubtfulLost packages and more than 1/doubtfulShare of
// the source's packages at once. A half-written database (a status file caught while a tool
// rewrote it in place, or truncated) looks like that; a real removal of that size is rare
// enough to wait for a second read.
const (
	doubtfulLost  = 5
	doubtfulShare = 10
)

// heldRead is a doubtful read of one package source, held back until a second read confirms
// it. Owned by the collection loop.
type heldRead struct {
	software []model.Package // the source's packages as the doubtful read found them
	at       time.Time       // when it was read (monotonic)
	reason   string
}

// confirm holds back the doubtful package reads of st: each package source whose read is
// doubtful against the previous collection keeps its previous packages and status in st, and
// its read waits in r.held. A later read that agrees with a held one, once Settle has passed
// since it, confirms it: its changes go on into events. One that disagrees discards it
// (counted, logged once); the later read is then judged on its own, so a real change is never
// lost, only reported once the database settled. confirm says whether it changed st, which
// then needs normalizing. The caller holds mu.
func (r *Reporter) confirm(st *protocol.State) (changed bool) {
	if r.prev == nil {
		return false
	}
	for name, t := range r.srcs {
		f := t.PackageFormat
		if f == "" {
			continue
		}
		cur := sourceStatus(st, name)
		if cur == nil || cur.State == "error" {
			// Carried over, or not run: this read says nothing, and the next good one is
			// judged on its own.
			if h := r.held[name]; h != nil {
				delete(r.held, name)
				r.m.doubtful.WithLabelValues(name, "discarded").Inc()
				r.log.Warn("a doubtful package database read is discarded: the next read failed", "source", name, "reason", h.reason)
			}
			continue
		}
		prevStatus := sourceStatus(r.prev, name)
		if prevStatus == nil || prevStatus.State == "error" {
			// Its packages were unknown: no events come of this read (see softwareEvents).
			delete(r.held, name)
			continue
		}
		read := packagesOf(st.Software, f)
		if h := r.held[name]; h != nil {
			if slices.EqualFunc(read, h.software, samePackage) {
				if time.Since(h.at) >= r.opts.Settle {
					delete(r.held, name)
					r.m.doubtful.WithLabelValues(name, "confirmed").Inc()
					r.log.Info("a doubtful package database read was confirmed by a second read; its changes are reported",
						"source", name, "reason", h.reason)
					continue
				}
				// Not settled yet: keep waiting for the confirming read.
				keep(st, r.prev, name, f)
				changed = true
				continue
			}
			delete(r.held, name)
			r.m.doubtful.WithLabelValues(name, "discarded").Inc()
			r.log.Warn("a doubtful package database read was not confirmed by the next one and is discarded (a database read while it was being written?)",
				"source", name, "reason", h.reason, "packages_then", len(h.software), "packages_now", len(read))
		}
		reason := doubtful(packagesOf(r.prev.Software, f), read, prevStatus.Skipped, cur.Skipped)
		if reason == "" {
			continue
		}
		r.held[name] = &heldRead{software: read, at: time.Now(), reason: reason}
		r.log.Info("a doubtful package database read is held back until a second read confirms it",
			"source", name, "reason", reason, "settle", r.opts.Settle)
		keep(st, r.prev, name, f)
		changed = true
	}
	return changed
}

// nextConfirm returns how long until the earliest held read may be confirmed, and false when
// none is held.
func (r *Reporter) nextConfirm() (time.Duration, bool) {
	var next time.Duration
	found := false
	for _, h := range r.held {
		d := max(r.opts.Settle-time.Since(h.at), 0)
		if !found || d < next {
			next, found = d, true
		}
	}
	return next, found
}

// doubtful says why a read of a source is doubtful against the previous one, or "".
func doubtful(prev, read []model.Package, prevSkipped, skipped int) string {
	if slices.EqualFunc(prev, read, samePackage) {
		return ""
	}
	if skipped > prevSkipped {
		return fmt.Sprintf("%d malformed records skipped (%d before)", skipped, prevSkipped)
	}
	type id struct{ name, arch string }
	have := make(map[id]bool, len(read))
	for _, p := range read {
		have[id{p.Name, p.Arch}] = true
	}
	lost := 0
	for _, p := range prev {
		if !have[id{p.Name, p.Arch}] {
			lost++
		}
	}
	if lost > doubtfulLost && lost*doubtfulShare > len(prev) {
		return fmt.Sprintf("%d of %d packages gone at once", lost, len(prev))
	}
	return ""
}

// keep puts back into st the packages and status the previous collection had for source
// name (of package format f).
func keep(st, prev *protocol.State, name, f string) {
	st.Software = slices.DeleteFunc(st.Software, func(p model.Package) bool { return p.Source == f })
	st.Software = append(st.Software, packagesOf(prev.Software, f)...)
	if s, ps := sourceStatus(st, name), sourceStatus(prev, name); s != nil && ps != nil {
		*s = *ps
	}
}

// packagesOf returns the packages of format f, in their order.
func packagesOf(ps []model.Package, f string) []model.Package {
	var out []model.Package
	for _, p := range ps {
		if p.Source == f {
			out = append(out, p)
		}
	}
	return out
}

func sourceStatus(st *protocol.State, name string) *model.SourceStatus {
	for i := range st.Sources {
		if st.Sources[i].Name == name {
			return &st.Sources[i]
		}
	}
	return nil
}

func samePackage(a, b model.Package) bool { return a.Equal(&b) }
