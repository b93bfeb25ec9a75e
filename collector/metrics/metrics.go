// Package metrics exposes the fleet as Prometheus metrics: ownership coverage, unowned new
// software, hosts and capacity. A Fleet counts them from the in-memory index at scrape time,
// so every collector replica on one etcd cluster shows the same values (except the counter
// onus_software_unowned_new_seen_total, which counts what this process saw).
//
// Cardinality is bounded whatever the fleet's size: no label takes a value per host. Owners
// come from the ownership registry, OS families from a fixed list, and the unowned new
// software series are capped.
package metrics

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/owners"
)

// Defaults of Options.
const (
	DefaultUnownedNewLimit   = 100
	DefaultNewSoftwareWindow = index.DefaultNewSoftwareWindow
	DefaultStaleAfter        = 3 * time.Minute
	// DiskPressureRatio is the share of a filesystem in use above which its host counts as
	// under disk pressure.
	DiskPressureRatio = index.DefaultDiskPressureRatio
)

// maxSeenTitles bounds the memory of the titles already counted by the seen counter.
const maxSeenTitles = 1 << 20

// Options configure a Fleet.
type Options struct {
	Index *index.Index
	// UnownedNewLimit caps the onus_software_unowned_new_info series (default 100; negative:
	// none).
	UnownedNewLimit int
	// NewSoftwareWindow is how recently unowned new software was first seen (default 7 days).
	NewSoftwareWindow time.Duration
	// StaleAfter: a host not seen for longer is stale (default 3 minutes, 3 heartbeats).
	StaleAfter time.Duration
	// StaleTolerated is how many stale hosts the OnusHostsStale alert tolerates: it fires
	// above it (default 0, any stale host). Shown as onus_hosts_stale_tolerated for the
	// alert to compare against.
	StaleTolerated int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fleet is a prometheus.Collector of the fleet's metrics.
type Fleet struct {
	opts Options

	mu   sync.Mutex
	seen map[string]struct{} // titles ever flagged as unowned new software
	// seenTotal counts them; it goes on counting once seen is full.
	seenTotal uint64
}

var (
	kindLabel = []string{"kind"}

	descAssets  = prometheus.NewDesc("onus_assets", "Assets in the inventory, by kind (host, software title, service instance).", kindLabel, nil)
	descUnowned = prometheus.NewDesc("onus_assets_unowned",
		"Assets without an active owner, by kind; orphaned assets are included.", kindLabel, nil)
	descOrphaned = prometheus.NewDesc("onus_assets_orphaned",
		"Assets whose owner is retired in the ownership registry, by kind.", kindLabel, nil)
	descCoverage = prometheus.NewDesc("onus_ownership_coverage_ratio",
		"Share of the assets of a kind that have an active owner (1 when there are none).", kindLabel, nil)
	descOwnerAssets = prometheus.NewDesc("onus_owner_assets",
		"Assets an active owner of the registry owns, by kind; orphaned assets are not counted.", []string{"owner", "kind"}, nil)
	descNewInfo = prometheus.NewDesc("onus_software_unowned_new_info",
		"Unowned software titles newly installed on a host after its first report and first seen in the fleet within the window, always 1; capped, the most widespread first.",
		[]string{"title", "source", "first_seen"}, nil)
	descNewTitles = prometheus.NewDesc("onus_software_unowned_new_titles",
		"Unowned software titles newly installed and first seen within the window, without the cap of the info series.", nil, nil)
	descNewSeen = prometheus.NewDesc("onus_software_unowned_new_seen_total",
		"Distinct software titles this collector process has flagged as unowned new software at a scrape; it starts again from 0 when the process restarts.", nil, nil)
	descHosts          = prometheus.NewDesc("onus_hosts", "Hosts in the inventory, by OS family.", []string{"os_family"}, nil)
	descHostsStale     = prometheus.NewDesc("onus_hosts_stale", "Hosts that have not reported for longer than the stale threshold (three heartbeat intervals by default).", nil, nil)
	descStaleTolerated = prometheus.NewDesc("onus_hosts_stale_tolerated",
		"Stale hosts the OnusHostsStale alert tolerates (the collector's --stale-hosts-tolerated): it fires when onus_hosts_stale is above.", nil, nil)
	descRefused = prometheus.NewDesc("onus_hosts_refused",
		"Enrolled hosts whose reports are refused: their last report got a 4xx (invalid structure, too large, wrong host…) and none was accepted since.", nil, nil)
	descRefusedLongest = prometheus.NewDesc("onus_hosts_refused_longest_seconds",
		"How long the reports of the host refused the longest have been refused, from the first refusal with no accepted report after it (0 when no host is refused).", nil, nil)
	descDiskPressure = prometheus.NewDesc("onus_hosts_disk_pressure",
		"Hosts with a filesystem more than 90 % used, from their last reported disk use.", nil, nil)
	descOwnerCPU = prometheus.NewDesc("onus_owner_cpu_cores",
		"CPU threads of the hosts an owner owns; unowned and orphaned hosts are under the empty owner.", []string{"owner"}, nil)
	descOwnerMemory = prometheus.NewDesc("onus_owner_memory_bytes",
		"Memory of the hosts an owner owns, total or used (total minus available), in bytes; unowned and orphaned hosts are under the empty owner.",
		[]string{"owner", "state"}, nil)
	descOwnerDisk = prometheus.NewDesc("onus_owner_disk_bytes",
		"Filesystem space of the hosts an owner owns, total or used, in bytes; unowned and orphaned hosts are under the empty owner.",
		[]string{"owner", "state"}, nil)
	descFleetCPU    = prometheus.NewDesc("onus_fleet_cpu_cores", "CPU threads of all the hosts in the inventory.", nil, nil)
	descFleetMemory = prometheus.NewDesc("onus_fleet_memory_bytes", "Memory of all the hosts, total or used (total minus available), in bytes.", []string{"state"}, nil)
	descFleetDisk   = prometheus.NewDesc("onus_fleet_disk_bytes", "Filesystem space of all the hosts, total or used, in bytes.", []string{"state"}, nil)
)

// osFamilies are the OS families shown as such; any other value counts as "other", and an
// unknown family as "unknown", so that agents cannot grow the label's values.
var osFamilies = map[string]bool{"debian": true, "rhel": true, "alpine": true, "arch": true, "suse": true, "other": true}

// New returns a Fleet; register it on a prometheus.Registerer.
func New(opts Options) (*Fleet, error) {
	if opts.Index == nil {
		return nil, errors.New("metrics: no index")
	}
	if opts.UnownedNewLimit == 0 {
		opts.UnownedNewLimit = DefaultUnownedNewLimit
	}
	if opts.NewSoftwareWindow <= 0 {
		opts.NewSoftwareWindow = DefaultNewSoftwareWindow
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Fleet{opts: opts, seen: map[string]struct{}{}}, nil
}

// Describe sends the descriptions of every metric.
func (f *Fleet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAssets, descUnowned, descOrphaned, descCoverage, descOwnerAssets, descNewInfo, descNewTitles,
		descNewSeen, descHosts, descHostsStale, descStaleTolerated, descRefused, descRefusedLongest, descDiskPressure, descOwnerCPU, descOwnerMemory, descOwnerDisk, descFleetCPU, descFleetMemory,
		descFleetDisk} {
		ch <- d
	}
}

var kinds = []owners.Kind{owners.KindHost, owners.KindSoftware, owners.KindService}

// Collect counts the fleet in the index and sends the metrics.
func (f *Fleet) Collect(ch chan<- prometheus.Metric) {
	s := f.opts.Index.FleetStats(index.StatsOptions{Now: f.opts.Now(), StaleAfter: f.opts.StaleAfter,
		NewSoftwareWindow: f.opts.NewSoftwareWindow, DiskPressureRatio: DiskPressureRatio})
	out := sink(ch)
	out.collectOwnership(s)
	f.collectNew(out, s)
	out.collectHosts(s)
	out.gauge(descStaleTolerated, float64(f.opts.StaleTolerated))
	out.collectCapacity(s)
}

// sink is where Collect sends the metrics. Its gauge is a method, not a func value, so
// that the label values of each call stay on the stack.
type sink chan<- prometheus.Metric

func (ch sink) gauge(d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// collectOwnership serves the coverage per asset kind and the assets of each owner: every
// active owner, with zeros, then any other owner an asset names.
func (ch sink) collectOwnership(s *index.FleetStats) {
	for _, c := range s.Coverage {
		k := string(c.Kind)
		ch.gauge(descAssets, float64(c.Total), k)
		ch.gauge(descUnowned, float64(c.Unowned), k)
		ch.gauge(descOrphaned, float64(c.Orphaned), k)
		ch.gauge(descCoverage, c.Ratio, k)
	}
	for _, o := range s.Owners {
		for _, k := range kinds {
			ch.gauge(descOwnerAssets, float64(s.OwnerAssets[o][k]), o, string(k))
		}
	}
	for o, m := range s.OwnerAssets {
		if !containsString(s.Owners, o) {
			for _, k := range kinds {
				ch.gauge(descOwnerAssets, float64(m[k]), o, string(k))
			}
		}
	}
}

// collectNew serves the unowned new titles (at most UnownedNewLimit of them one by one)
// and the count of distinct ones seen since the start.
func (f *Fleet) collectNew(ch sink, s *index.FleetStats) {
	ch.gauge(descNewTitles, float64(len(s.UnownedNew)))
	for i, t := range s.UnownedNew {
		if f.opts.UnownedNewLimit >= 0 && i >= f.opts.UnownedNewLimit {
			break
		}
		ch.gauge(descNewInfo, 1, t.Title, t.Source, t.FirstSeen.UTC().Format(time.RFC3339))
	}
	f.mu.Lock()
	for _, t := range s.UnownedNew {
		if _, ok := f.seen[t.Title]; ok {
			continue
		}
		if len(f.seen) < maxSeenTitles {
			f.seen[t.Title] = struct{}{}
		}
		f.seenTotal++
	}
	seen := f.seenTotal
	f.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descNewSeen, prometheus.CounterValue, float64(seen))
}

// collectHosts serves the hosts per OS family (the known families, other and unknown) and
// the stale, refused and disk-pressure counts.
func (ch sink) collectHosts(s *index.FleetStats) {
	families := map[string]int{}
	for fam, n := range s.HostsByOSFamily {
		switch {
		case fam == "":
			fam = "unknown"
		case !osFamilies[fam]:
			fam = "other"
		}
		families[fam] += n
	}
	for fam, n := range families {
		ch.gauge(descHosts, float64(n), fam)
	}
	ch.gauge(descHostsStale, float64(s.StaleHosts))
	ch.gauge(descRefused, float64(s.RefusedHosts))
	ch.gauge(descRefusedLongest, s.LongestRefused.Seconds())
	ch.gauge(descDiskPressure, float64(s.DiskPressureHosts))
}

// collectCapacity serves the capacity per owner (every active owner, then the others and
// the unowned) and the fleet's.
func (ch sink) collectCapacity(s *index.FleetStats) {
	capacity := func(c *index.Capacity, owner string) {
		ch.gauge(descOwnerCPU, float64(c.CPUCores), owner)
		ch.gauge(descOwnerMemory, float64(c.MemoryTotal), owner, "total")
		ch.gauge(descOwnerMemory, float64(c.MemoryUsed), owner, "used")
		ch.gauge(descOwnerDisk, float64(c.DiskTotal), owner, "total")
		ch.gauge(descOwnerDisk, float64(c.DiskUsed), owner, "used")
	}
	for _, o := range s.Owners {
		c := s.OwnerCapacity[o]
		if c == nil {
			c = &index.Capacity{}
		}
		capacity(c, o)
	}
	for o, c := range s.OwnerCapacity {
		if !containsString(s.Owners, o) {
			capacity(c, o)
		}
	}
	ch.gauge(descFleetCPU, float64(s.Fleet.CPUCores))
	ch.gauge(descFleetMemory, float64(s.Fleet.MemoryTotal), "total")
	ch.gauge(descFleetMemory, float64(s.Fleet.MemoryUsed), "used")
	ch.gauge(descFleetDisk, float64(s.Fleet.DiskTotal), "total")
	ch.gauge(descFleetDisk, float64(s.Fleet.DiskUsed), "used")
}

func containsString(sorted []string, s string) bool {
	_, ok := slices.BinarySearch(sorted, s)
	return ok
}
