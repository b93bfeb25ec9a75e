package owners

import (
	"maps"
	"slices"
	"strings"
	"sync/atomic"
)

// ResolveService returns the owner of a service instance: the service title svc on the
// host host, whose resolution is hostOwner. For many services of one host, ServicesOn
// is faster.
func (r *Resolver) ResolveService(svc ServiceAttrs, host HostAttrs, hostOwner Resolution) Resolution {
	return r.ServicesOn(host, hostOwner).Resolve(svc)
}

// HostServices resolves the services of one host.
type HostServices struct {
	r *Resolver
	c *svcClass
}

// svcClass is a set of hosts on which every service title resolves the same way: the
// same results of the host parts of the service rules and, if a rule inherits, the same
// host owner.
type svcClass struct {
	bits  []byte
	owner string
	// memo holds the resolutions of the titles seen so far, by title index; read without
	// a lock, written under Resolver.mu, replaced by a larger copy when an index is past
	// its end.
	memo atomic.Pointer[[]atomic.Pointer[Resolution]]
}

func (c *svcClass) has(bit int) bool { return c.bits[bit/8]&(1<<(bit%8)) != 0 }

// titleTable gives the service titles seen so far dense indexes, keyed so that the common
// lookups hash one string (a systemd unit's name) or one integer (a port). One table serves
// every class, so it stays in the processor's caches.
type titleTable struct {
	systemd map[string]int32
	ports   map[uint32]int32
	other   map[ServiceAttrs]int32
}

func newTitleTable() *titleTable {
	return &titleTable{systemd: map[string]int32{}, ports: map[uint32]int32{}, other: map[ServiceAttrs]int32{}}
}

// portKey returns the key of a TCP or UDP port title, IPv6 included, and whether it has one.
func portKey(s *ServiceAttrs) (uint32, bool) {
	if s.Manager != "" {
		return 0, false
	}
	switch s.Protocol {
	case "tcp", "tcp6":
		return uint32(s.Port), true
	case "udp", "udp6":
		return uint32(s.Port) | 1<<16, true
	}
	return 0, false
}

func (t *titleTable) get(s *ServiceAttrs) (int32, bool) {
	if s.Manager == "systemd" {
		i, ok := t.systemd[s.Name]
		return i, ok
	}
	if k, ok := portKey(s); ok {
		i, ok := t.ports[k]
		return i, ok
	}
	i, ok := t.other[*s]
	return i, ok
}

func (t *titleTable) put(s *ServiceAttrs, i int32) {
	if s.Manager == "systemd" {
		t.systemd[s.Name] = i
	} else if k, ok := portKey(s); ok {
		t.ports[k] = i
	} else {
		t.other[*s] = i
	}
}

func (t *titleTable) len() int { return len(t.systemd) + len(t.ports) + len(t.other) }

func (t *titleTable) clone() *titleTable {
	return &titleTable{systemd: maps.Clone(t.systemd), ports: maps.Clone(t.ports), other: maps.Clone(t.other)}
}

// ServicesOn returns the resolver of the services of a host whose own resolution is
// hostOwner.
func (r *Resolver) ServicesOn(host HostAttrs, hostOwner Resolution) HostServices {
	var buf [64]byte
	key := buf[:0]
	owner := ""
	if _, ok := r.owners[hostOwner.Owner]; ok && r.inherit {
		owner = hostOwner.Owner
		key = append(key, owner...)
	}
	key = append(key, 0)
	n := len(key)
	if len(r.hostPart) > 0 {
		a := hostAttrs(&host)
		key = append(key, make([]byte, (len(r.hostPart)+7)/8)...)
		for i, cr := range r.hostPart {
			if cr.c.host.match(&a) {
				key[n+i/8] |= 1 << (i % 8)
			}
		}
	}
	r.mu.Lock()
	c, ok := r.classes[string(key)]
	if !ok {
		c = &svcClass{bits: slices.Clone(key[n:]), owner: owner}
		c.memo.Store(&[]atomic.Pointer[Resolution]{})
		r.classes[string(key)] = c
	}
	r.mu.Unlock()
	return HostServices{r, c}
}

// Resolve returns the owner of the service title svc on the host.
func (hs HostServices) Resolve(svc ServiceAttrs) Resolution {
	if i, ok := hs.r.titles.Load().get(&svc); ok {
		if memo := *hs.c.memo.Load(); int(i) < len(memo) {
			if p := memo[i].Load(); p != nil {
				return *p
			}
		}
	}
	return *hs.r.miss(hs.c, svc)
}

// miss resolves a title the class has not memoized yet, and memoizes it.
func (r *Resolver) miss(c *svcClass, svc ServiceAttrs) *Resolution {
	if svc.IsPort() {
		svc.Protocol = strings.TrimSuffix(svc.Protocol, "6")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.intern(&svc)
	if !ok {
		return r.resolveService(c, &svc)
	}
	memo := *c.memo.Load()
	if int(i) >= len(memo) {
		n := max(2*len(memo), int(i)+1, 16)
		if r.slots+n-len(memo) > maxSlots {
			return r.resolveService(c, &svc)
		}
		r.slots += n - len(memo)
		grown := make([]atomic.Pointer[Resolution], n)
		for j := range memo {
			grown[j].Store(memo[j].Load())
		}
		c.memo.Store(&grown)
		memo = grown
	}
	if p := memo[i].Load(); p != nil {
		return p
	}
	res := r.resolveService(c, &svc)
	memo[i].Store(res)
	return res
}

// intern returns the index of a title, under r.mu; false when there are too many titles
// to memoize more. New titles go to a copy of the table, which replaces it once there
// have been as many misses as it has titles, as in sync.Map: copying costs O(1) a title,
// amortized.
func (r *Resolver) intern(svc *ServiceAttrs) (int32, bool) {
	if i, ok := r.titles.Load().get(svc); ok {
		return i, true
	}
	i, ok := int32(0), false
	if r.titlesDirty != nil {
		i, ok = r.titlesDirty.get(svc)
	}
	if !ok {
		if r.nTitles >= maxTitles {
			return 0, false
		}
		if r.titlesDirty == nil {
			r.titlesDirty = r.titles.Load().clone()
		}
		i = int32(r.nTitles)
		r.nTitles++
		r.titlesDirty.put(svc, i)
	}
	if r.titleMisses++; r.titleMisses >= r.titlesDirty.len() {
		r.titles.Store(r.titlesDirty)
		r.titlesDirty, r.titleMisses = nil, 0
	}
	return i, true
}

// resolveService resolves a service title in a class, under r.mu. The resolutions are
// shared: a fleet has few distinct ones, and memos that point to the same few stay in
// the processor's caches.
func (r *Resolver) resolveService(c *svcClass, svc *ServiceAttrs) *Resolution {
	if res, ok := r.svcAssigned[*svc]; ok {
		return res
	}
	a := serviceAttrs(svc)
	var skipped *crule
	for _, cr := range r.svcRules {
		if cr.bit >= 0 && !c.has(cr.bit) || !cr.c.matchOwn(&a) {
			continue
		}
		if !cr.rule.Inherit {
			return &cr.res
		}
		if c.owner == "" {
			// The host has no owner to give: a less specific rule may decide.
			if skipped == nil {
				skipped = cr
			}
			continue
		}
		key := [2]string{cr.rule.ID, c.owner}
		res, ok := r.inherited[key]
		if !ok {
			v := r.decided(c.owner, Provenance{Type: ByInheritance, RuleID: cr.rule.ID,
				Detail: "owned by " + c.owner + ", the owner of its host, via rule " + cr.rule.ID})
			res = &v
			r.inherited[key] = res
		}
		return res
	}
	if skipped != nil {
		return &skipped.res
	}
	return &r.none
}
