package index

import (
	"slices"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// DecodeHost decodes a stored host record with the builds the index knows, and those more
// knows (nil: none), which a writer numbered before the watch brought them. Its
// installations are in package order.
func (ix *Index) DecodeHost(raw []byte, more func(uint32) (store.Build, bool)) (*store.HostRecord, error) {
	return ix.decodeHost(raw, more, store.DecodeHost)
}

// DecodeHostUnordered is DecodeHost with the installations in the record's own order, for
// readers that sort them themselves or need no order.
func (ix *Index) DecodeHostUnordered(raw []byte, more func(uint32) (store.Build, bool)) (*store.HostRecord, error) {
	return ix.decodeHost(raw, more, store.DecodeHostUnordered)
}

func (ix *Index) decodeHost(raw []byte, more func(uint32) (store.Build, bool),
	decode func([]byte, func(uint32) (store.Build, bool)) (*store.HostRecord, error)) (*store.HostRecord, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return decode(raw, func(id uint32) (store.Build, bool) {
		if b, ok := ix.builds[id]; ok {
			return b, true
		}
		if more != nil {
			return more(id)
		}
		return store.Build{}, false
	})
}

// BuildNumbers returns the numbers of the builds of the installations, in their order, 0
// for a build the index does not know.
func (ix *Index) BuildNumbers(sw []store.Installation) []uint32 {
	out := make([]uint32, len(sw))
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for i, in := range sw {
		out[i] = ix.buildIDs[in.Ref()]
	}
	return out
}

// Agent returns an enrolled agent.
func (ix *Index) Agent(hostID string) (AgentEntry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	a, ok := ix.agents[hostID]
	return a, ok
}

// Host returns a host's entry (shared: do not modify).
func (ix *Index) Host(id string) (*HostEntry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	h, ok := ix.hosts[id]
	return h, ok
}

// Status returns a host's last seen time and capacity.
func (ix *Index) Status(id string) (store.HostStatus, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.status[store.StatusShard(id)].hosts[id]
	return s, ok
}

// StatusShard returns a status shard's key value as the index holds it (a nil value and
// revision 0 when it holds none).
func (ix *Index) StatusShard(shard string) store.KV {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.status[shard]
	return store.KV{Key: ix.st.Key(store.KindStatus, shard), Value: s.raw, ModRevision: s.modRev}
}

// Title returns a title by "source:name".
func (ix *Index) Title(title string) (TitleEntry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t, ok := ix.titles[title]
	if !ok {
		return TitleEntry{}, false
	}
	return *t, true
}

// InstallingHosts returns the IDs of the hosts where a title ("source:name") was installed
// after their first report, sorted, at most max of them (all when max <= 0), and whether
// some were left off.
func (ix *Index) InstallingHosts(title string, max int) ([]string, bool) {
	ix.mu.RLock()
	id, ok := ix.nameIDs[title]
	var hosts []string
	if ok {
		hosts = make([]string, 0, len(ix.installers[id]))
		for h := range ix.installers[id] {
			hosts = append(hosts, h)
		}
	}
	ix.mu.RUnlock()
	slices.Sort(hosts)
	if max > 0 && len(hosts) > max {
		return hosts[:max], true
	}
	return hosts, false
}

// Catalogued says, for each package, whether the catalog holds its title.
func (ix *Index) Catalogued(pkgs []model.Package) []bool {
	out := make([]bool, len(pkgs))
	var buf []byte
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for i, p := range pkgs {
		buf = model.AppendTitleKey(buf[:0], p.Source, p.Name)
		te, ok := ix.titles[string(buf)] // no allocation for the lookup
		out[i] = ok && te.Catalogued
	}
	return out
}

// HostSummary pairs a host's summary with its status.
type HostSummary struct {
	Summary
	Status *store.HostStatus `json:"status,omitempty"`
	// NoRecord marks an enrolled host none of whose reports was accepted, listed because
	// they are refused: only its ID, hostname and status are known.
	NoRecord bool `json:"no_record,omitempty"`
	// The host's owner, whether it is orphaned, and why.
	owners.Resolution
}

// Hosts returns the summaries of the hosts that keep returns true for, sorted by ID, starting
// after the ID after (for paging), at most limit of them, and whether more follow.
func (ix *Index) Hosts(after string, limit int, keep func(*HostSummary) bool) ([]HostSummary, bool) {
	return ix.listHosts(after, limit, false, keep)
}

// HostsAndRefused is Hosts with, besides, the enrolled hosts without a record whose
// reports are refused (NoRecord set): a host whose first report is refused must not be
// invisible.
func (ix *Index) HostsAndRefused(after string, limit int, keep func(*HostSummary) bool) ([]HostSummary, bool) {
	return ix.listHosts(after, limit, true, keep)
}

func (ix *Index) listHosts(after string, limit int, refused bool, keep func(*HostSummary) bool) ([]HostSummary, bool) {
	ix.mu.RLock()
	ids := make([]string, 0, len(ix.hosts))
	for id := range ix.hosts {
		if id > after {
			ids = append(ids, id)
		}
	}
	if refused {
		for _, shard := range ix.status {
			for id, st := range shard.hosts {
				if _, recorded := ix.hosts[id]; st.Refused != nil && !recorded && id > after {
					if _, enrolled := ix.agents[id]; enrolled {
						ids = append(ids, id)
					}
				}
			}
		}
	}
	ix.mu.RUnlock()
	slices.Sort(ids)
	var out []HostSummary
	for _, id := range ids {
		ix.mu.RLock()
		h, ok := ix.hosts[id]
		var hs HostSummary
		if ok {
			hs.Summary = h.Summary
			hs.Resolution = h.own.res
			if s, ok := ix.status[store.StatusShard(id)].hosts[id]; ok {
				hs.Status = &s
			}
		} else if a, enrolled := ix.agents[id]; enrolled && refused {
			if s, found := ix.status[store.StatusShard(id)].hosts[id]; found && s.Refused != nil {
				hs.Summary = Summary{ID: id, Hostname: a.Hostname}
				hs.Status, hs.NoRecord, ok = &s, true, true
			}
		}
		ix.mu.RUnlock()
		if !ok || (keep != nil && !keep(&hs)) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, hs)
	}
	return out, false
}

// Titles returns copies of every title with at least one host or a catalog entry.
func (ix *Index) Titles() []TitleEntry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]TitleEntry, 0, len(ix.titles))
	for _, t := range ix.titles {
		out = append(out, *t)
	}
	return out
}

// Services returns copies of every service title.
func (ix *Index) Services() []ServiceEntry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]ServiceEntry, 0, len(ix.services))
	for _, s := range ix.services {
		out = append(out, *s)
	}
	return out
}

// Counts returns the number of agents, hosts and titles.
func (ix *Index) Counts() (agents, hosts, titles int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.agents), len(ix.hosts), len(ix.titles)
}
