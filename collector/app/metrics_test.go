package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// waitMetrics waits until the metrics called names that g gathers are exactly the sample
// lines of want (HELP and TYPE are taken from g), and fails with the difference otherwise.
func waitMetrics(t *testing.T, g prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, name := range names {
			for _, mf := range mfs {
				if mf.GetName() == name {
					fmt.Fprintf(&text, "# HELP %s %s\n# TYPE %s %s\n", name, mf.GetHelp(), name, strings.ToLower(mf.GetType().String()))
				}
			}
			for _, line := range strings.Split(want, "\n") {
				if line = strings.TrimSpace(line); strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
					text.WriteString(line + "\n")
				}
			}
		}
		err = testutil.GatherAndCompare(g, strings.NewReader(text.String()), names...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics %v: %v", names, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gatherer(c *running) prometheus.Gatherer { return c.opts.Registerer.(prometheus.Gatherer) }

// TestFleetMetrics runs two collectors on one etcd, fed with the golden inventories and the
// owners of testOwners, and checks the fleet metrics on both: ownership coverage and assets
// per owner, unowned new software installed by a delta report (capped on the second replica),
// hosts by OS family, stale hosts (the second replica has a short --stale-after), disk
// pressure and capacity per owner.
func TestFleetMetrics(t *testing.T) {
	a := start(t, Options{DataDir: t.TempDir(), EtcdClientURL: "http://127.0.0.1:0"})
	b := start(t, Options{EtcdEndpoints: []string{endpoint(t, a)}, UnownedNewMetricLimit: 1, StaleAfter: 3 * time.Second})
	const gib = 1 << 30
	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	fs := [][]model.Filesystem{
		{{Mountpoint: "/", TotalBytes: 100 * gib, UsedBytes: 95 * gib, FreeBytes: 5 * gib}, {Mountpoint: "/boot/efi", TotalBytes: gib, UsedBytes: gib / 8}},
		{{Mountpoint: "/", TotalBytes: 50 * gib, UsedBytes: 10 * gib, FreeBytes: 40 * gib}},
		{{Mountpoint: "/", TotalBytes: 200 * gib, UsedBytes: 100 * gib, FreeBytes: 100 * gib}, {Mountpoint: "/home", TotalBytes: 10 * gib}},
	}
	deb, rocky, arch := invs[0].Host.ID, invs[1].Host.ID, invs[2].Host.ID
	creds, states, hashes := map[string]string{}, map[string]protocol.State{}, map[string]string{}
	caps := map[string]protocol.Capacity{}
	for i, inv := range invs {
		for j := range inv.Host.Filesystems {
			inv.Host.Filesystems[j].TotalBytes = 0
		}
		for _, f := range fs[i] {
			k := slices.IndexFunc(inv.Host.Filesystems, func(x model.Filesystem) bool { return x.Mountpoint == f.Mountpoint })
			if k < 0 {
				t.Fatalf("%s has no filesystem %s", inv.Host.Hostname, f.Mountpoint)
			}
			f.Device, f.Type = inv.Host.Filesystems[k].Device, inv.Host.Filesystems[k].Type
			inv.Host.Filesystems[k] = f
		}
		id := inv.Host.ID
		creds[id] = enroll(t, a.url, id)
		full, st := fullReport(inv, 1)
		report(t, a.url, creds[id], full)
		states[id], hashes[id], caps[id] = st, full.Hash, full.Capacity
	}
	if code, body := do(t, "POST", a.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(testOwners)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}

	// Unowned software installed later: shadow-tool on two hosts, other-tool on one.
	installedAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	install := func(id string, names ...string) {
		t.Helper()
		next := states[id]
		next.Software = slices.Clone(next.Software)
		for _, n := range names {
			next.Software = append(next.Software, model.Package{Source: "deb", Name: n, Version: "1.0-1", Arch: "amd64", InstallTime: installedAt})
		}
		protocol.Normalize(&next)
		st := states[id]
		dr := &protocol.Report{HostID: id, Seq: 2, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: hashes[id],
			Hash: protocol.Hash(&next), Delta: protocol.Diff(&st, &next), Events: protocol.Events(&st, &next, installedAt), Capacity: caps[id]}
		report(t, a.url, creds[id], dr)
		states[id], hashes[id] = next, dr.Hash
	}
	install(deb, "shadow-tool", "other-tool")
	install(rocky, "shadow-tool")

	// By hand, as in TestOwnership, with the two new titles unowned: software 10 owned of 65.
	coverage := `
onus_assets{kind="host"} 3
onus_assets{kind="software"} 65
onus_assets{kind="service"} 73
onus_assets_unowned{kind="host"} 1
onus_assets_unowned{kind="software"} 55
onus_assets_unowned{kind="service"} 41
onus_assets_orphaned{kind="host"} 0
onus_assets_orphaned{kind="software"} 3
onus_assets_orphaned{kind="service"} 0
onus_ownership_coverage_ratio{kind="host"} 0.6666666666666666
onus_ownership_coverage_ratio{kind="software"} 0.15384615384615385
onus_ownership_coverage_ratio{kind="service"} 0.4383561643835616
onus_owner_assets{kind="host",owner="dba"} 1
onus_owner_assets{kind="host",owner="it"} 0
onus_owner_assets{kind="host",owner="platform"} 0
onus_owner_assets{kind="host",owner="web"} 1
onus_owner_assets{kind="service",owner="dba"} 30
onus_owner_assets{kind="service",owner="it"} 0
onus_owner_assets{kind="service",owner="platform"} 2
onus_owner_assets{kind="service",owner="web"} 0
onus_owner_assets{kind="software",owner="dba"} 6
onus_owner_assets{kind="software",owner="it"} 0
onus_owner_assets{kind="software",owner="platform"} 0
onus_owner_assets{kind="software",owner="web"} 4
onus_hosts{os_family="arch"} 1
onus_hosts{os_family="debian"} 1
onus_hosts{os_family="rhel"} 1
onus_hosts_disk_pressure 1
`
	names := []string{"onus_assets", "onus_assets_unowned", "onus_assets_orphaned", "onus_ownership_coverage_ratio", "onus_owner_assets",
		"onus_hosts", "onus_hosts_disk_pressure"}
	first := installedAt.Format(time.RFC3339)
	newSW := `
onus_software_unowned_new_info{first_seen="` + first + `",source="deb",title="deb:other-tool"} 1
onus_software_unowned_new_info{first_seen="` + first + `",source="deb",title="deb:shadow-tool"} 1
onus_software_unowned_new_titles 2
onus_software_unowned_new_seen_total 2
`
	newNames := []string{"onus_software_unowned_new_info", "onus_software_unowned_new_titles", "onus_software_unowned_new_seen_total"}
	for _, c := range []*running{a, b} {
		waitMetrics(t, gatherer(c), coverage, names...)
	}
	waitMetrics(t, gatherer(a), newSW, newNames...)
	// The second replica shows the most widespread title only.
	waitMetrics(t, gatherer(b), strings.Replace(newSW, `onus_software_unowned_new_info{first_seen="`+first+`",source="deb",title="deb:other-tool"} 1`, "", 1), newNames...)

	// Capacity per host owner (arch's build-07 is unowned), from the inventories.
	owner := map[string]string{deb: "web", rocky: "dba", arch: ""}
	type capa struct{ cpu, memTotal, memUsed, diskTotal, diskUsed uint64 }
	per := map[string]*capa{"it": {}, "platform": {}}
	var fleet capa
	for i, inv := range invs {
		c := per[owner[inv.Host.ID]]
		if c == nil {
			c = &capa{}
			per[owner[inv.Host.ID]] = c
		}
		h := capa{cpu: uint64(inv.Host.CPU.Threads), memTotal: inv.Host.Memory.TotalBytes, memUsed: inv.Host.Memory.TotalBytes - inv.Host.Memory.AvailableBytes}
		for _, f := range fs[i] {
			h.diskTotal += f.TotalBytes
			h.diskUsed += f.UsedBytes
		}
		for _, x := range []*capa{c, &fleet} {
			x.cpu, x.memTotal, x.memUsed, x.diskTotal, x.diskUsed = x.cpu+h.cpu, x.memTotal+h.memTotal, x.memUsed+h.memUsed, x.diskTotal+h.diskTotal, x.diskUsed+h.diskUsed
		}
	}
	var capText strings.Builder
	for o, c := range per {
		fmt.Fprintf(&capText, "onus_owner_cpu_cores{owner=%q} %d\n", o, c.cpu)
		fmt.Fprintf(&capText, "onus_owner_memory_bytes{owner=%q,state=\"total\"} %d\nonus_owner_memory_bytes{owner=%q,state=\"used\"} %d\n", o, c.memTotal, o, c.memUsed)
		fmt.Fprintf(&capText, "onus_owner_disk_bytes{owner=%q,state=\"total\"} %d\nonus_owner_disk_bytes{owner=%q,state=\"used\"} %d\n", o, c.diskTotal, o, c.diskUsed)
	}
	fmt.Fprintf(&capText, "onus_fleet_cpu_cores %d\n", fleet.cpu)
	fmt.Fprintf(&capText, "onus_fleet_memory_bytes{state=\"total\"} %d\nonus_fleet_memory_bytes{state=\"used\"} %d\n", fleet.memTotal, fleet.memUsed)
	fmt.Fprintf(&capText, "onus_fleet_disk_bytes{state=\"total\"} %d\nonus_fleet_disk_bytes{state=\"used\"} %d\n", fleet.diskTotal, fleet.diskUsed)
	capNames := []string{"onus_owner_cpu_cores", "onus_owner_memory_bytes", "onus_owner_disk_bytes", "onus_fleet_cpu_cores", "onus_fleet_memory_bytes", "onus_fleet_disk_bytes"}
	for _, c := range []*running{a, b} {
		waitMetrics(t, gatherer(c), capText.String(), capNames...)
	}

	// Stale hosts: none on the first replica (3 minutes), all three on the second (3 s) once
	// nothing has reported for that long; a heartbeat brings one back.
	waitMetrics(t, gatherer(a), "onus_hosts_stale 0", "onus_hosts_stale")
	waitMetrics(t, gatherer(b), "onus_hosts_stale 3", "onus_hosts_stale")
	hb := &protocol.Report{HostID: arch, Seq: 2, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: hashes[arch], Hash: hashes[arch], Capacity: caps[arch]}
	if resp := report(t, a.url, creds[arch], hb); resp.Status != protocol.StatusAccepted {
		t.Fatalf("heartbeat: %+v", resp)
	}
	waitMetrics(t, gatherer(b), "onus_hosts_stale 2", "onus_hosts_stale")

	// The whole /metrics of a replica passes the exposition linter (promtool check metrics).
	problems, err := testutil.GatherAndLint(gatherer(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "onus_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
