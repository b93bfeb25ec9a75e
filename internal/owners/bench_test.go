package owners

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchFleet is a synthetic fleet the size the design aims at.
type benchFleet struct {
	hosts    []HostAttrs
	titles   []TitleAttrs
	pool     []ServiceAttrs // service titles
	services [][]uint16     // per host, indexes into pool
}

var (
	benchRoles = []string{"db", "web", "cache", "batch", "k8s-node", "kafka", "ci", "bastion", "monitoring", "mail"}
	benchEnvs  = []string{"prod", "staging", "dev"}
	benchOS    = []string{"debian", "ubuntu", "rocky", "alpine"}
	benchFam   = map[string]string{"debian": "debian", "ubuntu": "debian", "rocky": "rhel", "alpine": "alpine"}
)

func newBenchFleet(nHosts, nTitles, nPool, perHost int) *benchFleet {
	rng := rand.New(rand.NewPCG(1, 2))
	f := &benchFleet{}
	for i := range nHosts {
		role := benchRoles[rng.IntN(len(benchRoles))]
		os := benchOS[rng.IntN(len(benchOS))]
		f.hosts = append(f.hosts, HostAttrs{
			ID:       fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15),
			Hostname: fmt.Sprintf("%s-%05d", role, i),
			FQDN:     fmt.Sprintf("%s-%05d.site%d.example.com", role, i, i%20),
			OS:       os,
			OSFamily: benchFam[os],
			Labels: map[string]string{"role": role, "env": benchEnvs[rng.IntN(len(benchEnvs))],
				"site": fmt.Sprintf("site%d", i%20), "team": fmt.Sprintf("team%d", rng.IntN(30))},
		})
	}
	prefixes := []string{"lib", "python3-", "golang-", "node-", "r-cran-", "fonts-", "linux-", "perl-", "php8.2-", "ruby-", "x11-", "gir1.2-", "texlive-", ""}
	sources := []string{"deb", "deb", "deb", "rpm", "apk"}
	for i := range nTitles {
		p := prefixes[rng.IntN(len(prefixes))]
		f.titles = append(f.titles, TitleAttrs{Source: sources[rng.IntN(len(sources))], Name: fmt.Sprintf("%spkg%d", p, i),
			Maintainer: fmt.Sprintf("Team %d <team%d@lists.example.org>", i%50, i%50), Section: []string{"libs", "python", "devel", "net", "admin"}[i%5]})
	}
	units := []string{"systemd-journald", "systemd-udevd", "systemd-logind", "systemd-resolved", "ssh", "cron", "nginx", "postgresql@16-main",
		"redis-server", "prometheus-node-exporter", "kafka", "docker", "containerd", "kubelet", "rsyslog", "chrony", "auditd", "osqueryd"}
	for i := range nPool {
		switch {
		case i < len(units):
			f.pool = append(f.pool, UnitService("systemd", units[i]+".service"))
		case i < nPool*3/4:
			f.pool = append(f.pool, UnitService("systemd", fmt.Sprintf("app-%d.service", i)))
		default:
			f.pool = append(f.pool, PortService([]string{"tcp", "udp"}[i%2], uint16(1000+i*7)))
		}
	}
	perm := make([]uint16, nPool)
	for i := range perm {
		perm[i] = uint16(i)
	}
	for range nHosts {
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		f.services = append(f.services, append([]uint16(nil), perm[:perHost]...))
	}
	return f
}

// newBenchRegistry returns about 200 rules and 500 assignments over the bench fleet.
func newBenchRegistry(f *benchFleet) *Registry {
	reg := &Registry{}
	var teams []string
	for i := range 30 {
		id := fmt.Sprintf("team%d", i)
		teams = append(teams, id)
		reg.Owners = append(reg.Owners, Owner{ID: id, Parent: fmt.Sprintf("dept%d", i%5), State: StateActive})
	}
	for i := range 5 {
		reg.Owners = append(reg.Owners, Owner{ID: fmt.Sprintf("dept%d", i), State: StateActive})
	}
	reg.Owners = append(reg.Owners, Owner{ID: "retired", State: StateRetired})
	team := func(i int) string { return teams[i%len(teams)] }
	add := func(k Kind, sel Selector, owner string) {
		reg.Rules = append(reg.Rules, Rule{ID: fmt.Sprintf("r%d", len(reg.Rules)), Kind: k, Match: sel, Owner: owner})
	}
	// Hosts: 50 rules.
	for i, role := range benchRoles {
		add(KindHost, Selector{Labels: map[string]string{"role": role}}, team(i))
		add(KindHost, Selector{Labels: map[string]string{"role": role, "env": "prod"}}, team(i+1))
		add(KindHost, Selector{Hostname: role + "-0*"}, team(i+2))
	}
	for i := range 20 {
		add(KindHost, Selector{Labels: map[string]string{"site": fmt.Sprintf("site%d", i), "env": "dev"}}, team(i))
	}
	// Software: 110 rules.
	for i, p := range []string{"lib", "python3-", "golang-", "node-", "r-cran-", "fonts-", "linux-", "perl-", "php8.2-", "ruby-", "x11-", "gir1.2-", "texlive-"} {
		add(KindSoftware, Selector{Name: p + "*"}, team(i))
		add(KindSoftware, Selector{Source: "deb", Name: p + "pkg1*"}, team(i+3))
		add(KindSoftware, Selector{Source: "rpm", Name: p + "*"}, team(i+4))
	}
	for i := range 40 {
		add(KindSoftware, Selector{Name: f.titles[i*97].Name}, team(i))
	}
	for i := range 31 {
		add(KindSoftware, Selector{Maintainer: fmt.Sprintf("Team %d <*>", i)}, team(i+5))
	}
	// Services: 40 rules.
	for i := range 18 {
		add(KindService, Selector{Name: f.pool[i].Name}, team(i))
	}
	add(KindService, Selector{Manager: "systemd", Name: "systemd-*"}, team(1))
	add(KindService, Selector{Name: "app-1*.service"}, team(2))
	add(KindService, Selector{Name: "app-2*.service", Labels: map[string]string{"env": "prod"}}, team(3))
	for i := range 10 {
		add(KindService, Selector{Port: fmt.Sprintf("tcp/%d-%d", 1000+i*300, 1000+i*300+299)}, team(i))
	}
	add(KindService, Selector{Name: "nginx.service", Labels: map[string]string{"role": "web"}}, team(4))
	add(KindService, Selector{OSFamily: "rhel", Name: "*.service"}, "retired")
	for _, role := range []string{"db", "kafka", "ci"} {
		reg.Rules = append(reg.Rules, Rule{ID: "inherit-" + role, Kind: KindService, Match: Selector{Labels: map[string]string{"role": role}}, Inherit: true})
	}
	add(KindService, Selector{All: true}, team(7))
	// Assignments: 500.
	for i := range 200 {
		reg.Assignments = append(reg.Assignments, Assignment{Kind: KindHost, Asset: f.hosts[i*499].ID, Owner: team(i)})
		reg.Assignments = append(reg.Assignments, Assignment{Kind: KindSoftware, Asset: f.titles[i*97+1].Key(), Owner: team(i)})
	}
	for i := range 100 {
		reg.Assignments = append(reg.Assignments, Assignment{Kind: KindService, Asset: f.pool[100+i].Key(), Owner: team(i)})
	}
	return reg
}

// resolveFleet resolves every asset of the fleet and counts coverage, as the collector
// does after the registry changes.
func resolveFleet(r *Resolver, f *benchFleet) [3]Coverage {
	var cov [3]Coverage
	for i := range f.titles {
		res := r.ResolveSoftware(f.titles[i])
		cov[1].Add(&res)
	}
	for i := range f.hosts {
		h := &f.hosts[i]
		ho := r.ResolveHost(*h)
		cov[0].Add(&ho)
		hs := r.ServicesOn(*h, ho)
		for _, s := range f.services[i] {
			res := hs.Resolve(f.pool[s])
			cov[2].Add(&res)
		}
	}
	for i, k := range Kinds {
		cov[i].Kind = k
		cov[i].Done()
	}
	return cov
}

// BenchmarkResolveFleet re-resolves 100,000 hosts, 20,000 software titles and 13 million
// service instances (130 per host from 400 titles) under a registry of 200 rules and 500
// assignments, after a rule changes: one op is building the resolver and resolving all.
// Run it on one core: go test -run '^$' -bench ResolveFleet -cpu 1 -benchtime 5x.
func BenchmarkResolveFleet(b *testing.B) {
	f := newBenchFleet(100_000, 20_000, 400, 130)
	reg := newBenchRegistry(f)
	b.Logf("%d rules, %d assignments", len(reg.Rules), len(reg.Assignments))
	var cov [3]Coverage
	var classes int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// The change: one rule gives its assets to another team.
		reg.Rules[i%len(reg.Rules)].Owner = fmt.Sprintf("team%d", i%30)
		if reg.Rules[i%len(reg.Rules)].Inherit {
			reg.Rules[i%len(reg.Rules)].Owner = ""
		}
		r, err := NewResolver(reg)
		if err != nil {
			b.Fatal(err)
		}
		cov = resolveFleet(r, f)
		classes = len(r.classes)
	}
	b.StopTimer()
	b.ReportMetric(float64(cov[2].Total), "instances/op")
	b.ReportMetric(float64(classes), "classes")
	// Where the time goes, once more outside the measurement.
	start := time.Now()
	r, err := NewResolver(reg)
	if err != nil {
		b.Fatal(err)
	}
	compiled := time.Now()
	for i := range f.titles {
		r.ResolveSoftware(f.titles[i])
	}
	software := time.Now()
	owners := make([]Resolution, len(f.hosts))
	for i := range f.hosts {
		owners[i] = r.ResolveHost(f.hosts[i])
	}
	hosts := time.Now()
	for i := range f.hosts {
		hs := r.ServicesOn(f.hosts[i], owners[i])
		for _, s := range f.services[i] {
			hs.Resolve(f.pool[s])
		}
	}
	services := time.Now()
	b.Logf("compile %v, software %v, hosts %v, services %v", compiled.Sub(start), software.Sub(compiled), hosts.Sub(software), services.Sub(hosts))
	for _, c := range cov {
		b.Logf("%s: %d/%d owned, %d orphaned", c.Kind, c.Owned, c.Total, c.Orphaned)
	}
}
