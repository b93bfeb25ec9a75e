package protocol

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/onus-project/onus/internal/model"
)

// FromInventory splits an inventory into its stable state (cleaned with CleanState, then
// normalized) and its volatile capacity figures. Cleaning before the hash is what lets the
// collector, which cleans every report again, hash the very bytes the agent hashed.
func FromInventory(inv *model.Inventory) (State, Capacity) {
	// Normalize sorts and rewrites in place: work on copies, never on the caller's lists.
	st := State{
		Host:      cloneHost(&inv.Host),
		Software:  slices.Clone(inv.Software),
		Services:  slices.Clone(inv.Services),
		Listeners: slices.Clone(inv.Listeners),
		Sources:   slices.Clone(inv.Sources),
	}
	c := Capacity{
		CollectedAt:     inv.CollectedAt.UTC(),
		MemoryAvailable: inv.Host.Memory.AvailableBytes,
		SwapFree:        inv.Host.Memory.SwapFreeBytes,
	}
	for _, fs := range inv.Host.Filesystems {
		c.Filesystems = append(c.Filesystems, FilesystemUse{Mountpoint: fs.Mountpoint, UsedBytes: fs.UsedBytes, FreeBytes: fs.FreeBytes})
	}
	for _, s := range inv.Sources {
		c.SourceDurationSecs += s.Duration
	}
	for i := range c.Filesystems {
		c.Filesystems[i].Mountpoint = CleanText(c.Filesystems[i].Mountpoint, MaxFieldLen)
	}
	// st shares no list or map with inv: cleaning in place leaves the caller's alone.
	CleanState(&st)
	Normalize(&st)
	return st, c
}

// Normalize puts a state in its canonical form, the one that is hashed: lists sorted (on
// every field, so that the input order never shows), volatile figures zeroed, times in UTC
// whole seconds, empty lists and maps nil, and one package per PackageKey and one service
// per ServiceKey (a package database can list the same package twice; deltas address
// packages and services by key). It works in place, on the lists st holds.
func Normalize(st *State) {
	h := &st.Host
	h.Memory.AvailableBytes, h.Memory.SwapFreeBytes = 0, 0
	h.BootTime = second(h.BootTime)
	if len(h.Filesystems) == 0 {
		h.Filesystems = nil
	}
	for i := range h.Filesystems {
		h.Filesystems[i].UsedBytes, h.Filesystems[i].FreeBytes = 0, 0
	}
	slices.SortFunc(h.Filesystems, func(a, b model.Filesystem) int {
		return orJSON(cmp.Or(cmp.Compare(a.Mountpoint, b.Mountpoint), cmp.Compare(a.Device, b.Device)), a, b)
	})
	if len(h.Interfaces) == 0 {
		h.Interfaces = nil
	}
	for i := range h.Interfaces {
		if len(h.Interfaces[i].Addrs) == 0 {
			h.Interfaces[i].Addrs = nil
		}
		// The kernel's address order changes with address lifetimes; it means nothing here.
		slices.Sort(h.Interfaces[i].Addrs)
	}
	slices.SortFunc(h.Interfaces, func(a, b model.Interface) int { return orJSON(cmp.Compare(a.Name, b.Name), a, b) })
	if len(h.Labels) == 0 {
		h.Labels = nil
	}
	if len(h.Virtualization.Evidence) == 0 {
		h.Virtualization.Evidence = nil
	}
	slices.Sort(h.Virtualization.Evidence)
	if len(st.Software) == 0 {
		st.Software = nil
	}
	for i := range st.Software {
		st.Software[i].InstallTime = second(st.Software[i].InstallTime)
	}
	slices.SortFunc(st.Software, func(a, b model.Package) int {
		return orJSON(model.ComparePackages(a, b), a, b)
	})
	st.Software = slices.CompactFunc(st.Software, func(a, b model.Package) bool { return Key(a) == Key(b) })
	if len(st.Services) == 0 {
		st.Services = nil
	}
	slices.SortFunc(st.Services, func(a, b model.Service) int {
		return orJSON(model.CompareServices(a, b), a, b)
	})
	st.Services = slices.CompactFunc(st.Services, func(a, b model.Service) bool { return serviceKey(a) == serviceKey(b) })
	if len(st.Listeners) == 0 {
		st.Listeners = nil
	}
	slices.SortFunc(st.Listeners, func(a, b model.Listener) int {
		return orJSON(model.CompareListeners(a, b), a, b)
	})
	if len(st.Sources) == 0 {
		st.Sources = nil
	}
	for i := range st.Sources {
		st.Sources[i].Duration = 0
	}
	slices.SortFunc(st.Sources, func(a, b model.SourceStatus) int { return orJSON(cmp.Compare(a.Name, b.Name), a, b) })
}

// orJSON returns c, or when c is 0 (a tie on the sort key), the order of a and b's JSON
// encodings: encoding only on ties keeps sorting cheap.
func orJSON[T any](c int, a, b T) int {
	if c != 0 {
		return c
	}
	return compareJSON(a, b)
}

// compareJSON orders two values by their JSON encodings: the tie-break that makes the
// canonical order total, whatever fields the model types grow.
func compareJSON(a, b any) int {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Compare(ja, jb)
}

// cloneHost returns a copy of h that shares no slice or map with it.
func cloneHost(h *model.Host) model.Host {
	c := *h
	c.Virtualization.Evidence = slices.Clone(h.Virtualization.Evidence)
	c.Filesystems = slices.Clone(h.Filesystems)
	c.Interfaces = slices.Clone(h.Interfaces)
	for i := range c.Interfaces {
		c.Interfaces[i].Addrs = slices.Clone(c.Interfaces[i].Addrs)
	}
	c.Labels = maps.Clone(h.Labels)
	return c
}

func serviceKey(s model.Service) ServiceKey { return ServiceKey{Manager: s.Manager, Name: s.Name} }

// second returns t in UTC whole seconds. A time outside the range Validate accepts (a file
// time set to 1900 by a broken package) counts as no time at all: kept, it would have the
// collector refuse every report of the host, or not even encode.
func second(t time.Time) time.Time {
	if t.IsZero() || t.Before(minTime) || t.After(maxTime) {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
}

// Hash returns the hash of a normalized state: the hex SHA-256 of its JSON encoding.
//
// The hash covers what identifies each installation (source, name, version, architecture,
// install time and state) and what describes that installation (model.InstallInfo), but
// not the package's descriptive fields (vendor, maintainer, section, origin, license,
// summary, size): those belong to the title and are kept once per fleet by the collector,
// which must be able to rebuild the hashed state from what it stores.
//
// The encoding is json.Marshal's, byte for byte (agents of every release hash the same
// bytes), written by appendHashed: the software list, which is most of a state, without
// reflection (see hash.go).
func Hash(st *State) string {
	b := appendHashed(make([]byte, 0, 128*len(st.Software)+4096), st)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Diff returns the delta that turns old into new; both must be normalized. It returns nil
// when nothing changed.
func Diff(old, new *State) *Delta {
	d := &Delta{}
	changed := false
	if !hostEqual(&old.Host, &new.Host) {
		h := new.Host
		d.Host = &h
		changed = true
	}
	d.SoftwareUpsert, d.SoftwareRemove = diffSorted(old.Software, new.Software,
		func(a, b model.Package) int { return cmpKey(Key(a), Key(b)) }, pkgEqual, Key)
	d.ServicesUpsert, d.ServicesRemove = diffSorted(old.Services, new.Services, model.CompareServices,
		func(a, b model.Service) bool { return a.Equal(&b) }, serviceKey)
	if len(d.SoftwareUpsert)+len(d.SoftwareRemove)+len(d.ServicesUpsert)+len(d.ServicesRemove) > 0 {
		changed = true
	}
	if !slices.Equal(old.Listeners, new.Listeners) {
		d.ListenersChange, d.Listeners = true, new.Listeners
		changed = true
	}
	if !slices.Equal(old.Sources, new.Sources) {
		d.SourcesChange, d.Sources = true, new.Sources
		changed = true
	}
	if !changed {
		return nil
	}
	return d
}

// diffSorted compares two lists sorted by cmpf and returns the items of b that are new or
// different, and the keys of the items of a that are gone.
func diffSorted[T any, K any](a, b []T, cmpf func(T, T) int, eq func(T, T) bool, key func(T) K) (upsert []T, remove []K) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && cmpf(a[i], b[j]) < 0):
			remove = append(remove, key(a[i]))
			i++
		case i == len(a) || cmpf(a[i], b[j]) > 0:
			upsert = append(upsert, b[j])
			j++
		default:
			if !eq(a[i], b[j]) {
				upsert = append(upsert, b[j])
			}
			i++
			j++
		}
	}
	return upsert, remove
}

func cmpKey(a, b PackageKey) int {
	return model.ComparePackageKeys(a.Source, a.Name, a.Arch, a.Version, b.Source, b.Name, b.Arch, b.Version)
}

func pkgEqual(a, b model.Package) bool { return a.Equal(&b) }

func hostEqual(a, b *model.Host) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Apply returns the state that results from applying d to old. The result is normalized
// and shares nothing with old or d; the caller compares its hash with the report's to know
// whether both sides agree.
func Apply(old *State, d *Delta) State {
	st := State{Host: cloneHost(&old.Host), Listeners: old.Listeners, Sources: old.Sources}
	if d.Host != nil {
		st.Host = cloneHost(d.Host)
	}
	if d.ListenersChange {
		st.Listeners = d.Listeners
	}
	if d.SourcesChange {
		st.Sources = d.Sources
	}
	st.Software = applySorted(old.Software, d.SoftwareUpsert, d.SoftwareRemove, Key, cmpKey)
	st.Services = applySorted(old.Services, d.ServicesUpsert, d.ServicesRemove, serviceKey,
		func(a, b ServiceKey) int {
			return cmp.Or(cmp.Compare(a.Manager, b.Manager), cmp.Compare(a.Name, b.Name))
		})
	// Normalize works in place: give it copies of the lists it would sort or rewrite.
	st.Listeners = slices.Clone(st.Listeners)
	st.Sources = slices.Clone(st.Sources)
	Normalize(&st)
	return st
}

func applySorted[T any, K comparable](old, upsert []T, remove []K, key func(T) K, cmpk func(K, K) int) []T {
	drop := make(map[K]bool, len(remove))
	for _, k := range remove {
		drop[k] = true
	}
	// An upsert replaces the item with its key; of an upsert listed twice, the last wins.
	last := make(map[K]int, len(upsert))
	for i, u := range upsert {
		last[key(u)] = i
	}
	added := make([]T, 0, len(last))
	for i, u := range upsert {
		if last[key(u)] == i {
			added = append(added, u)
		}
	}
	cmpT := func(a, b T) int { return cmpk(key(a), key(b)) }
	slices.SortFunc(added, cmpT)
	// The items kept from old, which a normalized state holds in order, are merged with the
	// sorted upserts in one pass: a delta's few upserts go into the thousands of packages a
	// host keeps without sorting or copying them all again. Old items out of order (a state
	// that was not normalized) make the list sorted whole.
	out := make([]T, 0, len(old)+len(added))
	sorted, prev := true, -1
	for i, o := range old {
		k := key(o)
		if _, up := last[k]; up || drop[k] {
			continue
		}
		if prev >= 0 && cmpk(key(old[prev]), k) > 0 {
			sorted = false
		}
		prev = i
		for len(added) > 0 && cmpT(added[0], o) < 0 {
			out, added = append(out, added[0]), added[1:]
		}
		out = append(out, o)
	}
	out = append(out, added...)
	if !sorted {
		slices.SortFunc(out, cmpT)
	}
	return out
}

// Events lists the software changes from old to new, both normalized, as installs, removals,
// upgrades and downgrades. detected is when the change was noticed; an install or upgrade
// takes the package's recorded install time when there is one no later than detected, and
// what the package says of who installed it and how.
func Events(old, new *State, detected time.Time) []Event {
	type group struct{ source, name, arch string }
	key := func(p model.Package) group { return group{p.Source, p.Name, p.Arch} }
	olds := map[group][]model.Package{}
	for _, p := range old.Software {
		olds[key(p)] = append(olds[key(p)], p)
	}
	news := map[group][]model.Package{}
	var order []group
	seen := map[group]bool{}
	add := func(g group) {
		if !seen[g] {
			seen[g] = true
			order = append(order, g)
		}
	}
	for _, p := range old.Software {
		add(key(p))
	}
	for _, p := range new.Software {
		news[key(p)] = append(news[key(p)], p)
		add(key(p))
	}
	detected = detected.UTC().Truncate(time.Second)
	when := func(p model.Package) time.Time {
		if !p.InstallTime.IsZero() && !p.InstallTime.After(detected) {
			return p.InstallTime.UTC()
		}
		return detected
	}
	var out []Event
	for _, g := range order {
		o, n := olds[g], news[g]
		gone := slices.DeleteFunc(slices.Clone(o), func(p model.Package) bool {
			return slices.ContainsFunc(n, func(q model.Package) bool { return q.Version == p.Version })
		})
		came := slices.DeleteFunc(slices.Clone(n), func(p model.Package) bool {
			return slices.ContainsFunc(o, func(q model.Package) bool { return q.Version == p.Version })
		})
		// One version replaced by another is an upgrade or a downgrade. Where several
		// versions sit side by side before or after (rpm's install-only packages: kernels),
		// versions are installed and removed, not upgraded: a new kernel that replaces the
		// oldest of two is an install and a removal.
		if len(o) == 1 && len(n) == 1 && len(gone) == 1 && len(came) == 1 {
			typ := EventUpgraded
			if CompareVersions(g.source, came[0].Version, gone[0].Version) < 0 {
				typ = EventDowngraded
			}
			e := Event{Type: typ, Source: g.source, Name: g.name, Arch: g.arch,
				Version: came[0].Version, PreviousVersion: gone[0].Version, Time: when(came[0]), DetectedAt: detected}
			e.attribute(&came[0])
			out = append(out, e)
			continue
		}
		for _, p := range gone {
			out = append(out, Event{Type: EventRemoved, Source: g.source, Name: g.name, Arch: g.arch,
				Version: p.Version, Time: detected, DetectedAt: detected})
		}
		for _, p := range came {
			e := Event{Type: EventInstalled, Source: g.source, Name: g.name, Arch: g.arch,
				Version: p.Version, Time: when(p), DetectedAt: detected}
			e.attribute(&p)
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}
