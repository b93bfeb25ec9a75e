package owners

import (
	"cmp"
	"container/heap"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
)

// Coverage counts the assets of one kind by ownership. Unowned includes Orphaned: an
// orphan is an asset whose owner is retired. Ratio is Owned/Total, and 1 when there are
// no assets, since none is unowned.
type Coverage struct {
	Kind     Kind    `json:"kind"`
	Total    int     `json:"total"`
	Owned    int     `json:"owned"`
	Unowned  int     `json:"unowned"`
	Orphaned int     `json:"orphaned"`
	Ratio    float64 `json:"ratio"`
}

// Add counts one asset.
func (c *Coverage) Add(r *Resolution) {
	c.Total++
	switch {
	case r.Owned():
		c.Owned++
	case r.Orphaned:
		c.Unowned++
		c.Orphaned++
	default:
		c.Unowned++
	}
}

// Done computes the ratio once every asset is counted.
func (c *Coverage) Done() {
	c.Ratio = 1
	if c.Total > 0 {
		c.Ratio = float64(c.Owned) / float64(c.Total)
	}
}

// CoverageOf counts the resolutions of assets of one kind.
func CoverageOf(kind Kind, rs []Resolution) Coverage {
	c := Coverage{Kind: kind}
	for i := range rs {
		c.Add(&rs[i])
	}
	c.Done()
	return c
}

// Diff is what replacing one registry by another changes, for a dry run of an apply: the
// owners, rules and assignments added, removed and changed, and, from the assets the
// caller resolves under both registries with Add, the coverage per kind before and after,
// how many assets move from an owner to another, and the first assets that move.
type Diff struct {
	Owners      Changes `json:"owners"`
	Rules       Changes `json:"rules"`
	Assignments Changes `json:"assignments"`
	// RulesReordered is set when the rules that both registries have come in a different
	// order, which can decide ties differently.
	RulesReordered bool `json:"rules_reordered,omitempty"`

	Coverage []CoverageChange `json:"coverage"`
	Moves    []Move           `json:"moves,omitempty"`
	// Assets are the assets whose owner changes, the first MaxAssets of them by kind and
	// key; AssetsOmitted counts the others.
	Assets        []AssetChange `json:"assets,omitempty"`
	AssetsOmitted int           `json:"assets_omitted,omitempty"`

	max   int
	cov   [3]CoverageChange
	moves map[Move]int
	heap  assetHeap
}

// Changes lists the IDs of what a registry change adds, removes and changes. Assignments
// are named "kind asset".
type Changes struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
}

// Empty reports whether nothing changes.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// CoverageChange is the coverage of one kind before and after; Changed counts the assets
// whose owner or orphan state changes, Reattributed those that keep their owner but for
// another reason.
type CoverageChange struct {
	Kind         Kind     `json:"kind"`
	Before       Coverage `json:"before"`
	After        Coverage `json:"after"`
	Changed      int      `json:"changed"`
	Reattributed int      `json:"reattributed"`
}

// Move counts the assets of one kind that go from one owner to another; an empty owner is
// none. Orphaned owners are marked.
type Move struct {
	Kind         Kind   `json:"kind"`
	From         string `json:"from,omitempty"`
	FromOrphaned bool   `json:"from_orphaned,omitempty"`
	To           string `json:"to,omitempty"`
	ToOrphaned   bool   `json:"to_orphaned,omitempty"`
	Count        int    `json:"count"`
}

// AssetChange is one asset whose owner changes. The asset of a service instance is
// "<host id>/<service title>".
type AssetChange struct {
	Kind   Kind       `json:"kind"`
	Asset  string     `json:"asset"`
	Before Resolution `json:"before"`
	After  Resolution `json:"after"`
}

// NewDiff compares two registries; maxAssets bounds the assets the diff lists.
func NewDiff(before, after *Registry, maxAssets int) *Diff {
	d := &Diff{max: maxAssets, moves: map[Move]int{}}
	d.Owners = changes(before.Owners, after.Owners, func(o Owner) string { return o.ID }, sameOwner)
	d.Rules = changes(before.Rules, after.Rules, func(r Rule) string { return r.ID }, sameRule)
	d.Assignments = changes(before.Assignments, after.Assignments,
		func(a Assignment) string { return string(a.Kind) + " " + a.Asset },
		func(a, b Assignment) bool { return a == b })
	var common []string
	in := map[string]bool{}
	for _, r := range after.Rules {
		in[r.ID] = true
	}
	for _, r := range before.Rules {
		if in[r.ID] {
			common = append(common, r.ID)
		}
	}
	in = map[string]bool{}
	for _, id := range common {
		in[id] = true
	}
	i := 0
	for _, r := range after.Rules {
		if in[r.ID] {
			if common[i] != r.ID {
				d.RulesReordered = true
				break
			}
			i++
		}
	}
	for i, k := range Kinds {
		d.cov[i] = CoverageChange{Kind: k, Before: Coverage{Kind: k}, After: Coverage{Kind: k}}
	}
	return d
}

func changes[T any](before, after []T, id func(T) string, same func(a, b T) bool) Changes {
	var c Changes
	old := map[string]T{}
	for _, x := range before {
		old[id(x)] = x
	}
	seen := map[string]bool{}
	for _, x := range after {
		k := id(x)
		seen[k] = true
		if o, ok := old[k]; !ok {
			c.Added = append(c.Added, k)
		} else if !same(o, x) {
			c.Changed = append(c.Changed, k)
		}
	}
	for _, x := range before {
		if k := id(x); !seen[k] {
			c.Removed = append(c.Removed, k)
		}
	}
	slices.Sort(c.Added)
	slices.Sort(c.Removed)
	slices.Sort(c.Changed)
	return c
}

func sameOwner(a, b Owner) bool {
	state := func(s string) string { return cmp.Or(s, StateActive) }
	return a.ID == b.ID && a.Name == b.Name && a.Contact == b.Contact && slices.Equal(a.Escalation, b.Escalation) &&
		slices.Equal(a.Users, b.Users) &&
		a.Parent == b.Parent && state(a.State) == state(b.State)
}

func sameRule(a, b Rule) bool {
	if !maps.Equal(a.Match.Labels, b.Match.Labels) {
		return false
	}
	a.Match.Labels, b.Match.Labels = nil, nil
	return reflect.DeepEqual(a, b)
}

// Add counts one asset resolved under the registry before and after.
func (d *Diff) Add(kind Kind, asset string, before, after *Resolution) {
	k := slices.Index(Kinds, kind)
	if k < 0 {
		return
	}
	c := &d.cov[k]
	c.Before.Add(before)
	c.After.Add(after)
	if before.Owner == after.Owner && before.Orphaned == after.Orphaned {
		if before.Provenance != after.Provenance {
			c.Reattributed++
		}
		return
	}
	c.Changed++
	d.moves[Move{Kind: kind, From: before.Owner, FromOrphaned: before.Orphaned, To: after.Owner, ToOrphaned: after.Orphaned}]++
	if d.max <= 0 {
		d.AssetsOmitted++
		return
	}
	a := AssetChange{Kind: kind, Asset: asset, Before: *before, After: *after}
	if len(d.heap) < d.max {
		heap.Push(&d.heap, a)
		return
	}
	d.AssetsOmitted++
	if assetLess(a, d.heap[0]) {
		d.heap[0] = a
		heap.Fix(&d.heap, 0)
	}
}

// Finish fills Coverage, Moves and Assets from what Add counted.
func (d *Diff) Finish() {
	d.Coverage = make([]CoverageChange, len(d.cov))
	for i, c := range d.cov {
		c.Before.Done()
		c.After.Done()
		d.Coverage[i] = c
	}
	d.Moves = d.Moves[:0]
	for m, n := range d.moves {
		m.Count = n
		d.Moves = append(d.Moves, m)
	}
	slices.SortFunc(d.Moves, func(a, b Move) int {
		return cmp.Or(cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind)), b.Count-a.Count,
			cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), boolCmp(a.FromOrphaned, b.FromOrphaned), boolCmp(a.ToOrphaned, b.ToOrphaned))
	})
	d.Assets = slices.Clone([]AssetChange(d.heap))
	slices.SortFunc(d.Assets, func(a, b AssetChange) int { return assetCmp(a, b) })
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func assetCmp(a, b AssetChange) int {
	return cmp.Or(cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind)), cmp.Compare(a.Asset, b.Asset))
}

func assetLess(a, b AssetChange) bool { return assetCmp(a, b) < 0 }

// assetHeap keeps the first changed assets: a max-heap whose top is the last kept.
type assetHeap []AssetChange

func (h assetHeap) Len() int           { return len(h) }
func (h assetHeap) Less(i, j int) bool { return assetLess(h[j], h[i]) }
func (h assetHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *assetHeap) Push(x any)        { *h = append(*h, x.(AssetChange)) }
func (h *assetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// WriteText writes the diff for people, as apply --dry-run prints it. Call Finish first.
func (d *Diff) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range []struct {
		name string
		c    Changes
	}{{"owners", d.Owners}, {"rules", d.Rules}, {"assignments", d.Assignments}} {
		fmt.Fprintf(tw, "%s:\t", s.name)
		if s.c.Empty() {
			fmt.Fprintf(tw, "unchanged\n")
			continue
		}
		var parts []string
		for _, p := range []struct {
			sign string
			ids  []string
		}{{"+", s.c.Added}, {"-", s.c.Removed}, {"~", s.c.Changed}} {
			for _, id := range p.ids {
				parts = append(parts, p.sign+id)
			}
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(parts, ", "))
	}
	if d.RulesReordered {
		fmt.Fprintf(tw, "\trules reordered: ties may resolve differently\n")
	}
	fmt.Fprintf(tw, "\ncoverage\towned before\towned after\torphaned\tchanged\treattributed\n")
	for _, c := range d.Coverage {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d → %d\t%d\t%d\n", c.Kind, ratio(c.Before), ratio(c.After),
			c.Before.Orphaned, c.After.Orphaned, c.Changed, c.Reattributed)
	}
	if len(d.Moves) > 0 {
		fmt.Fprintf(tw, "\nmoves\tfrom\tto\tassets\n")
		for _, m := range d.Moves {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m.Kind, ownerText(m.From, m.FromOrphaned), ownerText(m.To, m.ToOrphaned), m.Count)
		}
	}
	if len(d.Assets) > 0 {
		fmt.Fprintf(tw, "\nasset\tbefore\tafter\n")
		for _, a := range d.Assets {
			fmt.Fprintf(tw, "%s %s\t%s\t%s\n", a.Kind, a.Asset, a.Before.Provenance.Detail, a.After.Provenance.Detail)
		}
		if d.AssetsOmitted > 0 {
			fmt.Fprintf(tw, "… and %d more\n", d.AssetsOmitted)
		}
	}
	return tw.Flush()
}

func ratio(c Coverage) string {
	return fmt.Sprintf("%d/%d (%.1f%%)", c.Owned, c.Total, 100*c.Ratio)
}

func ownerText(owner string, orphaned bool) string {
	switch {
	case owner == "":
		return "(none)"
	case orphaned:
		return owner + " (retired)"
	}
	return owner
}
