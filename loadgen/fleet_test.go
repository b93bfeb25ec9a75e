package loadgen

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

func newTestGenerator(t testing.TB, opts Options) *Generator {
	t.Helper()
	if opts.URL == "" {
		opts.URL = "http://127.0.0.1:1"
	}
	opts.InsecureHTTP = true
	if opts.EnrollSecret == "" {
		opts.EnrollSecret = "secret-0123456789"
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPoolDeterministic checks that a seed draws the same pool and fleet every time, and
// another seed another one.
func TestPoolDeterministic(t *testing.T) {
	opts := Options{Hosts: 30, Pool: 3000, MinPackages: 100, MaxPackages: 600, Seed: 7}
	a, b := newTestGenerator(t, opts), newTestGenerator(t, opts)
	if !reflect.DeepEqual(a.pool.titles, b.pool.titles) {
		t.Fatal("two pools of one seed differ")
	}
	for i := range a.hosts {
		sa, sb := a.state(a.hosts[i], a.hosts[i].pkgs, nil), b.state(b.hosts[i], b.hosts[i].pkgs, nil)
		if protocol.Hash(&sa) != protocol.Hash(&sb) {
			t.Fatalf("host %d differs between two fleets of one seed", i)
		}
	}
	opts.Seed = 8
	c := newTestGenerator(t, opts)
	if a.hosts[0].id == c.hosts[0].id || reflect.DeepEqual(a.pool.titles[:50], c.pool.titles[:50]) {
		t.Fatal("another seed draws the same fleet")
	}
	ids := map[string]bool{}
	for _, h := range a.hosts {
		if ids[h.id] || !protocol.ValidHostID(h.id) {
			t.Fatalf("host ID %q repeated or invalid", h.id)
		}
		ids[h.id] = true
	}
}

// TestStateCanonical checks that a materialized state is already in protocol.Normalize's
// canonical form (the generator hashes it without normalizing), and that its reports pass
// the collector's validation.
func TestStateCanonical(t *testing.T) {
	g := newTestGenerator(t, Options{Hosts: 16, Pool: 3000, MinPackages: 50, MaxPackages: 500, UniqueFraction: 0.02, Seed: 3})
	now := time.Now()
	for _, h := range g.hosts {
		for round := 0; round < 3; round++ {
			st := g.state(h, h.pkgs, h.times)
			norm := st
			norm.Software = slices.Clone(st.Software)
			norm.Services = slices.Clone(st.Services)
			norm.Listeners = slices.Clone(st.Listeners)
			norm.Sources = slices.Clone(st.Sources)
			norm.Host = cloneFacts(st.Host)
			protocol.Normalize(&norm)
			if !reflect.DeepEqual(st, norm) {
				t.Fatalf("host %s: the materialized state is not normalized", h.id)
			}
			req, err := g.build(h, now, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var rep protocol.Report
			if err := protocol.Decode(strings.NewReader(string(req.body)), "gzip", protocol.DefaultLimits, &rep); err != nil {
				t.Fatal(err)
			}
			if err := protocol.Validate(&rep); err != nil {
				t.Fatalf("host %s: %s report refused: %v", h.id, rep.Kind, err)
			}
			h.commit(req)
			g.churn(h, now.Add(time.Duration(round+1)*time.Minute))
		}
	}
}

// TestChurnEvents checks that a change turns into a delta that leads to the new hash and
// into events of the right kinds, as the collector would see them.
func TestChurnEvents(t *testing.T) {
	g := newTestGenerator(t, Options{Hosts: 50, Pool: 3000, MinPackages: 100, MaxPackages: 400, Seed: 11})
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	kinds := map[string]int{}
	for _, h := range g.hosts {
		full, err := g.build(h, now, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.commit(full)
		before := g.state(h, h.pkgs, h.times)
		cur, held := g.churn(h, now)
		if cur == nil {
			continue
		}
		if held == nil || protocol.Hash(held) != h.accHash {
			t.Fatalf("host %s: the held state is not the accepted one", h.id)
		}
		req, err := g.build(h, now, cur, held)
		if err != nil {
			t.Fatal(err)
		}
		var rep protocol.Report
		if err := protocol.Decode(strings.NewReader(string(req.body)), "gzip", protocol.DefaultLimits, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Kind != protocol.KindDelta || len(rep.Events) == 0 {
			t.Fatalf("host %s: %s report with %d events after a change", h.id, rep.Kind, len(rep.Events))
		}
		// What the collector does with a delta.
		applied := protocol.Apply(&before, rep.Delta)
		if protocol.Hash(&applied) != rep.Hash {
			t.Fatalf("host %s: the delta does not lead to the report's hash", h.id)
		}
		for _, e := range rep.Events {
			kinds[e.Type]++
			if e.Type == protocol.EventDowngraded {
				t.Fatalf("host %s: downgrade %+v", h.id, e)
			}
		}
		h.commit(req)
		if h.accHash != protocol.Hash(cur) {
			t.Fatal("commit did not take the new state")
		}
	}
	for _, k := range []string{protocol.EventInstalled, protocol.EventRemoved, protocol.EventUpgraded} {
		if kinds[k] == 0 {
			t.Errorf("no %s events in %v", k, kinds)
		}
	}
}

// TestFleetShape checks what makes the fleet realistic: hosts share most of their
// packages, the pool's tail is still used, package counts spread over the range, and a
// host's state stays small in memory.
func TestFleetShape(t *testing.T) {
	g := newTestGenerator(t, Options{Hosts: 400, Seed: 1})
	counts := map[string]int{}
	for _, h := range g.hosts {
		for _, p := range h.pkgs {
			src, name := g.titleOf(h, refTitle(p))
			counts[src+":"+name]++
		}
	}
	cfg := g.config()
	half, tenth := 0, 0 // packages of titles on at least half, a tenth of the hosts
	for _, h := range g.hosts {
		for _, p := range h.pkgs {
			src, name := g.titleOf(h, refTitle(p))
			if c := counts[src+":"+name]; c >= len(g.hosts)/2 {
				half++
			} else if c >= len(g.hosts)/10 {
				tenth++
			}
		}
	}
	tenth += half
	lo, hi := len(g.hosts[0].pkgs), 0
	for _, h := range g.hosts {
		lo, hi = min(lo, len(h.pkgs)), max(hi, len(h.pkgs))
	}
	t.Logf("400 hosts: %d-%d packages (mean %.0f), %d distinct titles of %d; %.0f%% of the packages are of titles on half the hosts or more, %.0f%% on a tenth or more; setup %s, state %s",
		lo, hi, cfg.MeanPackages, cfg.FleetTitles, g.pool.Len(), 100*float64(half)/float64(cfg.TotalPackages),
		100*float64(tenth)/float64(cfg.TotalPackages), g.setup, bytesText(g.stateBytes()))
	if lo < DefaultMinPackages || hi > DefaultMaxPackages || hi-lo < 1000 {
		t.Errorf("package counts %d-%d", lo, hi)
	}
	if cfg.MeanPackages < 600 || cfg.MeanPackages > 1600 {
		t.Errorf("mean packages %.0f: want a log-uniform spread around 1,000", cfg.MeanPackages)
	}
	if float64(half)/float64(cfg.TotalPackages) < 0.3 || float64(tenth)/float64(cfg.TotalPackages) < 0.7 {
		t.Errorf("hosts share too little")
	}
	if cfg.FleetTitles < g.pool.Len()/3 {
		t.Errorf("only %d of %d titles on any host", cfg.FleetTitles, g.pool.Len())
	}
	if per := g.stateBytes() / int64(len(g.hosts)); per > 16<<10 {
		t.Errorf("%d bytes of state per host", per)
	}
}

// cloneFacts returns a copy of h that shares no list with it.
func cloneFacts(h model.Host) model.Host {
	h.Filesystems = slices.Clone(h.Filesystems)
	h.Interfaces = slices.Clone(h.Interfaces)
	for i := range h.Interfaces {
		h.Interfaces[i].Addrs = slices.Clone(h.Interfaces[i].Addrs)
	}
	h.Virtualization.Evidence = slices.Clone(h.Virtualization.Evidence)
	h.Labels = maps.Clone(h.Labels)
	return h
}

// TestParseMetrics reads the text format's corners.
func TestParseMetrics(t *testing.T) {
	in := `# HELP x y
# TYPE etcd_mvcc_put_total counter
etcd_mvcc_put_total 12
onus_collector_reports_total{kind="full",result="accepted"} 3
onus_collector_reports_total{kind="delta",result="accepted"} 4
onus_collector_reports_total{kind="delta",result="need_full"} 1e+00
weird{a="x\"y,z}",b="q"} 2.5 1700000000000
go_gc_duration_seconds{quantile="0.5"} NaN
broken{a="x" 3
`
	m, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.get("etcd_mvcc_put_total"); v != 12 {
		t.Errorf("puts %v", v)
	}
	if v := m.get("onus_collector_reports_total", "result", "accepted"); v != 7 {
		t.Errorf("accepted %v", v)
	}
	by := m.by("onus_collector_reports_total", "kind", "result")
	if by["delta/need_full"] != 1 || by["full/accepted"] != 3 {
		t.Errorf("by: %v", by)
	}
	if v := m.get("weird", "a", `x"y,z}`); v != 2.5 {
		t.Errorf("escaped label: %v", v)
	}
	if _, ok := m.sum("broken"); ok {
		t.Error("a broken line was read")
	}
}

// TestHistogram checks the percentiles within the buckets' 2%.
func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.021 {
			t.Errorf("q%.2f = %s, want %s (+2%%)", c.q, got, c.want)
		}
	}
	if h.max != time.Second || h.n != 1000 {
		t.Errorf("max %s n %d", h.max, h.n)
	}
}
