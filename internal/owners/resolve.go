package owners

import (
	"slices"
	"sync"
	"sync/atomic"
)

// The types of provenance.
const (
	ByAssignment  = "assignment"
	ByRule        = "rule"
	ByInheritance = "inherited"
	ByNothing     = "none"
)

// Resolution is the owner of one asset and why.
type Resolution struct {
	// Owner is the owner that the deciding assignment or rule names; empty when nothing
	// decides.
	Owner string `json:"owner,omitempty"`
	// Orphaned is set when Owner is retired: the asset counts as unowned.
	Orphaned   bool       `json:"orphaned,omitempty"`
	Provenance Provenance `json:"provenance"`
}

// Owned reports whether the asset has an active owner.
func (r Resolution) Owned() bool { return r.Owner != "" && !r.Orphaned }

// Provenance says what decided a resolution.
type Provenance struct {
	// Type is "assignment", "rule", "inherited" (a service rule gave the owner of the host)
	// or "none".
	Type string `json:"type"`
	// RuleID is the deciding rule, for the types rule and inherited.
	RuleID string `json:"rule_id,omitempty"`
	// Detail says it in a sentence: "owned by dba via rule postgres-servers".
	Detail string `json:"detail"`
}

// maxTitles and maxSlots bound the memo of the service resolutions of one Resolver: the
// titles it indexes, and the memo slots of all classes (8 bytes each). Past them, services
// resolve without memoizing.
const (
	maxTitles = 1 << 20
	maxSlots  = 1 << 24
)

// Resolver resolves the owners of assets under one registry. It is safe for concurrent
// use; build a new one when the registry changes.
type Resolver struct {
	owners map[string]*Owner
	dept   map[string]string
	none   Resolution
	users  []userGlob // the active owners' users, in registry order

	hosts, software ruleSet
	hostAssigned    map[string]Resolution
	titleAssigned   map[[2]string]Resolution
	svcAssigned     map[ServiceAttrs]*Resolution

	// Service rules in order of precedence, and those with a part about the host, whose
	// results on a host make up its class.
	svcRules []*crule
	hostPart []*crule
	inherit  bool
	// installs is set when a software rule selects or inherits by installations.
	installs bool

	// titles is read without a lock; the rest is guarded by mu.
	titles      atomic.Pointer[titleTable]
	mu          sync.Mutex
	titlesDirty *titleTable
	titleMisses int
	nTitles     int
	slots       int
	classes     map[string]*svcClass
	inherited   map[[2]string]*Resolution // by rule and owner
}

// crule is a compiled rule.
type crule struct {
	rule *Rule
	c    compiled
	res  Resolution // what the rule decides; for an inheriting rule, on a host without owner
	bit  int        // the rule's bit in a service class, or -1
}

// NewResolver validates a registry and compiles it for resolution. The resolver keeps no
// reference to reg.
func NewResolver(reg *Registry) (*Resolver, error) {
	if err := reg.Validate(); err != nil {
		return nil, err
	}
	r := &Resolver{
		owners:        map[string]*Owner{},
		dept:          map[string]string{},
		none:          Resolution{Provenance: Provenance{Type: ByNothing, Detail: "unowned: no assignment or rule matches"}},
		hostAssigned:  map[string]Resolution{},
		titleAssigned: map[[2]string]Resolution{},
		svcAssigned:   map[ServiceAttrs]*Resolution{},
		inherited:     map[[2]string]*Resolution{},
		classes:       map[string]*svcClass{},
	}
	r.titles.Store(newTitleTable())
	for i := range reg.Owners {
		o := reg.Owners[i]
		o.Escalation = slices.Clone(o.Escalation)
		o.Users = slices.Clone(o.Users)
		r.owners[o.ID] = &o
		for _, u := range o.Users {
			if g, err := compileGlob(u); err == nil && !o.Retired() {
				r.users = append(r.users, userGlob{owner: o.ID, glob: g})
			}
		}
	}
	for id := range r.owners {
		top := id
		for r.owners[top].Parent != "" {
			top = r.owners[top].Parent
		}
		r.dept[id] = top
	}
	for _, a := range reg.Assignments {
		res := r.decided(a.Owner, Provenance{Type: ByAssignment, Detail: "owned by " + a.Owner + " via assignment of " + string(a.Kind) + " " + a.Asset})
		switch a.Kind {
		case KindHost:
			r.hostAssigned[a.Asset] = res
		case KindSoftware:
			t, _ := ParseSoftwareKey(a.Asset)
			r.titleAssigned[[2]string{t.Source, t.Name}] = res
		case KindService:
			s, _ := ParseServiceKey(a.Asset)
			r.svcAssigned[s] = &res
		}
	}
	var byKind [3][]*crule
	for i := range reg.Rules {
		ru := reg.Rules[i]
		cr := &crule{rule: &ru, c: compile(ru.Kind, &ru.Match), bit: -1}
		if ru.Kind == KindSoftware {
			cr.c.heir = ru.Inherit
			r.installs = r.installs || ru.Inherit || ru.Match.InstalledBy != "" || ru.Match.Location != ""
		}
		if ru.Inherit {
			// What the rule says when the host has no owner and no other rule decides.
			cr.res = Resolution{Provenance: Provenance{Type: ByNothing, Detail: "unowned: rule " + ru.ID + " gives the owner of the host, which has none"}}
		} else {
			cr.res = r.decided(ru.Owner, Provenance{Type: ByRule, RuleID: ru.ID, Detail: "owned by " + ru.Owner + " via rule " + ru.ID})
		}
		k := slices.Index(Kinds, ru.Kind)
		byKind[k] = append(byKind[k], cr)
	}
	for _, rules := range byKind {
		slices.SortStableFunc(rules, func(a, b *crule) int { return b.c.spec.compare(a.c.spec) })
	}
	r.hosts.build(byKind[0], []field{fHostID, fHostname, fFQDN, nFields, fOS, fOSFamily})
	r.software.build(byKind[1], []field{fName, fOrigin, fMaintainer, fVendor, fSection, fSource})
	r.svcRules = byKind[2]
	for _, cr := range r.svcRules {
		if !cr.c.host.empty() {
			cr.bit = len(r.hostPart)
			r.hostPart = append(r.hostPart, cr)
		}
		r.inherit = r.inherit || cr.rule.Inherit
	}
	return r, nil
}

// decided returns the resolution of an asset that owner gets: orphaned if it is retired.
func (r *Resolver) decided(owner string, p Provenance) Resolution {
	res := Resolution{Owner: owner, Provenance: p}
	if r.owners[owner].Retired() {
		res.Orphaned = true
		res.Provenance.Detail += " (orphaned: " + owner + " is retired)"
	}
	return res
}

// Owner returns an owner of the registry.
func (r *Resolver) Owner(id string) (Owner, bool) {
	o, ok := r.owners[id]
	if !ok {
		return Owner{}, false
	}
	c := *o
	c.Escalation = slices.Clone(o.Escalation)
	c.Users = slices.Clone(o.Users)
	return c, true
}

// Department returns the top of the owner's chain of parents: the department of a team, a
// department itself, the owner itself when it has no parent; empty for an unknown owner.
func (r *Resolver) Department(owner string) string { return r.dept[owner] }

// ResolveHost returns the owner of a host.
func (r *Resolver) ResolveHost(h HostAttrs) Resolution {
	if res, ok := r.hostAssigned[h.ID]; ok {
		return res
	}
	a := hostAttrs(&h)
	if cr := r.hosts.best(&a); cr != nil {
		return cr.res
	}
	return r.none
}

// ResolveSoftware returns the owner of a software title. A title's owner answers for it
// fleet-wide, so no host's owner plays a part.
func (r *Resolver) ResolveSoftware(t TitleAttrs) Resolution {
	if res, ok := r.titleAssigned[[2]string{t.Source, t.Name}]; ok {
		return res
	}
	a := titleAttrs(&t)
	if r.installs {
		for _, u := range t.InstalledBy {
			if o := r.OwnersOfUser(u); len(o) > 0 {
				a.heir, a.heirUser = o[0], u
				break
			}
		}
	}
	cr := r.software.best(&a)
	switch {
	case cr == nil:
		return r.none
	case cr.rule.Inherit:
		return r.decided(a.heir, Provenance{Type: ByInheritance, RuleID: cr.rule.ID,
			Detail: "owned by " + a.heir + " via rule " + cr.rule.ID + ": installed by " + a.heirUser + ", one of its users"})
	}
	return cr.res
}

// UsesInstallations reports whether a software rule selects by installations (installed_by,
// location) or inherits from their installers: only then does ResolveSoftware read
// TitleAttrs.InstalledBy and Locations.
func (r *Resolver) UsesInstallations() bool { return r.installs }

// ruleSet holds the host or software rules in order of precedence, indexed by the value
// of one exact field where they have one, so that a lookup tries few rules.
type ruleSet struct {
	rules  []*crule
	index  map[indexKey][]int32
	fields []field  // the indexed fields but labels
	labels []string // the indexed label names
	scan   []int32  // the rules without an exact field
}

// indexKey is a field (nFields for a label) and a value.
type indexKey struct {
	f     field
	label string
	value string
}

func (s *ruleSet) build(rules []*crule, order []field) {
	s.rules = rules
	s.index = map[indexKey][]int32{}
	for rank, cr := range rules {
		key, ok := indexOf(&cr.c.own, order)
		if !ok {
			s.scan = append(s.scan, int32(rank))
			continue
		}
		if key.f == nFields {
			if !slices.Contains(s.labels, key.label) {
				s.labels = append(s.labels, key.label)
			}
		} else if !slices.Contains(s.fields, key.f) {
			s.fields = append(s.fields, key.f)
		}
		s.index[key] = append(s.index[key], int32(rank))
	}
}

// indexOf picks the first exact field of a matcher in the given order (nFields standing
// for the labels).
func indexOf(m *matcher, order []field) (indexKey, bool) {
	for _, f := range order {
		if f == nFields {
			for _, l := range m.labels {
				if l.g.form == globExact {
					return indexKey{f: nFields, label: l.key, value: l.g.lit}, true
				}
			}
			continue
		}
		for _, g := range m.globs {
			if g.f == f && g.g.form == globExact {
				return indexKey{f: f, value: g.g.lit}, true
			}
		}
	}
	return indexKey{}, false
}

// best returns the matching rule of highest precedence, or nil.
func (s *ruleSet) best(a *attrs) *crule {
	best := int32(len(s.rules))
	for _, f := range s.fields {
		if l, ok := s.index[indexKey{f: f, value: a.vals[f]}]; ok {
			best = s.first(l, a, best)
		}
	}
	for _, name := range s.labels {
		if v, ok := a.labels[name]; ok {
			if l, ok := s.index[indexKey{f: nFields, label: name, value: v}]; ok {
				best = s.first(l, a, best)
			}
		}
	}
	best = s.first(s.scan, a, best)
	if int(best) == len(s.rules) {
		return nil
	}
	return s.rules[best]
}

// first returns the first rank in list below best whose rule matches, or best.
func (s *ruleSet) first(list []int32, a *attrs, best int32) int32 {
	for _, rank := range list {
		if rank >= best {
			break
		}
		if s.rules[rank].c.matchOwn(a) {
			return rank
		}
	}
	return best
}

// userGlob is one of an owner's users.
type userGlob struct {
	owner string
	glob  glob
}

// OwnersOfUser returns the active owners that list the account among their users, in
// registry order: the owners an installation the account made suggests.
func (r *Resolver) OwnersOfUser(account string) []string {
	var out []string
	for _, u := range r.users {
		if u.glob.match(account) && !slices.Contains(out, u.owner) {
			out = append(out, u.owner)
		}
	}
	return out
}
