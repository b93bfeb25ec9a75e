package index

import (
	"cmp"
	"maps"
	"slices"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// The rules on installations (owners.Selector.InstalledBy, Location, and software rules that
// inherit from who installed it) match a title by what the fleet's installations of it say.
// The index keeps what they need only while the registry has such rules
// (owners.Resolver.UsesInstallations): per host, its facts; per title, the count of each
// installer and location over the fleet. A registry that starts or stops using them has the
// facts rebuilt from the stored records, aside, before it is swapped in.

// instFact is one installer (the installation's InstalledBy, else its User) or one location
// that a host's record gives one of its titles.
type instFact struct {
	title uint32
	loc   bool // value is a location, else an installer
	value string
}

// titleFacts counts a title's installations per installer and per location, fleet-wide.
type titleFacts struct{ by, at map[string]int32 }

// installFacts is what the rules on installations need of the whole fleet.
type installFacts struct {
	hosts  map[string][]instFact
	titles map[uint32]*titleFacts
	canon  map[string]string // one string per distinct value, shared by every host
}

func newInstallFacts() *installFacts {
	return &installFacts{hosts: map[string][]instFact{}, titles: map[uint32]*titleFacts{}, canon: map[string]string{}}
}

// factsOf returns the facts of a record, sorted and distinct. Every title of the record is
// already interned in names.
func factsOf(rec *store.HostRecord, nameIDs map[string]uint32, canon map[string]string) []instFact {
	var out []instFact
	var buf []byte
	for i := range rec.Software {
		in := &rec.Software[i]
		by := in.InstalledBy
		if by == "" {
			by = in.User
		}
		if by == "" && in.Location == "" {
			continue
		}
		buf = model.AppendTitleKey(buf[:0], in.Source, in.Name)
		id, ok := nameIDs[string(buf)]
		if !ok {
			continue
		}
		if by != "" {
			out = append(out, instFact{title: id, value: canonical(canon, by)})
		}
		if in.Location != "" {
			out = append(out, instFact{title: id, loc: true, value: canonical(canon, in.Location)})
		}
	}
	slices.SortFunc(out, compareFacts)
	return slices.Compact(out)
}

func compareFacts(a, b instFact) int {
	if c := cmp.Compare(a.title, b.title); c != 0 {
		return c
	}
	if a.loc != b.loc {
		if a.loc {
			return 1
		}
		return -1
	}
	return cmp.Compare(a.value, b.value)
}

func canonical(canon map[string]string, s string) string {
	if c, ok := canon[s]; ok {
		return c
	}
	canon[s] = s
	return s
}

// count adds d (+1 or -1) hosts to each of facts, and reports the titles whose set of
// installers or locations changed by it.
func (f *installFacts) count(facts []instFact, d int32, changed func(title uint32)) {
	for _, x := range facts {
		tf := f.titles[x.title]
		if tf == nil {
			tf = &titleFacts{by: map[string]int32{}, at: map[string]int32{}}
			f.titles[x.title] = tf
		}
		m := tf.by
		if x.loc {
			m = tf.at
		}
		n := m[x.value] + d
		if n <= 0 {
			delete(m, x.value)
		} else {
			m[x.value] = n
		}
		if n <= 0 || n == 1 && d > 0 {
			changed(x.title)
		}
		if len(tf.by) == 0 && len(tf.at) == 0 {
			delete(f.titles, x.title)
		}
	}
}

// replaceFacts counts a host's facts out (old) and in (fresh), either nil, and returns the
// titles whose installers or locations changed, sorted; the caller holds the write lock.
func (ix *Index) replaceFacts(old, fresh *HostEntry) []uint32 {
	if ix.facts == nil {
		return nil
	}
	var changed []uint32
	mark := func(t uint32) { changed = append(changed, t) }
	if old != nil {
		ix.facts.count(old.facts, -1, mark)
	}
	if fresh != nil {
		ix.facts.count(fresh.facts, 1, mark)
	}
	return sortedSet(changed)
}

// resolveTitles resolves the titles again, outside a list; the caller holds the write lock.
func (ix *Index) resolveTitles(ids []uint32) {
	if ix.bulk {
		return
	}
	for _, t := range ids {
		if te := ix.titles[ix.names[t]]; te != nil {
			ix.resolveTitle(te)
		}
	}
}

// attrsOf returns what rules match of a title: its descriptive fields and, from f (nil when
// not kept), its installers and locations, most installations first.
func attrsOf(t *store.Title, id uint32, f *installFacts) owners.TitleAttrs {
	a := owners.TitleAttrsFrom(t.Source, t.Name, &t.PackageInfo)
	if f == nil {
		return a
	}
	if tf := f.titles[id]; tf != nil {
		a.InstalledBy, a.Locations = byCount(tf.by), byCount(tf.at)
	}
	return a
}

func byCount(m map[string]int32) []string {
	if len(m) == 0 {
		return nil
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys
}

// rebuildFacts returns the facts of every host, decoded from the stored records, for a
// resolver that uses installations, or nil for one that does not. The caller holds a lock.
func (ix *Index) rebuildFacts(r *owners.Resolver) *installFacts {
	if !r.UsesInstallations() {
		return nil
	}
	f := newInstallFacts()
	for id, h := range ix.hosts {
		rec, err := store.DecodeHostUnordered(h.Raw, ix.build)
		if err != nil {
			ix.log.Warn("unreadable host record: its installations play no part in ownership", "host", id, "err", err)
			continue
		}
		facts := factsOf(rec, ix.nameIDs, f.canon)
		if len(facts) > 0 {
			f.hosts[id] = facts
			f.count(facts, 1, func(uint32) {})
		}
	}
	return f
}

// titleAttrs returns what rules match of an indexed title; the caller holds a lock.
func (ix *Index) titleAttrs(t *TitleEntry) owners.TitleAttrs {
	if ix.facts == nil {
		return attrsOf(&t.Title, 0, nil)
	}
	id, ok := ix.nameIDs[model.TitleKey(t.Source, t.Name)]
	if !ok {
		return attrsOf(&t.Title, 0, nil)
	}
	return attrsOf(&t.Title, id, ix.facts)
}

// takeFacts makes f the index's facts (nil: none kept), and gives each host its own; the
// caller holds the write lock.
func (ix *Index) takeFacts(f *installFacts) {
	ix.facts = f
	for id, h := range ix.hosts {
		h.facts = nil
		if f != nil {
			h.facts = f.hosts[id]
		}
	}
	if f != nil {
		f.hosts = nil
	}
}
