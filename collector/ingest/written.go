package ingest

import (
	"bytes"
	"sync"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/store"
)

// written is the read-your-writes layer of one replica, like client-go's MutationCache: the
// keys this replica wrote (or deleted) whose revision the index has not reached yet. The
// index is written by its watch alone; until the watch delivers a write, requests of this
// replica read it from here, so that an agent's next report starts from its own last record,
// a credential just issued authenticates, and a deleted host's credential stops working at
// once. An entry is dropped as soon as the index reflects its revision (the index then holds
// it, or something newer).
type written struct {
	ix *index.Index

	mu    sync.Mutex
	hosts map[string]writtenHost // by host ID; rec nil: deleted
	// pending holds the record a write of this replica is committing, by host ID, with the
	// value it encodes to: the watch may deliver the write before the writer learns its
	// revision (putHost), and takes the record by its bytes instead of decoding them.
	pending map[string]pendingHost
	agents  map[string]writtenAgent
	builds  map[store.BuildRef]store.Build // numbered by this replica
	ids     map[uint32]store.Build
	// buildsRev is the revision of the newest numbering: the builds go once the index has it.
	buildsRev int64
	titles    map[string]int64 // "source:name" catalogued by this replica, at revision
	// creating holds the titles a request of this replica is creating now: another
	// request leaves them to it (a title is not needed to write a record; the next report
	// of a host that has it would create it if this attempt failed).
	creating map[string]bool
	// sweepAt is the size at which the next sweep runs: twice what the last one left.
	sweepAt int
}

type writtenHost struct {
	rev int64 // of the write or the deletion
	kv  store.KV
	rec *store.HostRecord
}

type pendingHost struct {
	value []byte
	rec   *store.HostRecord
}

type writtenAgent struct {
	rev   int64
	agent *index.AgentEntry // nil: deleted
}

func newWritten(ix *index.Index) *written {
	return &written{ix: ix, hosts: map[string]writtenHost{}, pending: map[string]pendingHost{}, agents: map[string]writtenAgent{},
		builds: map[store.BuildRef]store.Build{}, ids: map[uint32]store.Build{}, titles: map[string]int64{}, creating: map[string]bool{}, sweepAt: 256}
}

// decoded returns the record this replica wrote for a host at rev, if it still holds it, or
// the one it is committing when value is what that encodes to: the index's watch takes it
// instead of decoding the value (see index.UseDecoded).
func (w *written) decoded(id string, rev int64, value []byte) *store.HostRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.hosts[id]; ok && h.rec != nil && h.kv.ModRevision == rev {
		return h.rec
	}
	if p, ok := w.pending[id]; ok && bytes.Equal(p.value, value) {
		return p.rec
	}
	return nil
}

// pend notes the record a write is about to commit for a host, and the value it encodes
// to; unpend forgets it once the write is answered, whatever the answer.
func (w *written) pend(id string, value []byte, rec *store.HostRecord) {
	w.mu.Lock()
	w.pending[id] = pendingHost{value: value, rec: rec}
	w.mu.Unlock()
}

func (w *written) unpend(id string) {
	w.mu.Lock()
	delete(w.pending, id)
	w.mu.Unlock()
}

// host returns the host record this replica wrote last, when the index does not hold it yet:
// its key value (Value nil when deleted) and decoded record (nil when deleted).
func (w *written) host(id string) (store.KV, *store.HostRecord, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.hosts[id]
	if !ok {
		return store.KV{}, nil, false
	}
	if w.ix.Revision() >= h.rev {
		delete(w.hosts, id)
		return store.KV{}, nil, false
	}
	return h.kv, h.rec, true
}

// agent returns the agent this replica enrolled or deleted last (nil when deleted), when
// the index does not reflect it yet.
func (w *written) agent(id string) (*index.AgentEntry, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.agents[id]
	if !ok {
		return nil, false
	}
	if w.ix.Revision() >= a.rev {
		delete(w.agents, id)
		return nil, false
	}
	return a.agent, true
}

// build returns a build this replica numbered, by number.
func (w *written) build(id uint32) (store.Build, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.ids[id]
	return b, ok
}

// buildNumber returns the number of a build this replica numbered.
func (w *written) buildNumber(ref store.BuildRef) (uint32, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.builds[ref]
	return b.ID, ok
}

// putHost notes the host record written at rev (kv with a nil Value and rec nil: deleted).
func (w *written) putHost(id string, rev int64, kv store.KV, rec *store.HostRecord) {
	w.mu.Lock()
	w.hosts[id] = writtenHost{rev: rev, kv: kv, rec: rec}
	w.maybeSweep()
	w.mu.Unlock()
}

func (w *written) putAgent(id string, rev int64, a *index.AgentEntry) {
	w.mu.Lock()
	w.agents[id] = writtenAgent{rev: rev, agent: a}
	w.maybeSweep()
	w.mu.Unlock()
}

func (w *written) putBuilds(bs []store.Build, rev int64) {
	w.mu.Lock()
	for _, b := range bs {
		w.builds[b.Ref()] = b
		w.ids[b.ID] = b
	}
	// Builds never change: they are kept until a sweep finds the index past the newest.
	w.buildsRev = max(w.buildsRev, rev)
	w.maybeSweep()
	w.mu.Unlock()
}

// claim returns the titles no other request of this replica is creating, and marks them
// as being created by the caller, who releases them with putTitles or release.
func (w *written) claim(titles []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := titles[:0:0]
	for _, t := range titles {
		if _, done := w.titles[t]; !done && !w.creating[t] {
			w.creating[t] = true
			out = append(out, t)
		}
	}
	return out
}

// release ends the caller's claim on titles.
func (w *written) release(titles []string) {
	w.mu.Lock()
	for _, t := range titles {
		delete(w.creating, t)
	}
	w.mu.Unlock()
}

func (w *written) putTitles(titles []string, rev int64) {
	w.mu.Lock()
	for _, t := range titles {
		w.titles[t] = rev
	}
	w.maybeSweep()
	w.mu.Unlock()
}

// maybeSweep drops the entries the index has reached, once the layer has doubled since the
// last sweep; the caller holds w.mu. Each sweep costs as many steps as the entries added
// since the one before.
func (w *written) maybeSweep() {
	if len(w.hosts)+len(w.agents)+len(w.titles)+len(w.builds) < w.sweepAt {
		return
	}
	rev := w.ix.Revision()
	for id, h := range w.hosts {
		if rev >= h.rev {
			delete(w.hosts, id)
		}
	}
	for id, a := range w.agents {
		if rev >= a.rev {
			delete(w.agents, id)
		}
	}
	if rev >= w.buildsRev {
		clear(w.builds)
		clear(w.ids)
	}
	for t, r := range w.titles {
		if rev >= r {
			delete(w.titles, t)
		}
	}
	w.sweepAt = max(256, 2*(len(w.hosts)+len(w.agents)+len(w.titles)+len(w.builds)))
}
