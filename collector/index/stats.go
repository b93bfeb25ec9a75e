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
	newSince := o.Now.Add(-o.NewSoftwareWindow)
	s := &FleetStats{OwnerAssets: map[string]map[owners.Kind]int{}, HostsByOSFamily: map[string]int{}, OwnerCapacity: map[string]*Capacity{}}
	count := func(owner string, kind owners.Kind, n int) {
		m := s.OwnerAssets[owner]
		if m == nil {
			m = map[owners.Kind]int{}
			s.OwnerAssets[owner] = m
		}
		m[kind] += n
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, ow := range ix.registry.Owners {
		if !ow.Retired() {
			s.Owners = append(s.Owners, ow.ID)
		}
	}
	slices.Sort(s.Owners)
	var host, sw, svc owners.Coverage
	host.Kind, sw.Kind, svc.Kind = owners.KindHost, owners.KindSoftware, owners.KindService
	for id, h := range ix.hosts {
		res := &h.own.res
		host.Add(res)
		n, owned, orphaned := len(h.services), int(h.own.svcOwned), int(h.own.svcOrphaned)
		svc.Total += n
		svc.Owned += owned
		svc.Orphaned += orphaned
		svc.Unowned += n - owned
		owner := ""
		if res.Owned() {
			owner = res.Owner
			count(owner, owners.KindHost, 1)
		}
		for _, oc := range h.own.svcOwners {
			count(oc.owner, owners.KindService, int(oc.n))
		}

		s.HostsByOSFamily[h.osFamily]++
		st, hasStatus := ix.status[store.StatusShard(id)].hosts[id]
		seen := h.Summary.UpdatedAt
		if hasStatus && st.LastSeen.After(seen) {
			seen = st.LastSeen
		}
		if o.StaleAfter > 0 && o.Now.Sub(seen) > o.StaleAfter {
			s.StaleHosts++
		}
		c := Capacity{Hosts: 1, CPUCores: h.Summary.CPUThreads, MemoryTotal: h.Summary.MemoryBytes, DiskTotal: h.Summary.DiskBytes}
		if hasStatus {
			if avail := st.Capacity.MemoryAvailable; avail > 0 && avail <= c.MemoryTotal {
				c.MemoryUsed = c.MemoryTotal - avail
			}
			pressure := false
			for _, fs := range h.filesystems {
				for _, use := range st.Capacity.Filesystems {
					if use.Mountpoint != fs.mountpoint {
						continue
					}
					c.DiskUsed += use.UsedBytes
					if fs.total > 0 && float64(use.UsedBytes) > o.DiskPressureRatio*float64(fs.total) {
						pressure = true
					}
					break
				}
			}
			if pressure {
				s.DiskPressureHosts++
			}
		}
		oc := s.OwnerCapacity[owner]
		if oc == nil {
			oc = &Capacity{}
			s.OwnerCapacity[owner] = oc
		}
		oc.add(&c)
		s.Fleet.add(&c)
	}
	for _, shard := range ix.status {
		for id, st := range shard.hosts {
			if st.Refused == nil {
				continue
			}
			if _, ok := ix.agents[id]; !ok {
				continue
			}
			s.RefusedHosts++
			if d := o.Now.Sub(st.Refused.Since); d > s.LongestRefused {
				s.LongestRefused = d
			}
		}
	}
	for key, t := range ix.titles {
		if t.Hosts <= 0 {
			continue
		}
		sw.Add(&t.Ownership)
		if t.Ownership.Owned() {
			count(t.Ownership.Owner, owners.KindSoftware, 1)
		} else if t.Installed > 0 && !t.FirstSeen.IsZero() && !t.FirstSeen.Before(newSince) {
			s.UnownedNew = append(s.UnownedNew, NewTitle{Title: key, Source: t.Source, Name: t.Name, FirstSeen: t.FirstSeen,
				Hosts: t.Hosts, Installed: t.Installed})
		}
	}
	host.Done()
	sw.Done()
	svc.Done()
	s.Coverage = []owners.Coverage{host, sw, svc}
	slices.SortFunc(s.UnownedNew, func(a, b NewTitle) int {
		return cmp.Or(cmp.Compare(b.Hosts, a.Hosts), cmp.Compare(b.Installed, a.Installed), cmp.Compare(a.Title, b.Title))
	})
	return s
}
