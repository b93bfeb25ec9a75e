// Package index is the collector's in-memory view of the store, kept by list and watch like
// a Kubernetes informer: it lists every key at one revision, then applies the changes from the
// next revision on, and lists again when etcd has compacted the revision it was watching
// from. Every collector replica on one etcd cluster builds the same index, so all of them
// serve the same answers. Readiness waits for the first list.
package index

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// Options configure an Index.
type Options struct {
	Store      *store.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// PageSize is the number of keys per list request (default 500).
	PageSize int64
}

// Index holds the fleet in memory.
type Index struct {
	st       *store.Store
	log      *slog.Logger
	pageSize int64

	mu     sync.RWMutex
	rev    int64
	synced bool
	ready  chan struct{}
	cond   *sync.Cond // broadcast when rev advances

	// state is everything a list builds: a relist swaps it whole, so nothing the watch
	// maintains is left behind from before.
	state
	// bulk is set while list fills a fresh index, which resolves everything once at the end.
	bulk bool

	metrics *metrics
}

// state is the fleet as the index holds it, built from the store's keys alone.
type state struct {
	agents   map[string]AgentEntry
	hosts    map[string]*HostEntry
	titles   map[string]*TitleEntry // by "source:name"
	services map[string]*ServiceEntry
	status   map[string]statusShard // by shard name
	builds   map[uint32]store.Build
	buildIDs map[string]uint32 // by store.BuildKey
	names    []string          // interned title and service names, by number
	nameIDs  map[string]uint32
	svcAttrs map[uint32]owners.ServiceAttrs // parsed service titles, by name number
	// installers holds, per title number, the hosts where the title was installed after
	// their first report (the hosts TitleEntry.Installed counts).
	installers map[uint32]map[string]struct{}

	// Ownership: the registry in the store, its key's revision, and the resolver every
	// asset's owner is resolved with.
	registry *owners.Registry
	regRev   int64
	resolver *owners.Resolver
}

// AgentEntry is an enrolled agent with the revision of its key.
type AgentEntry struct {
	store.Agent
	ModRevision int64
}

// HostEntry is one host: its stored record, undecoded, and what the lists need.
type HostEntry struct {
	ModRevision int64
	Raw         []byte
	Summary     Summary
	// Interned names (see Index.intern), sorted and distinct: 4 bytes each, so 100,000
	// hosts of 1,000 packages take 400 MB rather than the 2 GB of string headers.
	titles    []uint32 // "source:name"
	installed []uint32 // titles installed after the host's first report
	services  []uint32 // "systemd:<unit>", "port:<proto>/<port>"
	own       ownership
	// What the fleet metrics need from the record: the OS family and the filesystems'
	// sizes (their use is volatile and comes with the host's status).
	osFamily    string
	filesystems []fsSize
}

// fsSize is the size of one filesystem of a host.
type fsSize struct {
	mountpoint string
	total      uint64
}

// Summary is what host lists show.
type Summary struct {
	ID          string            `json:"id"`
	Hostname    string            `json:"hostname"`
	FQDN        string            `json:"fqdn,omitempty"`
	OS          string            `json:"os,omitempty"`
	OSID        string            `json:"os_id,omitempty"`
	Arch        string            `json:"arch,omitempty"`
	VM          string            `json:"vm,omitempty"`
	Container   string            `json:"container,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	CPUThreads  int               `json:"cpu_threads"`
	MemoryBytes uint64            `json:"memory_bytes"`
	DiskBytes   uint64            `json:"disk_bytes"`
	Software    int               `json:"software"`
	Services    int               `json:"services"`
	Listeners   int               `json:"listeners"`
	Hash        string            `json:"hash"`
	Seq         uint64            `json:"seq"`
	FirstReport time.Time         `json:"first_report"`
	UpdatedAt   time.Time         `json:"updated_at"`
	SourceError []string          `json:"source_errors,omitempty"`
}

// TitleEntry is a software title with its fleet-wide counts.
type TitleEntry struct {
	store.Title
	// Catalogued is set once the title's catalog key has been seen.
	Catalogued bool
	Hosts      int // hosts that have it
	Installed  int // hosts where it was installed after their first report
	// Ownership is the title's owner, fleet-wide.
	Ownership owners.Resolution
}

// ServiceEntry is a service title (a systemd unit or a listening port) with its host count.
type ServiceEntry struct {
	Title string `json:"title"`
	Kind  string `json:"kind"` // systemd, port
	Name  string `json:"name"`
	Hosts int    `json:"hosts"`
}

type statusShard struct {
	modRev int64
	hosts  map[string]store.HostStatus
}

// New returns an Index; Run fills it.
func New(opts Options) (*Index, error) {
	if opts.Store == nil {
		return nil, errors.New("index: no store")
	}
	ix := &Index{st: opts.Store, log: opts.Logger, pageSize: opts.PageSize, ready: make(chan struct{})}
	if ix.log == nil {
		ix.log = slog.New(slog.DiscardHandler)
	}
	ix.cond = sync.NewCond(ix.mu.RLocker())
	ix.reset()
	ix.metrics = newMetrics(ix)
	if opts.Registerer != nil {
		if err := ix.metrics.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

func (ix *Index) reset() {
	ix.state = state{
		agents:     map[string]AgentEntry{},
		hosts:      map[string]*HostEntry{},
		titles:     map[string]*TitleEntry{},
		services:   map[string]*ServiceEntry{},
		status:     map[string]statusShard{},
		builds:     map[uint32]store.Build{},
		buildIDs:   map[string]uint32{},
		nameIDs:    map[string]uint32{},
		svcAttrs:   map[uint32]owners.ServiceAttrs{},
		installers: map[uint32]map[string]struct{}{},
		registry:   &owners.Registry{},
		resolver:   emptyResolver(),
	}
}

// intern returns the number of a title or service name; the caller holds the write lock.
func (ix *Index) intern(s string) uint32 {
	if id, ok := ix.nameIDs[s]; ok {
		return id
	}
	id := uint32(len(ix.names))
	ix.names = append(ix.names, s)
	ix.nameIDs[s] = id
	return id
}

// Ready is closed once the index holds a complete list of the store.
func (ix *Index) Ready() <-chan struct{} { return ix.ready }

// Run lists and watches the store until ctx ends, listing again after a compaction or a
// broken watch (with a pause of up to 5 s between failing attempts).
func (ix *Index) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		rev, err := ix.list(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			err = ix.st.Watch(ctx, rev+1, ix.applyEvents)
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			ix.log.Info("watch revision compacted; listing again", "err", err)
		} else {
			ix.log.Warn("store watch failed; listing again", "err", err, "retry_in", backoff)
		}
		ix.metrics.relists.Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// list reads the whole store into a fresh index and swaps it in.
func (ix *Index) list(ctx context.Context) (int64, error) {
	fresh := &Index{st: ix.st, log: ix.log, bulk: true}
	fresh.reset()
	start := time.Now()
	rev, err := ix.st.List(ctx, ix.pageSize, func(kv store.KV) error {
		fresh.apply(change{Event: store.Event{KV: kv}})
		return nil
	})
	if err != nil {
		return 0, err
	}
	fresh.bulk = false
	fresh.resolveAll()
	ix.mu.Lock()
	ix.state = fresh.state
	ix.rev = rev
	first := !ix.synced
	ix.synced = true
	ix.mu.Unlock()
	ix.cond.Broadcast()
	if first {
		close(ix.ready)
	}
	ix.log.Info("store listed", "revision", rev, "hosts", len(fresh.hosts), "titles", len(fresh.titles), "took", time.Since(start).Round(time.Millisecond))
	return rev, nil
}

func (ix *Index) applyEvents(evs []store.Event, rev int64) error {
	ix.mu.Lock()
	for _, ev := range evs {
		ix.apply(change{Event: ev})
	}
	if rev > ix.rev {
		ix.rev = rev
	}
	ix.mu.Unlock()
	ix.metrics.events.Add(float64(len(evs)))
	ix.metrics.observeRev(rev)
	ix.cond.Broadcast()
	return nil
}

// change is a store event, with the decoded host record when the caller already has it.
type change struct {
	store.Event
	record *store.HostRecord
}

// apply folds one key change into the index; the caller holds the write lock.
func (ix *Index) apply(ev change) {
	if ix.st.IsRegistry(ev.Key) {
		ix.applyRegistry(ev.Event)
		return
	}
	kind, name, ok := ix.st.Split(ev.Key)
	if !ok {
		return
	}
	switch kind {
	case store.KindAgent:
		if cur, ok := ix.agents[name]; ok && cur.ModRevision >= ev.ModRevision && !ev.Deleted {
			return
		}
		if ev.Deleted {
			delete(ix.agents, name)
			return
		}
		var a store.Agent
		if err := jsonUnmarshal(ev.Value, &a); err != nil {
			ix.log.Warn("unreadable agent key skipped", "key", ev.Key, "err", err)
			return
		}
		ix.agents[name] = AgentEntry{Agent: a, ModRevision: ev.ModRevision}
	case store.KindHost:
		old := ix.hosts[name]
		if old != nil && old.ModRevision >= ev.ModRevision && !ev.Deleted {
			return
		}
		var fresh *HostEntry
		if !ev.Deleted {
			rec := ev.record
			if rec == nil {
				var err error
				if rec, err = store.DecodeHost(ev.Value, ix.build); err != nil {
					ix.log.Warn("unreadable host record skipped", "key", ev.Key, "err", err)
					return
				}
			}
			fresh = ix.newHostEntry(rec, ev.Value, ev.ModRevision)
		}
		ix.replaceHost(name, old, fresh)
	case store.KindBuild:
		if ev.Deleted {
			return
		}
		b, err := store.DecodeBuild(ev.Value)
		if err != nil {
			ix.log.Warn("unreadable build key skipped", "key", ev.Key, "err", err)
			return
		}
		ix.builds[b.ID] = b
		ix.buildIDs[b.Key()] = b.ID
	case store.KindTitle:
		src, n, ok := store.SplitTitleName(name)
		if !ok {
			return
		}
		key := ix.names[ix.intern(model.TitleKey(src, n))]
		t := ix.titles[key]
		if ev.Deleted {
			if t != nil {
				t.Catalogued = false
			}
			return
		}
		var rec store.Title
		if err := jsonUnmarshal(ev.Value, &rec); err != nil {
			ix.log.Warn("unreadable title key skipped", "key", ev.Key, "err", err)
			return
		}
		if t == nil {
			t = &TitleEntry{}
			ix.titles[key] = t
		}
		t.Title, t.Catalogued = rec, true
		if !ix.bulk {
			ix.resolveTitle(t)
		}
	case store.KindStatus:
		if cur, ok := ix.status[name]; ok && cur.modRev >= ev.ModRevision && !ev.Deleted {
			return
		}
		if ev.Deleted {
			delete(ix.status, name)
			return
		}
		m, err := store.DecodeStatus(ev.Value)
		if err != nil {
			ix.log.Warn("unreadable status shard skipped", "key", ev.Key, "err", err)
			return
		}
		ix.status[name] = statusShard{modRev: ev.ModRevision, hosts: m}
	}
}

func (ix *Index) newHostEntry(rec *store.HostRecord, raw []byte, modRev int64) *HostEntry {
	e := &HostEntry{ModRevision: modRev, Raw: raw}
	h := rec.Host
	e.own.attrs = owners.HostAttrsOf(h)
	e.own.attrs.ID = rec.HostID
	e.Summary = Summary{ID: rec.HostID, Hostname: h.Hostname, FQDN: h.FQDN, OS: h.OS.PrettyName, OSID: h.OS.ID, Arch: h.Arch,
		VM: h.Virtualization.VM, Container: h.Virtualization.Container, Labels: h.Labels, CPUThreads: h.CPU.Threads,
		MemoryBytes: h.Memory.TotalBytes, Software: len(rec.Software), Services: len(rec.Services), Listeners: len(rec.Listeners),
		Hash: rec.Hash, Seq: rec.Seq, FirstReport: rec.FirstReport, UpdatedAt: rec.UpdatedAt}
	e.osFamily = h.OS.Family
	for _, fs := range h.Filesystems {
		e.Summary.DiskBytes += fs.TotalBytes
		e.filesystems = append(e.filesystems, fsSize{mountpoint: fs.Mountpoint, total: fs.TotalBytes})
	}
	for _, s := range rec.Sources {
		if s.State == "error" {
			e.Summary.SourceError = append(e.Summary.SourceError, s.Name)
		}
	}
	e.titles = make([]uint32, 0, len(rec.Software))
	var buf []byte
	for _, in := range rec.Software {
		buf = model.AppendTitleKey(buf[:0], in.Source, in.Name)
		id, ok := ix.nameIDs[string(buf)] // no allocation when the name is known
		if !ok {
			id = ix.intern(string(buf))
		}
		e.titles = append(e.titles, id)
		if in.Installed {
			e.installed = append(e.installed, id)
		}
	}
	e.titles = sortedSet(e.titles)
	e.installed = sortedSet(e.installed)
	for _, s := range rec.Services {
		id := ix.intern(s.Manager + ":" + s.Name)
		if _, ok := ix.svcAttrs[id]; !ok {
			ix.svcAttrs[id] = owners.UnitService(s.Manager, s.Name)
		}
		e.services = append(e.services, id)
	}
	for _, l := range rec.Listeners {
		id := ix.intern("port:" + strings.TrimSuffix(l.Protocol, "6") + "/" + itoa(int(l.Port)))
		if _, ok := ix.svcAttrs[id]; !ok {
			ix.svcAttrs[id] = owners.PortService(l.Protocol, l.Port)
		}
		e.services = append(e.services, id)
	}
	e.services = sortedSet(e.services)
	return e
}

// replaceHost swaps a host's entry and keeps the title and service counts in step.
func (ix *Index) replaceHost(id string, old, fresh *HostEntry) {
	hostID := id
	if old != nil {
		for _, id := range old.titles {
			if te := ix.titles[ix.names[id]]; te != nil {
				te.Hosts--
			}
		}
		for _, id := range old.installed {
			if te := ix.titles[ix.names[id]]; te != nil {
				te.Installed--
			}
			if set := ix.installers[id]; set != nil {
				delete(set, hostID)
				if len(set) == 0 {
					delete(ix.installers, id)
				}
			}
		}
		for _, id := range old.services {
			s := ix.names[id]
			if se := ix.services[s]; se != nil {
				se.Hosts--
				if se.Hosts <= 0 {
					delete(ix.services, s)
				}
			}
		}
	}
	if fresh == nil {
		delete(ix.hosts, id)
	} else {
		ix.hosts[id] = fresh
		for _, id := range fresh.titles {
			t := ix.names[id]
			te := ix.titles[t]
			if te == nil {
				src, name, _ := model.SplitTitleKey(t)
				te = &TitleEntry{Title: store.Title{Source: src, Name: name}}
				ix.titles[t] = te
				if !ix.bulk {
					ix.resolveTitle(te)
				}
			}
			te.Hosts++
		}
		for _, id := range fresh.installed {
			ix.titles[ix.names[id]].Installed++
			set := ix.installers[id]
			if set == nil {
				set = map[string]struct{}{}
				ix.installers[id] = set
			}
			set[hostID] = struct{}{}
		}
		for _, id := range fresh.services {
			s := ix.names[id]
			se := ix.services[s]
			if se == nil {
				kind, name, _ := strings.Cut(s, ":")
				se = &ServiceEntry{Title: s, Kind: kind, Name: name}
				ix.services[s] = se
			}
			se.Hosts++
		}
		if !ix.bulk {
			ix.resolveHost(fresh)
		}
	}
	// Titles that no host has and the catalog does not hold were only counted: drop them.
	if old != nil {
		for _, id := range old.titles {
			if t := ix.names[id]; ix.titles[t] != nil && ix.titles[t].Hosts <= 0 && !ix.titles[t].Catalogued {
				delete(ix.titles, t)
			}
		}
	}
}

// build looks a build up by number; the caller holds the lock.
func (ix *Index) build(id uint32) (store.Build, bool) {
	b, ok := ix.builds[id]
	return b, ok
}

// DecodeHost decodes a stored host record with the builds the index knows, and those more
// knows (nil: none), which a writer numbered before the watch brought them.
func (ix *Index) DecodeHost(raw []byte, more func(uint32) (store.Build, bool)) (*store.HostRecord, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return store.DecodeHost(raw, func(id uint32) (store.Build, bool) {
		if b, ok := ix.builds[id]; ok {
			return b, true
		}
		if more != nil {
			return more(id)
		}
		return store.Build{}, false
	})
}

// BuildNumbers returns the numbers of the builds the index knows, by store.BuildKey.
func (ix *Index) BuildNumbers(keys []string) map[string]uint32 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[string]uint32, len(keys))
	for _, k := range keys {
		if id, ok := ix.buildIDs[k]; ok {
			out[k] = id
		}
	}
	return out
}

// Revision returns the store revision the index reflects.
func (ix *Index) Revision() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.rev
}

// WaitRevision waits until the index reflects rev or ctx ends.
func (ix *Index) WaitRevision(ctx context.Context, rev int64) error {
	stop := context.AfterFunc(ctx, func() {
		ix.mu.Lock()
		ix.cond.Broadcast()
		ix.mu.Unlock()
	})
	defer stop()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for ix.rev < rev {
		if err := ctx.Err(); err != nil {
			return err
		}
		ix.cond.Wait()
	}
	return nil
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

// StatusShard returns a copy of a status shard and its revision.
func (ix *Index) StatusShard(shard string) (map[string]store.HostStatus, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.status[shard]
	out := make(map[string]store.HostStatus, len(s.hosts))
	for k, v := range s.hosts {
		out[k] = v
	}
	return out, s.modRev
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

// Catalogued says which of the given titles the catalog already holds.
func (ix *Index) Catalogued(titles []string) map[string]bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[string]bool, len(titles))
	for _, t := range titles {
		if te, ok := ix.titles[t]; ok && te.Catalogued {
			out[t] = true
		}
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

func sortedSet(s []uint32) []uint32 {
	slices.Sort(s)
	return slices.Compact(s)
}
