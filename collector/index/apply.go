package index

import (
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// apply folds one key change into the index; the caller holds the write lock. Events older
// than what the index holds of a key are skipped: a relist and the watch may both bring one.
func (ix *Index) apply(ev store.Event) {
	if ix.st.IsRegistry(ev.Key) {
		ix.applyRegistry(ev)
		return
	}
	kind, name, ok := ix.st.Split(ev.Key)
	if !ok {
		return
	}
	switch kind {
	case store.KindAgent:
		ix.applyAgent(name, ev)
	case store.KindHost:
		ix.applyHost(name, ev)
	case store.KindBuild:
		ix.applyBuild(ev)
	case store.KindTitle:
		ix.applyTitle(name, ev)
	case store.KindStatus:
		ix.applyStatus(name, ev)
	}
}

func (ix *Index) applyAgent(name string, ev store.Event) {
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
}

func (ix *Index) applyHost(name string, ev store.Event) {
	old := ix.hosts[name]
	if old != nil && old.ModRevision >= ev.ModRevision && !ev.Deleted {
		return
	}
	var fresh *HostEntry
	if !ev.Deleted {
		var rec *store.HostRecord
		if d := ix.decoded.Load(); d != nil {
			rec = (*d)(name, ev.ModRevision, ev.Value)
		}
		if rec == nil {
			var err error
			if rec, err = store.DecodeHostUnordered(ev.Value, ix.build); err != nil {
				ix.log.Warn("unreadable host record skipped", "key", ev.Key, "err", err)
				return
			}
		}
		fresh = ix.newHostEntry(rec, ev.Value, ev.ModRevision)
	}
	ix.replaceHost(name, old, fresh)
}

// applyListedHosts applies the host records of a list: decoded by as many workers as there
// are CPUs (decoding only reads the builds, all applied before), applied one at a time.
// The caller holds the index alone (a fresh one being listed).
func (ix *Index) applyListedHosts(kvs []store.KV) {
	type decoded struct {
		i   int
		rec *store.HostRecord
		err error
	}
	work := make(chan int)
	out := make(chan decoded, 64)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rec, err := store.DecodeHostUnordered(kvs[i].Value, ix.build)
				out <- decoded{i, rec, err}
			}
		}()
	}
	go func() {
		for i := range kvs {
			work <- i
		}
		close(work)
		wg.Wait()
		close(out)
	}()
	for d := range out {
		kv := kvs[d.i]
		if d.err != nil {
			ix.log.Warn("unreadable host record skipped", "key", kv.Key, "err", d.err)
			continue
		}
		_, name, _ := ix.st.Split(kv.Key)
		ix.replaceHost(name, ix.hosts[name], ix.newHostEntry(d.rec, kv.Value, kv.ModRevision))
	}
}

func (ix *Index) applyBuild(ev store.Event) {
	if ev.Deleted {
		return
	}
	b, err := store.DecodeBuild(ev.Value)
	if err != nil {
		ix.log.Warn("unreadable build key skipped", "key", ev.Key, "err", err)
		return
	}
	ix.builds[b.ID] = b
	ix.buildIDs[b.Ref()] = b.ID
}

func (ix *Index) applyTitle(name string, ev store.Event) {
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
}

func (ix *Index) applyStatus(name string, ev store.Event) {
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
	ix.status[name] = statusShard{modRev: ev.ModRevision, raw: ev.Value, hosts: m}
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
	if ix.facts != nil {
		e.facts = factsOf(rec, ix.nameIDs, ix.facts.canon)
	}
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
	changed := ix.replaceFacts(old, fresh)
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
	ix.resolveTitles(changed)
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

func sortedSet(s []uint32) []uint32 {
	slices.Sort(s)
	return slices.Compact(s)
}
