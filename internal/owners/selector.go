package owners

import (
	"maps"
	"slices"
)

// field is a string attribute a selector can match.
type field uint8

const (
	fHostID field = iota
	fHostname
	fFQDN
	fOS
	fOSFamily
	fSource
	fName
	fMaintainer
	fVendor
	fSection
	fOrigin
	fManager
	// The fields of a title's installations (TitleAttrs.InstalledBy, Locations): one title
	// has many, and a glob matches when one of them does.
	fInstalledBy
	fLocation
	nFields
)

var fieldNames = [nFields]string{"host_id", "hostname", "fqdn", "os", "os_family", "source", "name", "maintainer", "vendor", "section", "origin", "manager", "installed_by", "location"}

func (f field) isHost() bool { return f <= fOSFamily }

// isMulti reports whether f is a field of installations, of which a title has many.
func (f field) isMulti() bool { return f >= fInstalledBy }

// selectorFields lists the keys of a selector, in the order owners.yaml documents them.
var selectorFields = []string{"all", "host_id", "hostname", "fqdn", "os", "os_family", "labels", "source", "name", "maintainer", "vendor", "section", "origin", "installed_by", "location", "manager", "port"}

// fieldsOfKind says which selector keys each kind of rule may use.
var fieldsOfKind = map[Kind][]string{
	KindHost:     {"all", "host_id", "hostname", "fqdn", "os", "os_family", "labels"},
	KindSoftware: {"all", "source", "name", "maintainer", "vendor", "section", "origin", "installed_by", "location"},
	KindService:  {"all", "name", "manager", "port", "host_id", "hostname", "fqdn", "os", "os_family", "labels"},
}

func (s *Selector) ptr(f field) *string {
	switch f {
	case fHostID:
		return &s.HostID
	case fHostname:
		return &s.Hostname
	case fFQDN:
		return &s.FQDN
	case fOS:
		return &s.OS
	case fOSFamily:
		return &s.OSFamily
	case fSource:
		return &s.Source
	case fName:
		return &s.Name
	case fMaintainer:
		return &s.Maintainer
	case fVendor:
		return &s.Vendor
	case fSection:
		return &s.Section
	case fOrigin:
		return &s.Origin
	case fManager:
		return &s.Manager
	case fInstalledBy:
		return &s.InstalledBy
	case fLocation:
		return &s.Location
	}
	return nil
}

// selectorField returns the accessor of a selector's string field by key; port included.
func selectorField(key string) func(*Selector) *string {
	if key == "port" {
		return func(s *Selector) *string { return &s.Port }
	}
	for f := range nFields {
		if fieldNames[f] == key {
			return func(s *Selector) *string { return s.ptr(f) }
		}
	}
	return nil
}

// keys returns the keys a selector sets, in documented order.
func (s *Selector) keys() []string {
	var keys []string
	for _, k := range selectorFields {
		switch k {
		case "all":
			if s.All {
				keys = append(keys, k)
			}
		case "labels":
			if s.Labels != nil {
				keys = append(keys, k)
			}
		default:
			if *selectorField(k)(s) != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// specificity orders the rules that match an asset; the package documentation explains
// it. The greater wins.
type specificity struct {
	own     int // constrained fields of the asset itself
	host    int // constrained fields of the host a service runs on
	exact   int // fields without a wildcard
	literal int // literal characters of the patterns with wildcards
}

func (a specificity) compare(b specificity) int {
	switch {
	case a.own != b.own:
		return a.own - b.own
	case a.host != b.host:
		return a.host - b.host
	case a.exact != b.exact:
		return a.exact - b.exact
	}
	return a.literal - b.literal
}

type fieldGlob struct {
	f field
	g glob
}

type labelGlob struct {
	key string
	g   glob
}

// matcher is the compiled form of part of a selector.
type matcher struct {
	globs  []fieldGlob
	labels []labelGlob
	port   *portSpec
}

func (m *matcher) empty() bool { return len(m.globs) == 0 && len(m.labels) == 0 && m.port == nil }

// attrs is an asset flattened for matching.
type attrs struct {
	vals   [nFields]string
	multi  [nFields - fInstalledBy][]string // the fields of installations
	labels map[string]string
	svc    *ServiceAttrs
	// heir and heirUser are, for a title, the owner that the first of its installers with
	// one makes it inherit, and that installer; heir is empty when none has an owner.
	heir, heirUser string
}

func hostAttrs(h *HostAttrs) attrs {
	var a attrs
	a.vals[fHostID], a.vals[fHostname], a.vals[fFQDN], a.vals[fOS], a.vals[fOSFamily] = h.ID, h.Hostname, h.FQDN, h.OS, h.OSFamily
	a.labels = h.Labels
	return a
}

func titleAttrs(t *TitleAttrs) attrs {
	var a attrs
	a.vals[fSource], a.vals[fName], a.vals[fMaintainer], a.vals[fVendor], a.vals[fSection], a.vals[fOrigin] = t.Source, t.Name, t.Maintainer, t.Vendor, t.Section, t.Origin
	a.multi = [...][]string{t.InstalledBy, t.Locations} // fInstalledBy, fLocation
	return a
}

func serviceAttrs(s *ServiceAttrs) attrs {
	var a attrs
	a.vals[fName], a.vals[fManager] = s.Name, s.Manager
	a.svc = s
	return a
}

func (m *matcher) match(a *attrs) bool {
	if m.port != nil && (a.svc == nil || !m.port.match(a.svc)) {
		return false
	}
	for i := range m.globs {
		if f := m.globs[i].f; f.isMulti() {
			if !slices.ContainsFunc(a.multi[f-fInstalledBy], m.globs[i].g.match) {
				return false
			}
		} else if !m.globs[i].g.match(a.vals[f]) {
			return false
		}
	}
	for i := range m.labels {
		v, ok := a.labels[m.labels[i].key]
		if !ok || !m.labels[i].g.match(v) {
			return false
		}
	}
	return true
}

// compiled is a selector split in the part about the asset itself and, for a service
// rule, the part about the host the service runs on.
type compiled struct {
	own, host matcher
	// unit is set when the selector names a unit field (name, manager): it then never
	// matches a port.
	unit bool
	// heir is set for a software rule that inherits: it matches only a title one of whose
	// installers is an owner's user.
	heir bool
	spec specificity
}

// compile compiles a selector that Validate accepted for a rule of kind k.
func compile(k Kind, s *Selector) compiled {
	var c compiled
	add := func(g glob, host bool) {
		n := &c.spec.own
		if host {
			n = &c.spec.host
		}
		switch g.form {
		case globStar:
		case globExact:
			*n++
			c.spec.exact++
		default:
			*n++
			c.spec.literal += g.literal
		}
	}
	for f := range nFields {
		pat := *s.ptr(f)
		if pat == "" {
			continue
		}
		g, _ := compileGlob(pat)
		host := k == KindService && f.isHost()
		add(g, host)
		m := &c.own
		if host {
			m = &c.host
		}
		m.globs = append(m.globs, fieldGlob{f, g})
		if k == KindService && (f == fName || f == fManager) {
			c.unit = true
		}
	}
	labels := &c.own.labels
	if k == KindService {
		labels = &c.host.labels
	}
	for _, key := range sortedKeys(s.Labels) {
		g, _ := compileGlob(s.Labels[key])
		add(g, k == KindService)
		if g.form == globStar {
			// The label must still be there.
			if k == KindService {
				c.spec.host++
			} else {
				c.spec.own++
			}
		}
		*labels = append(*labels, labelGlob{key, g})
	}
	if s.Port != "" {
		p, _ := parsePort(s.Port)
		c.own.port = &p
		c.spec.own++
		switch {
		case p.exact:
			c.spec.exact++
		case p.lo == p.hi:
			c.spec.literal += 2
		case p.proto != "":
			c.spec.literal++
		}
	}
	// Cheap and selective fields first.
	for _, m := range []*matcher{&c.own, &c.host} {
		sortGlobs(m.globs)
	}
	return c
}

func (c *compiled) matchOwn(a *attrs) bool {
	if c.unit && a.svc != nil && a.svc.IsPort() || c.heir && a.heir == "" {
		return false
	}
	return c.own.match(a)
}

func sortGlobs(gs []fieldGlob) {
	slices.SortStableFunc(gs, func(a, b fieldGlob) int { return int(a.g.form) - int(b.g.form) })
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
