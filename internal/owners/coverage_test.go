package owners

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCoverage(t *testing.T) {
	rs := []Resolution{
		{Owner: "a"},
		{Owner: "a"},
		{Owner: "old", Orphaned: true},
		{},
	}
	got := CoverageOf(KindHost, rs)
	want := Coverage{Kind: KindHost, Total: 4, Owned: 2, Unowned: 2, Orphaned: 1, Ratio: 0.5}
	if got != want {
		t.Errorf("CoverageOf = %+v, want %+v", got, want)
	}
	if got := CoverageOf(KindService, nil); got.Ratio != 1 || got.Total != 0 {
		t.Errorf("coverage of nothing = %+v, want ratio 1", got)
	}
}

// testFleet is a small fleet: hosts with labels, titles, and services on each host.
type testFleet struct {
	hosts    []HostAttrs
	titles   []TitleAttrs
	services [][]ServiceAttrs
}

func newTestFleet() testFleet {
	var f testFleet
	roles := []string{"db", "web", "batch"}
	for i := range 12 {
		f.hosts = append(f.hosts, HostAttrs{ID: fmt.Sprintf("h%02d", i), Hostname: fmt.Sprintf("%s-%d", roles[i%3], i),
			OS: []string{"debian", "rocky"}[i%2], Labels: labels("role", roles[i%3], "env", []string{"prod", "staging"}[i/6])})
		f.services = append(f.services, []ServiceAttrs{UnitService("systemd", "nginx.service"), UnitService("systemd", "redis.service"),
			UnitService("systemd", "systemd-journald.service"), PortService("tcp", 5432), PortService("tcp", 9100)})
	}
	for _, n := range []string{"libc6", "libpq5", "libpython3.11", "nagios", "nginx", "special", "tie-tie", "zsh"} {
		f.titles = append(f.titles, TitleAttrs{Source: "deb", Name: n})
	}
	return f
}

// diff resolves the fleet under two registries.
func (f testFleet) diff(t *testing.T, before, after *Registry, max int) *Diff {
	t.Helper()
	rb, err := NewResolver(before)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := NewResolver(after)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDiff(before, after, max)
	for i, h := range f.hosts {
		hb, ha := rb.ResolveHost(h), ra.ResolveHost(h)
		d.Add(KindHost, h.ID, &hb, &ha)
		sb, sa := rb.ServicesOn(h, hb), ra.ServicesOn(h, ha)
		for _, s := range f.services[i] {
			b, a := sb.Resolve(s), sa.Resolve(s)
			d.Add(KindService, h.ID+"/"+s.Key(), &b, &a)
		}
	}
	for _, tt := range f.titles {
		b, a := rb.ResolveSoftware(tt), ra.ResolveSoftware(tt)
		d.Add(KindSoftware, tt.Key(), &b, &a)
	}
	d.Finish()
	return d
}

func TestDiff(t *testing.T) {
	before, err := Load("before.yaml", []byte(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	// The dry run of: dba retires in favour of a new team, the data department, prod-db
	// goes, deb-libs goes to platform, and an assignment comes.
	changed := strings.NewReplacer(
		"  - {id: dba, parent: data}\n", "  - {id: dba, parent: data, state: retired}\n  - {id: dbre, parent: data}\n",
		"  - {id: prod-db, kind: host, match: {labels: {role: db, env: prod}}, owner: security}\n", "",
		"{id: deb-libs, kind: software, match: {source: deb, name: \"lib*\"}, owner: security}", "{id: deb-libs, kind: software, match: {source: deb, name: \"lib*\"}, owner: platform}",
		"  - {kind: host, asset: h-assigned, owner: security}\n", "  - {kind: host, asset: h-assigned, owner: security}\n  - {kind: host, asset: h00, owner: dbre}\n",
	).Replace(testRegistry)
	after, err := Load("after.yaml", []byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	d := newTestFleet().diff(t, before, after, 10)
	var buf bytes.Buffer
	if err := d.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, filepath.Join("testdata", "diff.txt"), buf.Bytes())
	golden.AssertJSON(t, filepath.Join("testdata", "diff.json"), d)

	// The same registry changes nothing.
	same := newTestFleet().diff(t, before, before, 10)
	if !same.Owners.Empty() || !same.Rules.Empty() || !same.Assignments.Empty() || same.RulesReordered || len(same.Moves) > 0 || len(same.Assets) > 0 {
		t.Errorf("diff of a registry with itself: %+v", same)
	}
	for _, c := range same.Coverage {
		if c.Before != c.After || c.Changed != 0 {
			t.Errorf("coverage of %s changes: %+v", c.Kind, c)
		}
	}
}

// TestDiffKeepsFirstAssets checks that the assets listed do not depend on the order they
// are added in.
func TestDiffKeepsFirstAssets(t *testing.T) {
	empty := &Registry{}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}} {
		d := NewDiff(empty, empty, 2)
		for _, i := range order {
			before, after := Resolution{}, Resolution{Owner: "a"}
			d.Add(KindHost, fmt.Sprintf("h%d", i), &before, &after)
		}
		d.Finish()
		if len(d.Assets) != 2 || d.Assets[0].Asset != "h0" || d.Assets[1].Asset != "h1" || d.AssetsOmitted != 3 {
			t.Errorf("order %v: assets %+v, %d omitted", order, d.Assets, d.AssetsOmitted)
		}
		if len(d.Moves) != 1 || d.Moves[0].Count != 5 {
			t.Errorf("moves %+v", d.Moves)
		}
	}
}

func TestDiffRulesReordered(t *testing.T) {
	a := &Registry{Rules: []Rule{{ID: "x"}, {ID: "y"}, {ID: "z"}}}
	b := &Registry{Rules: []Rule{{ID: "y"}, {ID: "new"}, {ID: "x"}}}
	if d := NewDiff(a, b, 0); !d.RulesReordered {
		t.Error("reordering not seen")
	}
	c := &Registry{Rules: []Rule{{ID: "new"}, {ID: "x"}, {ID: "y"}}}
	if d := NewDiff(a, c, 0); d.RulesReordered {
		t.Error("an insertion seen as reordering")
	}
}
