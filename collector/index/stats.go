package index

import (
	"cmp"
	"slices"
	"time"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// Defaults of StatsOptions, which the collector's metrics and flags use as well.
const (
	// DefaultNewSoftwareWindow: software first seen in the fleet this recently is new.
	DefaultNewSoftwareWindow = 7 * 24 * time.Hour
	// DefaultDiskPressureRatio is the share of a filesystem in use above which its host
	// counts as under disk pressure.
	DefaultDiskPressureRatio = 0.9
)

// StatsOptions say how FleetStats counts.
type StatsOptions struct {
	// Now is the time stale hosts and new software are measured from.
	Now time.Time
	// StaleAfter: a host not seen for longer is stale (0: none is).
	StaleAfter time.Duration
	// NewSoftwareWindow: unowned new software was first seen within it (0: DefaultNewSoftwareWindow).
	NewSoftwareWindow time.Duration
	// DiskPressureRatio: a host with a filesystem used above it is under disk pressure
	// (0: DefaultDiskPressureRatio).
	DiskPressureRatio float64
}

// FleetStats are the fleet-wide figures the metrics show, counted in one pass under the
// index's read lock. They derive from the store only, so every replica counts the same.
type FleetStats struct {
	// Coverage per kind, as Coverage returns it.
	Coverage []owners.Coverage
	// Owners are the active owners of the registry, sorted.
	Owners []string
	// OwnerAssets counts the assets each owner owns (orphaned assets are not counted), by
	// kind; an owner missing from the map owns nothing.
	OwnerAssets map[string]map[owners.Kind]int
	// UnownedNew are the unowned newly installed titles, the most widespread first.
	UnownedNew []NewTitle
	// HostsByOSFamily counts the hosts by OS family ("" when unknown).
	HostsByOSFamily map[string]int
	// StaleHosts have not been seen for StaleAfter; DiskPressureHosts have a filesystem
	// used above DiskPressureRatio.
	StaleHosts, DiskPressureHosts int
	// RefusedHosts are the enrolled hosts whose reports are refused (no report accepted
	// since the last refusal), with or without a record; LongestRefused is how long the one
	// refused the longest has been (0 when none is).
	RefusedHosts   int
	LongestRefused time.Duration
	// OwnerCapacity is the capacity of the hosts per host owner ("" for unowned and
	// orphaned hosts); Fleet is the sum.
	OwnerCapacity map[string]*Capacity
	Fleet         Capacity
}

// NewTitle is an unowned software title installed on a host after its first report and first
// seen in the fleet within the window: the API's unowned_new.
type NewTitle struct {
	Title, Source, Name string
	FirstSeen           time.Time
	Hosts, Installed    int
}

// Capacity sums the capacity of some hosts. Memory used is total minus available, from the
// hosts' status; disk used comes from the status too, so hosts without one count as unused.
type Capacity struct {
	Hosts                   int
	CPUCores                int
	MemoryTotal, MemoryUsed uint64
	DiskTotal, DiskUsed     uint64
}

func (c *Capacity) add(o *Capacity) {
	c.Hosts += o.Hosts
	c.CPUCores += o.CPUCores
	c.MemoryTotal += o.MemoryTotal
	c.MemoryUsed += o.MemoryUsed
	c.DiskTotal += o.DiskTotal
	c.DiskUsed += o.DiskUsed
}

// FleetStats counts the fleet's figures.
func (ix *Index) FleetStats(o StatsOptions) *FleetStats {
	if o.NewSoftwareWindow <= 0 {
		o.NewSoftwareWindow = DefaultNewSoftwareWindow
	}
	if o.DiskPressureRatio <= 0 {
		o.DiskPressureRatio = DefaultDiskPressureRatio
	}
	c := &statsCount{o: o, newSince: o.Now.Add(-o.NewSoftwareWindow), s: &FleetStats{OwnerAssets: map[string]map[owners.Kind]int{}, HostsByOSFamily: map[string]int{},
		OwnerCapacity: map[string]*Capacity{}}}
	c.host.Kind, c.sw.Kind, c.svc.Kind = owners.KindHost, owners.KindSoftware, owners.KindService
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, ow := range ix.registry.Owners {
		if !ow.Retired() {
			c.s.Owners = append(c.s.Owners, ow.ID)
		}
	}
	slices.Sort(c.s.Owners)
	for id, h := range ix.hosts {
		st, hasStatus := ix.status[store.StatusShard(id)].hosts[id]
		c.addHost(h, st, hasStatus)
	}
	c.addRefused(ix)
	for key, t := range ix.titles {
		c.addTitle(key, t)
	}
	c.host.Done()
	c.sw.Done()
	c.svc.Done()
	c.s.Coverage = []owners.Coverage{c.host, c.sw, c.svc}
	slices.SortFunc(c.s.UnownedNew, func(a, b NewTitle) int {
		return cmp.Or(cmp.Compare(b.Hosts, a.Hosts), cmp.Compare(b.Installed, a.Installed), cmp.Compare(a.Title, b.Title))
	})
	return c.s
}

// statsCount is one pass of FleetStats over the index.
type statsCount struct {
	o             StatsOptions
	newSince      time.Time // titles first seen since are new
	s             *FleetStats
	host, sw, svc owners.Coverage
}

// count adds n assets of kind to owner's.
func (c *statsCount) count(owner string, kind owners.Kind, n int) {
	m := c.s.OwnerAssets[owner]
	if m == nil {
		m = map[owners.Kind]int{}
		c.s.OwnerAssets[owner] = m
	}
	m[kind] += n
}

// addHost counts a host: its ownership and its services', its OS family, whether it is
// stale, and its capacity (used memory and disk from its status, when it has one).
func (c *statsCount) addHost(h *HostEntry, st store.HostStatus, hasStatus bool) {
	res := &h.own.res
	c.host.Add(res)
	n, owned, orphaned := len(h.services), int(h.own.svcOwned), int(h.own.svcOrphaned)
	c.svc.Total += n
	c.svc.Owned += owned
	c.svc.Orphaned += orphaned
	c.svc.Unowned += n - owned
	owner := ""
	if res.Owned() {
		owner = res.Owner
		c.count(owner, owners.KindHost, 1)
	}
	for _, oc := range h.own.svcOwners {
		c.count(oc.owner, owners.KindService, int(oc.n))
	}
	c.s.HostsByOSFamily[h.osFamily]++
	seen := h.Summary.UpdatedAt
	if hasStatus && st.LastSeen.After(seen) {
		seen = st.LastSeen
	}
	if c.o.StaleAfter > 0 && c.o.Now.Sub(seen) > c.o.StaleAfter {
		c.s.StaleHosts++
	}
	capa := Capacity{Hosts: 1, CPUCores: h.Summary.CPUThreads, MemoryTotal: h.Summary.MemoryBytes, DiskTotal: h.Summary.DiskBytes}
	if hasStatus && c.addUse(h, st, &capa) {
		c.s.DiskPressureHosts++
	}
	oc := c.s.OwnerCapacity[owner]
	if oc == nil {
		oc = &Capacity{}
		c.s.OwnerCapacity[owner] = oc
	}
	oc.add(&capa)
	c.s.Fleet.add(&capa)
}

// addUse adds a host's used memory and disk from its status to capa, and reports whether
// one of its filesystems is fuller than the disk-pressure ratio.
func (c *statsCount) addUse(h *HostEntry, st store.HostStatus, capa *Capacity) (pressure bool) {
	if avail := st.Capacity.MemoryAvailable; avail > 0 && avail <= capa.MemoryTotal {
		capa.MemoryUsed = capa.MemoryTotal - avail
	}
	for _, fs := range h.filesystems {
		for _, use := range st.Capacity.Filesystems {
			if use.Mountpoint != fs.mountpoint {
				continue
			}
			capa.DiskUsed += use.UsedBytes
			if fs.total > 0 && float64(use.UsedBytes) > c.o.DiskPressureRatio*float64(fs.total) {
				pressure = true
			}
			break
		}
	}
	return pressure
}

// addRefused counts the enrolled hosts whose reports are refused, and the longest refusal.
func (c *statsCount) addRefused(ix *Index) {
	for _, shard := range ix.status {
		for id, st := range shard.hosts {
			if st.Refused == nil {
				continue
			}
			if _, ok := ix.agents[id]; !ok {
				continue
			}
			c.s.RefusedHosts++
			if d := c.o.Now.Sub(st.Refused.Since); d > c.s.LongestRefused {
				c.s.LongestRefused = d
			}
		}
	}
}

// addTitle counts a title some host has: its ownership, and whether it is unowned and new.
func (c *statsCount) addTitle(key string, t *TitleEntry) {
	if t.Hosts <= 0 {
		return
	}
	c.sw.Add(&t.Ownership)
	if t.Ownership.Owned() {
		c.count(t.Ownership.Owner, owners.KindSoftware, 1)
	} else if t.Installed > 0 && !t.FirstSeen.IsZero() && !t.FirstSeen.Before(c.newSince) {
		c.s.UnownedNew = append(c.s.UnownedNew, NewTitle{Title: key, Source: t.Source, Name: t.Name, FirstSeen: t.FirstSeen,
			Hosts: t.Hosts, Installed: t.Installed})
	}
}
