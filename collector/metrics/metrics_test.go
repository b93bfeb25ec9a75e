package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/testutil/wait"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

const registryYAML = `owners:
  - {id: web}
  - {id: old, state: retired}
  - {id: dba}
rules:
  - {id: web-hosts, kind: host, match: {labels: {role: web}}, owner: web}
  - {id: nginx, kind: software, match: {name: nginx}, owner: web}
  - {id: legacy, kind: software, match: {name: "legacy-*"}, owner: old}
  - {id: ssh, kind: service, match: {port: tcp/22}, owner: web}
`

type fleetHost struct {
	id, family string
	labels     map[string]string
	pkgs       []string // "+name": installed after the host's first report
	cpus       int
	memory     uint64
	disk       uint64 // the size of its one filesystem, /
	status     *store.HostStatus
	enrolled   bool // has an agent key, as an enrolled host does
}

// fleet writes a small fleet into a real etcd the way the collector stores it (registry,
// catalog, builds, host records, status), and returns an index that listed it.
func fleet(t *testing.T, hosts []fleetHost, titles map[string]time.Time) *index.Index {
	t.Helper()
	ctx := context.Background()
	st, err := store.New(etcdtest.New(t), "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := owners.Load("owners.yaml", []byte(registryYAML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutRegistry(ctx, reg, 0); err != nil {
		t.Fatal(err)
	}
	values := map[string][]byte{}
	for name, first := range titles {
		b, _ := json.Marshal(store.Title{Source: "deb", Name: name, FirstSeen: first, FirstHost: "h1"})
		values[store.TitleName("deb", name)] = b
	}
	if _, _, err := st.CreateAll(ctx, store.KindTitle, values); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]map[string]store.HostStatus{}
	for _, h := range hosts {
		writeHost(t, st, h)
		if h.enrolled {
			b, _ := json.Marshal(store.Agent{HostID: h.id, CredentialSHA256: store.HashCredential("cred-" + h.id), EnrolledAt: now.Add(-48 * time.Hour)})
			if _, err := st.Put(ctx, store.KindAgent, h.id, b, 0); err != nil {
				t.Fatal(err)
			}
		}
		if h.status != nil {
			shard := store.StatusShard(h.id)
			if statuses[shard] == nil {
				statuses[shard] = map[string]store.HostStatus{}
			}
			statuses[shard][h.id] = *h.status
		}
	}
	for shard, m := range statuses {
		b, err := store.EncodeStatus(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, store.KindStatus, shard, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := index.New(index.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	wait.Until(t, 10*time.Second, "the index lists the fleet", func() bool { _, n, _ := ix.Counts(); return n == len(hosts) })
	return ix
}

func writeHost(t *testing.T, st *store.Store, h fleetHost) {
	t.Helper()
	rec := &store.HostRecord{HostID: h.id, Hash: "hash-" + h.id, Seq: 1, FirstReport: now.Add(-24 * time.Hour), UpdatedAt: now.Add(-time.Hour),
		Host: model.Host{ID: h.id, Hostname: "host-" + h.id, OS: model.OS{Family: h.family}, Labels: h.labels,
			CPU: model.CPU{Threads: h.cpus}, Memory: model.Memory{TotalBytes: h.memory},
			Filesystems: []model.Filesystem{{Mountpoint: "/", TotalBytes: h.disk}}},
		Listeners: []model.Listener{{Protocol: "tcp", Port: 22, Address: "0.0.0.0"}}}
	var builds []store.Build
	for _, p := range h.pkgs {
		name, installed := strings.CutPrefix(p, "+")
		in := store.Installation{Source: "deb", Name: name, Version: "1", Arch: "amd64", Installed: installed}
		if installed {
			in.InstalledAt = now.Add(-2 * time.Hour)
		}
		rec.Software = append(rec.Software, in)
		builds = append(builds, store.Build{Source: "deb", Name: name, Arch: "amd64", Version: "1"})
	}
	kvs, err := st.NumberBuilds(context.Background(), builds)
	if err != nil {
		t.Fatal(err)
	}
	numbers := map[string]uint32{}
	for _, kv := range kvs {
		b, err := store.DecodeBuild(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		numbers[b.Key()] = b.ID
	}
	val, err := store.EncodeHost(rec, func(in store.Installation) (uint32, bool) {
		id, ok := numbers[store.BuildKey(in.Source, in.Name, in.Arch, in.Version)]
		return id, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), store.KindHost, h.id, val, 0); err != nil {
		t.Fatal(err)
	}
}

// TestFleetMetrics checks the fleet's metrics against a fleet whose every figure is known:
// coverage by kind with an orphaned title, the assets and capacity per owner, unowned new
// software, hosts by OS family (an unknown family counted as other), stale hosts and disk
// pressure.
func TestFleetMetrics(t *testing.T) {
	hosts := []fleetHost{
		{id: "h1", family: "debian", labels: map[string]string{"role": "web"}, pkgs: []string{"+nginx", "curl"},
			cpus: 4, memory: 8 * gib, disk: 100 * gib, status: &store.HostStatus{LastSeen: now.Add(-time.Minute),
				Capacity: protocol.Capacity{MemoryAvailable: 2 * gib, Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 95 * gib}}}}},
		{id: "h2", family: "plan9", pkgs: []string{"curl", "legacy-tool", "+newpkg"},
			cpus: 2, memory: 4 * gib, disk: 50 * gib, status: &store.HostStatus{LastSeen: now.Add(-time.Hour),
				Capacity: protocol.Capacity{MemoryAvailable: 3 * gib, Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 10 * gib}}}}},
	}
	titles := map[string]time.Time{"nginx": now.Add(-3 * time.Hour), "curl": now.Add(-60 * 24 * time.Hour),
		"legacy-tool": now.Add(-60 * 24 * time.Hour), "newpkg": now.Add(-3 * time.Hour)}
	ix := fleet(t, hosts, titles)
	f, err := New(Options{Index: ix, Now: func() time.Time { return now }, StaleTolerated: 3})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f)
	want := `
# HELP onus_assets Assets in the inventory, by kind (host, software title, service instance).
# TYPE onus_assets gauge
onus_assets{kind="host"} 2
onus_assets{kind="service"} 2
onus_assets{kind="software"} 4
# HELP onus_assets_orphaned Assets whose owner is retired in the ownership registry, by kind.
# TYPE onus_assets_orphaned gauge
onus_assets_orphaned{kind="host"} 0
onus_assets_orphaned{kind="service"} 0
onus_assets_orphaned{kind="software"} 1
# HELP onus_assets_unowned Assets without an active owner, by kind; orphaned assets are included.
# TYPE onus_assets_unowned gauge
onus_assets_unowned{kind="host"} 1
onus_assets_unowned{kind="service"} 0
onus_assets_unowned{kind="software"} 3
# HELP onus_hosts Hosts in the inventory, by OS family.
# TYPE onus_hosts gauge
onus_hosts{os_family="debian"} 1
onus_hosts{os_family="other"} 1
# HELP onus_hosts_disk_pressure Hosts with a filesystem more than 90 % used, from their last reported disk use.
# TYPE onus_hosts_disk_pressure gauge
onus_hosts_disk_pressure 1
# HELP onus_hosts_stale Hosts that have not reported for longer than the stale threshold (three heartbeat intervals by default).
# TYPE onus_hosts_stale gauge
onus_hosts_stale 1
# HELP onus_hosts_stale_tolerated Stale hosts the OnusHostsStale alert tolerates (the collector's --stale-hosts-tolerated): it fires when onus_hosts_stale is above.
# TYPE onus_hosts_stale_tolerated gauge
onus_hosts_stale_tolerated 3
# HELP onus_software_unowned_new_titles Unowned software titles newly installed and first seen within the window, without the cap of the info series.
# TYPE onus_software_unowned_new_titles gauge
onus_software_unowned_new_titles 1
`
	names := []string{"onus_assets", "onus_assets_orphaned", "onus_assets_unowned", "onus_hosts", "onus_hosts_disk_pressure",
		"onus_hosts_stale", "onus_hosts_stale_tolerated", "onus_software_unowned_new_titles"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	got := gathered(t, reg)
	for series, v := range map[string]float64{
		`onus_ownership_coverage_ratio{kind="host"}`:                                                        0.5,
		`onus_ownership_coverage_ratio{kind="service"}`:                                                     1,
		`onus_ownership_coverage_ratio{kind="software"}`:                                                    0.25,
		`onus_owner_assets{kind="host",owner="web"}`:                                                        1,
		`onus_owner_assets{kind="software",owner="web"}`:                                                    1,
		`onus_owner_assets{kind="service",owner="web"}`:                                                     2,
		`onus_owner_assets{kind="host",owner="dba"}`:                                                        0,
		`onus_owner_cpu_cores{owner="web"}`:                                                                 4,
		`onus_owner_cpu_cores{owner=""}`:                                                                    2,
		`onus_owner_memory_bytes{owner="web",state="used"}`:                                                 6 * gib,
		`onus_owner_disk_bytes{owner="",state="total"}`:                                                     50 * gib,
		`onus_fleet_cpu_cores`:                                                                              6,
		`onus_fleet_memory_bytes{state="total"}`:                                                            12 * gib,
		`onus_fleet_disk_bytes{state="used"}`:                                                               105 * gib,
		`onus_software_unowned_new_info{first_seen="2026-06-01T09:00:00Z",source="deb",title="deb:newpkg"}`: 1,
		`onus_software_unowned_new_seen_total`:                                                              1,
	} {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	if _, ok := got[`onus_owner_assets{kind="host",owner="old"}`]; ok {
		t.Error("a retired owner has assets: orphaned assets must not count for it")
	}
	if n, err := testutil.GatherAndCount(reg, "onus_software_unowned_new_info"); err != nil || n != 1 {
		t.Errorf("%d unowned new info series, %v", n, err)
	}
}

// TestUnownedNewCap checks that the info series stop at the cap while the count goes on,
// and that the seen counter counts each title once across scrapes.
func TestUnownedNewCap(t *testing.T) {
	var pkgs []string
	titles := map[string]time.Time{}
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5"} {
		pkgs = append(pkgs, "+"+n)
		titles[n] = now.Add(-time.Hour)
	}
	ix := fleet(t, []fleetHost{{id: "h1", family: "debian", pkgs: pkgs}}, titles)
	f, err := New(Options{Index: ix, Now: func() time.Time { return now }, UnownedNewLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f)
	for range 2 {
		got := gathered(t, reg)
		if got["onus_software_unowned_new_titles"] != 5 || got["onus_software_unowned_new_seen_total"] != 5 {
			t.Fatalf("titles %v, seen %v; want 5 and 5", got["onus_software_unowned_new_titles"], got["onus_software_unowned_new_seen_total"])
		}
		if n, _ := testutil.GatherAndCount(reg, "onus_software_unowned_new_info"); n != 2 {
			t.Fatalf("%d info series, want the cap of 2", n)
		}
	}
}

// TestFleetMetricsRefusedAndOptions checks the refused hosts (only enrolled ones, the
// longest refusal), an unknown OS family, the edges of disk pressure and used memory, and
// the options StaleAfter, NewSoftwareWindow and a negative UnownedNewLimit (no cap).
func TestFleetMetricsRefusedAndOptions(t *testing.T) {
	titles := map[string]time.Time{"older": now.Add(-3 * 24 * time.Hour)}
	pkgs := []string{"+older"}
	for i := range 101 {
		name := fmt.Sprintf("new%03d", i)
		pkgs = append(pkgs, "+"+name)
		titles[name] = now.Add(-time.Hour)
	}
	refusal := func(since time.Duration) *store.Refusal {
		return &store.Refusal{At: now.Add(-30 * time.Second), Since: now.Add(-since), Status: 400, Reason: "hash: mismatch"}
	}
	hosts := []fleetHost{
		// Unknown family; more memory available than it has; a filesystem just over 90 %.
		{id: "h1", pkgs: pkgs, cpus: 1, memory: 4 * gib, disk: 100 * gib, enrolled: true,
			status: &store.HostStatus{LastSeen: now.Add(-30 * time.Second), Refused: refusal(10 * time.Minute),
				Capacity: protocol.Capacity{MemoryAvailable: 5 * gib, Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 91 * gib}}}}},
		// Seen 5 minutes ago: stale by default, not with StaleAfter 10 minutes; no available
		// memory reported; a filesystem exactly 90 % used.
		{id: "h2", family: "rhel", cpus: 2, memory: 8 * gib, disk: 100 * gib, enrolled: true,
			status: &store.HostStatus{LastSeen: now.Add(-5 * time.Minute), Refused: refusal(2 * time.Minute),
				Capacity: protocol.Capacity{Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 90 * gib}}}}},
		// Refused but no longer enrolled; stale.
		{id: "h3", family: "alpine", cpus: 4, memory: 2 * gib, disk: 10 * gib,
			status: &store.HostStatus{LastSeen: now.Add(-time.Hour), Refused: refusal(time.Hour)}},
	}
	ix := fleet(t, hosts, titles)
	if _, err := New(Options{}); err == nil {
		t.Error("New without an index: no error")
	}
	f, err := New(Options{Index: ix, Now: func() time.Time { return now }, StaleAfter: 10 * time.Minute,
		NewSoftwareWindow: 2 * 24 * time.Hour, UnownedNewLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f)
	want := `
# HELP onus_hosts Hosts in the inventory, by OS family.
# TYPE onus_hosts gauge
onus_hosts{os_family="alpine"} 1
onus_hosts{os_family="rhel"} 1
onus_hosts{os_family="unknown"} 1
# HELP onus_hosts_disk_pressure Hosts with a filesystem more than 90 % used, from their last reported disk use.
# TYPE onus_hosts_disk_pressure gauge
onus_hosts_disk_pressure 1
# HELP onus_hosts_refused Enrolled hosts whose reports are refused: their last report got a 4xx (invalid structure, too large, wrong host…) and none was accepted since.
# TYPE onus_hosts_refused gauge
onus_hosts_refused 2
# HELP onus_hosts_refused_longest_seconds How long the reports of the host refused the longest have been refused, from the first refusal with no accepted report after it (0 when no host is refused).
# TYPE onus_hosts_refused_longest_seconds gauge
onus_hosts_refused_longest_seconds 600
# HELP onus_hosts_stale Hosts that have not reported for longer than the stale threshold (three heartbeat intervals by default).
# TYPE onus_hosts_stale gauge
onus_hosts_stale 1
# HELP onus_hosts_stale_tolerated Stale hosts the OnusHostsStale alert tolerates (the collector's --stale-hosts-tolerated): it fires when onus_hosts_stale is above.
# TYPE onus_hosts_stale_tolerated gauge
onus_hosts_stale_tolerated 0
# HELP onus_software_unowned_new_titles Unowned software titles newly installed and first seen within the window, without the cap of the info series.
# TYPE onus_software_unowned_new_titles gauge
onus_software_unowned_new_titles 101
# HELP onus_fleet_memory_bytes Memory of all the hosts, total or used (total minus available), in bytes.
# TYPE onus_fleet_memory_bytes gauge
onus_fleet_memory_bytes{state="total"} 1.5032385536e+10
onus_fleet_memory_bytes{state="used"} 0
# HELP onus_fleet_disk_bytes Filesystem space of all the hosts, total or used, in bytes.
# TYPE onus_fleet_disk_bytes gauge
onus_fleet_disk_bytes{state="total"} 2.2548578304e+11
onus_fleet_disk_bytes{state="used"} 1.94347270144e+11
`
	names := []string{"onus_hosts", "onus_hosts_disk_pressure", "onus_hosts_refused", "onus_hosts_refused_longest_seconds", "onus_hosts_stale",
		"onus_hosts_stale_tolerated", "onus_software_unowned_new_titles", "onus_fleet_memory_bytes", "onus_fleet_disk_bytes"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "onus_software_unowned_new_info"); err != nil || n != 101 {
		t.Errorf("%d unowned new info series, %v; want all 101 (no cap), not the title first seen before the window", n, err)
	}
	if got := gathered(t, reg); got[`onus_software_unowned_new_info{first_seen="2026-05-29T12:00:00Z",source="deb",title="deb:older"}`] != 0 {
		t.Error("a title first seen before the window is shown as new")
	}
}

// gathered returns every sample as "name{labels}" → value, labels sorted by name.
func gathered(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[key] = v
		}
	}
	return out
}
