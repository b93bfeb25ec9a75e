package index

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// ErrUnknownAsset means Why was asked about an asset the index does not hold.
var ErrUnknownAsset = errors.New("index: no such asset")

// ErrBadAsset means Why was asked about a malformed asset name.
var ErrBadAsset = errors.New("index: bad asset")

// ownership is what the index knows of a host's ownership; guarded by the index's lock.
type ownership struct {
	attrs owners.HostAttrs
	res   owners.Resolution
	// svc resolves the host's services under the current resolver (memoized per class of
	// hosts by the engine), so a service instance's owner costs a lookup and is not stored.
	svc         owners.HostServices
	svcOwned    int32
	svcOrphaned int32
	// svcOwners counts the owned service instances per owner, for the per-owner metrics.
	svcOwners []ownerCount
}

type ownerCount struct {
	owner string
	n     int32
}

// emptyResolver is the resolver of a store without a registry: every asset is unowned.
func emptyResolver() *owners.Resolver {
	r, err := owners.NewResolver(&owners.Registry{})
	if err != nil {
		panic(err) // an empty registry is valid
	}
	return r
}

// decodeRegistry returns the registry and resolver of a registry event, or ok false (logged)
// for one to skip: older than the one held, unreadable or refused.
func (ix *Index) decodeRegistry(ev store.Event) (*owners.Registry, *owners.Resolver, bool) {
	if ev.ModRevision != 0 && ev.ModRevision <= ix.regRev && !ev.Deleted {
		return nil, nil, false
	}
	reg := &owners.Registry{}
	if !ev.Deleted {
		var err error
		if reg, err = store.DecodeRegistry(ev.Value); err != nil {
			ix.log.Warn("unreadable ownership registry skipped; keeping the previous one", "key", ev.Key, "err", err)
			return nil, nil, false
		}
	}
	r, err := owners.NewResolver(reg)
	if err != nil {
		ix.log.Warn("ownership registry refused; keeping the previous one", "key", ev.Key, "err", err)
		return nil, nil, false
	}
	return reg, r, true
}

// applyRegistry takes a new registry from the store while the index is being listed (list
// resolves everything once at the end). The caller holds the write lock.
func (ix *Index) applyRegistry(ev store.Event) {
	if reg, r, ok := ix.decodeRegistry(ev); ok {
		ix.registry, ix.regRev, ix.resolver = reg, ev.ModRevision, r
	}
}

// takeRegistry takes a new registry from the watch: every asset is resolved under it aside,
// under the read lock, so that reports and reads go on meanwhile, and the results are swapped
// in under the write lock, which is held for assignments only. Only the watch writes the
// index, so nothing changes between the two. The caller holds no lock.
func (ix *Index) takeRegistry(ev store.Event) {
	ix.mu.RLock()
	reg, r, ok := ix.decodeRegistry(ev)
	if !ok {
		ix.mu.RUnlock()
		return
	}
	start := time.Now()
	hosts := make([]ownership, 0, len(ix.hosts))
	order := make([]*HostEntry, 0, len(ix.hosts))
	for _, h := range ix.hosts {
		order = append(order, h)
		hosts = append(hosts, ix.ownershipOf(r, h))
	}
	facts, rebuilt := ix.facts, r.UsesInstallations() != (ix.facts != nil)
	if rebuilt {
		facts = ix.rebuildFacts(r)
	}
	titles := make([]owners.Resolution, 0, len(ix.titles))
	torder := make([]*TitleEntry, 0, len(ix.titles))
	for key, t := range ix.titles {
		torder = append(torder, t)
		id, ok := ix.nameIDs[key]
		f := facts
		if !ok {
			f = nil
		}
		titles = append(titles, r.ResolveSoftware(attrsOf(&t.Title, id, f)))
	}
	ix.mu.RUnlock()
	aside := time.Since(start)
	ix.mu.Lock()
	ix.registry, ix.regRev, ix.resolver = reg, ev.ModRevision, r
	if rebuilt {
		ix.takeFacts(facts)
	}
	for i, h := range order {
		h.own = hosts[i]
	}
	for i, t := range torder {
		t.Ownership = titles[i]
	}
	ix.mu.Unlock()
	if ix.metrics != nil {
		ix.metrics.resolve.Observe(time.Since(start).Seconds())
	}
	ix.log.Info("ownership resolved", "registry_revision", ev.ModRevision, "hosts", len(order), "titles", len(torder),
		"took", time.Since(start).Round(time.Microsecond), "write_locked", (time.Since(start) - aside).Round(time.Microsecond))
}

// resolveAll resolves every host, service instance and title under the current resolver.
// The caller holds the write lock.
func (ix *Index) resolveAll() {
	start := time.Now()
	if ix.resolver.UsesInstallations() != (ix.facts != nil) {
		ix.takeFacts(ix.rebuildFacts(ix.resolver))
	}
	for _, h := range ix.hosts {
		ix.resolveHost(h)
	}
	for _, t := range ix.titles {
		ix.resolveTitle(t)
	}
	if ix.metrics != nil {
		ix.metrics.resolve.Observe(time.Since(start).Seconds())
	}
	ix.log.Info("ownership resolved", "registry_revision", ix.regRev, "hosts", len(ix.hosts), "titles", len(ix.titles),
		"took", time.Since(start).Round(time.Microsecond))
}

// resolveHost resolves a host and its service instances; the caller holds the write lock.
func (ix *Index) resolveHost(h *HostEntry) { h.own = ix.ownershipOf(ix.resolver, h) }

// ownershipOf resolves a host and its service instances under r, into a new value; the
// caller holds a lock.
func (ix *Index) ownershipOf(r *owners.Resolver, h *HostEntry) ownership {
	o := ownership{attrs: h.own.attrs}
	o.res = r.ResolveHost(o.attrs)
	o.svc = r.ServicesOn(o.attrs, o.res)
	for _, id := range h.services {
		res := o.svc.Resolve(ix.svcAttrs[id])
		switch {
		case res.Owned():
			o.svcOwned++
			o.countOwner(res.Owner)
		case res.Orphaned:
			o.svcOrphaned++
		}
	}
	return o
}

// countOwner counts one owned service instance of owner (hosts have few owners: a scan).
func (o *ownership) countOwner(owner string) {
	for i := range o.svcOwners {
		if o.svcOwners[i].owner == owner {
			o.svcOwners[i].n++
			return
		}
	}
	o.svcOwners = append(o.svcOwners, ownerCount{owner: owner, n: 1})
}

func (ix *Index) resolveTitle(t *TitleEntry) {
	t.Ownership = ix.resolver.ResolveSoftware(ix.titleAttrs(t))
}

// Registry returns the ownership registry the index resolves with (shared: do not modify)
// and the revision of its key (0 when the store holds none).
func (ix *Index) Registry() (*owners.Registry, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.registry, ix.regRev
}

// Resolver returns the current resolver.
func (ix *Index) Resolver() *owners.Resolver {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.resolver
}

// Coverage counts the assets of each kind by ownership: hosts, the software titles some
// host has, and service instances.
func (ix *Index) Coverage() []owners.Coverage {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var host, sw, svc owners.Coverage
	host.Kind, sw.Kind, svc.Kind = owners.KindHost, owners.KindSoftware, owners.KindService
	for _, h := range ix.hosts {
		host.Add(&h.own.res)
		n, owned, orphaned := len(h.services), int(h.own.svcOwned), int(h.own.svcOrphaned)
		svc.Total += n
		svc.Owned += owned
		svc.Orphaned += orphaned
		svc.Unowned += n - owned
	}
	for _, t := range ix.titles {
		if t.Hosts > 0 {
			sw.Add(&t.Ownership)
		}
	}
	host.Done()
	sw.Done()
	svc.Done()
	return []owners.Coverage{host, sw, svc}
}

// Why is the answer to "who owns this asset, and why".
type Why struct {
	Asset string      `json:"asset"`
	Kind  owners.Kind `json:"kind"`
	owners.Resolution
	// Department is the top of the owner's chain of parents.
	Department string `json:"department,omitempty"`
	// OwnerInfo is the owner's entry in the registry.
	OwnerInfo *owners.Owner `json:"owner_info,omitempty"`
	// Suggestions are, for software or a service nobody owns, the owners that what the
	// hosts record points at (see Suggest); never applied.
	Suggestions []Suggestion `json:"suggestions,omitempty"`
}

// Why resolves one asset: "host:<id>", "software:<source>:<name>" or
// "service:<host id>/<service title>" (e.g. service:abc/systemd:nginx.service).
func (ix *Index) Why(asset string) (Why, error) {
	kind, key, ok := strings.Cut(asset, ":")
	if !ok || key == "" {
		return Why{}, fmt.Errorf("%w %q: want host:<id>, software:<source>:<name> or service:<host id>/<service>", ErrBadAsset, asset)
	}
	w := Why{Asset: asset, Kind: owners.Kind(kind)}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	switch w.Kind {
	case owners.KindHost:
		h, ok := ix.hosts[key]
		if !ok {
			return Why{}, fmt.Errorf("%w: no host %q", ErrUnknownAsset, key)
		}
		w.Resolution = h.own.res
	case owners.KindSoftware:
		if _, err := owners.ParseSoftwareKey(key); err != nil {
			return Why{}, fmt.Errorf("%w: %v", ErrBadAsset, err)
		}
		t, ok := ix.titles[key]
		if !ok {
			return Why{}, fmt.Errorf("%w: no software title %q", ErrUnknownAsset, key)
		}
		w.Resolution = t.Ownership
	case owners.KindService:
		hostID, title, ok := strings.Cut(key, "/")
		if !ok {
			return Why{}, fmt.Errorf("%w %q: want service:<host id>/<service>, e.g. service:abc/systemd:nginx.service", ErrBadAsset, asset)
		}
		sa, err := owners.ParseServiceKey(title)
		if err != nil {
			return Why{}, fmt.Errorf("%w: %v", ErrBadAsset, err)
		}
		h, ok := ix.hosts[hostID]
		if !ok {
			return Why{}, fmt.Errorf("%w: no host %q", ErrUnknownAsset, hostID)
		}
		id, known := ix.nameIDs[sa.Key()]
		if !known || !containsSorted(h.services, id) {
			return Why{}, fmt.Errorf("%w: host %q has no service %q", ErrUnknownAsset, hostID, sa.Key())
		}
		w.Resolution = h.own.svc.Resolve(sa)
	default:
		return Why{}, fmt.Errorf("%w %q: the kind is host, software or service", ErrBadAsset, asset)
	}
	if w.Owner != "" {
		w.Department = ix.resolver.Department(w.Owner)
		if o, ok := ix.resolver.Owner(w.Owner); ok {
			w.OwnerInfo = &o
		}
	}
	return w, nil
}

func containsSorted(s []uint32, v uint32) bool {
	lo, hi := 0, len(s)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case s[m] == v:
			return true
		case s[m] < v:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// Diff resolves every asset under the current registry and under next, and returns what
// replacing one by the other changes, listing at most maxAssets assets. It writes nothing.
func (ix *Index) Diff(next *owners.Registry, maxAssets int) (*owners.Diff, error) {
	r, err := owners.NewResolver(next)
	if err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	d := owners.NewDiff(ix.registry, next, maxAssets)
	facts := ix.facts
	if facts == nil {
		facts = ix.rebuildFacts(r)
	}
	for id, h := range ix.hosts {
		after := r.ResolveHost(h.own.attrs)
		d.Add(owners.KindHost, id, &h.own.res, &after)
		svc := r.ServicesOn(h.own.attrs, after)
		for _, sid := range h.services {
			sa := ix.svcAttrs[sid]
			b, a := h.own.svc.Resolve(sa), svc.Resolve(sa)
			d.Add(owners.KindService, id+"/"+ix.names[sid], &b, &a)
		}
	}
	for key, t := range ix.titles {
		if t.Hosts <= 0 {
			continue
		}
		id, ok := ix.nameIDs[key]
		f := facts
		if !ok {
			f = nil
		}
		after := r.ResolveSoftware(attrsOf(&t.Title, id, f))
		d.Add(owners.KindSoftware, key, &t.Ownership, &after)
	}
	d.Finish()
	return d, nil
}
