package owners

import (
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// locator gives the validator the source positions of a registry's values by path.
type locator interface {
	// at returns the position of the value at path, or of its nearest ancestor's.
	at(path string) (line, col int)
	// present reports whether the source wrote the value at path (even if it was empty).
	present(path string) bool
	// broken reports whether the value at path was refused when it was decoded.
	broken(path string) bool
}

// noPositions is the locator of a registry that does not come from a file.
type noPositions struct{}

func (noPositions) at(string) (int, int) { return 0, 0 }
func (noPositions) present(string) bool  { return false }
func (noPositions) broken(string) bool   { return false }

type validator struct {
	loc  locator
	errs []*Error
}

func (v *validator) errf(path, format string, args ...any) {
	line, col := v.loc.at(path)
	v.errs = append(v.errs, &Error{Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// where names the place of path for a message about another place.
func (v *validator) where(path string) string {
	if line, _ := v.loc.at(path); line > 0 {
		return "line " + strconv.Itoa(line)
	}
	return path
}

// required reports whether s is set, and complains if it is missing. An empty value that
// the file wrote was refused when it was decoded.
func (v *validator) required(path, s string) bool {
	if s != "" {
		return true
	}
	if !v.loc.present(path) {
		v.errf(path, "missing")
	}
	return false
}

// text refuses control characters, which no name, contact or pattern has.
func (v *validator) text(path, s string) bool {
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		v.errf(path, "control character %U in %q", []rune(s[i:])[0], s)
		return false
	}
	return true
}

// validID reports whether s can be an owner or rule ID: it appears in metrics, URLs and
// command lines.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func (v *validator) id(path, s string) bool {
	if !v.required(path, s) || !v.text(path, s) {
		return false
	}
	if !validID(s) {
		v.errf(path, "%q is not a valid ID: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters", s)
		return false
	}
	return true
}

func (v *validator) registry(r *Registry) {
	owners := map[string]int{}
	for i := range r.Owners {
		v.owner(r, i, owners)
	}
	v.cycles(r, owners)
	rules := map[string]int{}
	for i := range r.Rules {
		v.rule(r, i, rules, owners)
	}
	assigned := map[string]int{}
	for i := range r.Assignments {
		v.assignment(r, i, assigned, owners)
	}
}

func (v *validator) owner(r *Registry, i int, ids map[string]int) {
	o := &r.Owners[i]
	p := index("owners", i)
	if v.id(p+".id", o.ID) {
		if j, dup := ids[o.ID]; dup {
			v.errf(p+".id", "owner %q is already defined at %s", o.ID, v.where(index("owners", j)))
		} else {
			ids[o.ID] = i
		}
	}
	v.text(p+".name", o.Name)
	if e := o.Contact.Email; e != "" && v.text(p+".contact.email", e) {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			v.errf(p+".contact.email", "%q is not an email address", e)
		}
	}
	v.text(p+".contact.chat", o.Contact.Chat)
	for j, e := range o.Escalation {
		ep := index(p+".escalation", j)
		if e == "" {
			if !v.loc.present(ep) {
				v.errf(ep, "empty escalation contact")
			}
			continue
		}
		v.text(ep, e)
	}
	for j, u := range o.Users {
		v.pattern(index(p+".users", j), u)
	}
	switch o.State {
	case "", StateActive, StateRetired:
	default:
		v.errf(p+".state", "state %q: want active or retired", o.State)
	}
}

// parentOK checks an owner's parent once all owners are known, and reports whether it can
// be followed.
func (v *validator) parentOK(r *Registry, i int, ids map[string]int) bool {
	o := &r.Owners[i]
	if o.Parent == "" || !v.text(index("owners", i)+".parent", o.Parent) {
		return false
	}
	if _, ok := ids[o.Parent]; !ok {
		v.errf(index("owners", i)+".parent", "parent %q is not a defined owner", o.Parent)
		return false
	}
	if o.Parent == o.ID {
		v.errf(index("owners", i)+".parent", "owner %q is its own parent", o.ID)
		return false
	}
	return true
}

// cycles checks parents and reports each cycle of parents once, at the first owner of the
// file that is on it.
func (v *validator) cycles(r *Registry, ids map[string]int) {
	next := make([]int, len(r.Owners))
	for i := range r.Owners {
		next[i] = -1
		if v.parentOK(r, i, ids) {
			next[i] = ids[r.Owners[i].Parent]
		}
	}
	// state: 0 unvisited, 1 on the current path, 2 done.
	state := make([]int, len(r.Owners))
	for start := range r.Owners {
		var path []int
		i := start
		for i >= 0 && state[i] == 0 {
			state[i] = 1
			path = append(path, i)
			i = next[i]
		}
		if i >= 0 && state[i] == 1 {
			cycle := path[slices.Index(path, i):]
			first := slices.Min(cycle)
			k := slices.Index(cycle, first)
			cycle = append(cycle[k:], cycle[:k]...)
			names := make([]string, 0, len(cycle)+1)
			for _, j := range cycle {
				names = append(names, r.Owners[j].ID)
			}
			names = append(names, r.Owners[first].ID)
			v.errf(index("owners", first)+".parent", "parent cycle: %s", strings.Join(names, " → "))
		}
		for _, j := range path {
			state[j] = 2
		}
	}
}

func (v *validator) ownerRef(path, id string, ids map[string]int) {
	if !v.required(path, id) || !v.text(path, id) {
		return
	}
	if _, ok := ids[id]; !ok {
		v.errf(path, "owner %q is not defined%s", id, suggest(id, ids))
	}
}

func (v *validator) kind(path string, k Kind) bool {
	if !v.required(path, string(k)) || !v.text(path, string(k)) {
		return false
	}
	if !k.valid() {
		v.errf(path, "kind %q: want host, software or service", k)
		return false
	}
	return true
}

func (v *validator) rule(r *Registry, i int, ids map[string]int, owners map[string]int) {
	ru := &r.Rules[i]
	p := index("rules", i)
	if v.id(p+".id", ru.ID) {
		if j, dup := ids[ru.ID]; dup {
			v.errf(p+".id", "rule %q is already defined at %s", ru.ID, v.where(index("rules", j)))
		} else {
			ids[ru.ID] = i
		}
	}
	v.text(p+".description", ru.Description)
	kindOK := v.kind(p+".kind", ru.Kind)
	switch {
	case ru.Inherit && kindOK && ru.Kind == KindHost:
		v.errf(p+".inherit", "a host rule cannot inherit: service rules inherit the owner of the host, software rules the owner of who installed it")
	case ru.Inherit && ru.Owner != "":
		v.errf(p+".owner", "a rule with inherit: true takes its owner from the host or from who installed the software; it names no owner")
	case !ru.Inherit && !v.loc.broken(p+".inherit"):
		v.ownerRef(p+".owner", ru.Owner, owners)
	}
	if kindOK {
		v.selector(p+".match", ru.Kind, &ru.Match)
	}
}

func (v *validator) selector(p string, k Kind, s *Selector) {
	keys := s.keys()
	if len(keys) == 0 {
		// A field the file wrote but that did not decode was reported already.
		for _, key := range selectorFields[1:] {
			if v.loc.present(joinPath(p, key)) {
				return
			}
		}
		v.errf(p, "matches nothing: name at least one field, or say all: true for a rule that matches every %s", k)
		return
	}
	if s.All && len(keys) > 1 {
		v.errf(p+".all", "all: true matches every %s; it takes no other field", k)
	}
	allowed := fieldsOfKind[k]
	for _, key := range keys {
		fp := joinPath(p, key)
		if !slices.Contains(allowed, key) {
			v.errf(fp, "%s rules match %s, not %s", k, strings.Join(allowed[1:], ", "), key)
			continue
		}
		switch key {
		case "all":
		case "labels":
			if len(s.Labels) == 0 {
				v.errf(fp, "no labels: leave labels out, or name one")
			}
			for _, name := range sortedKeys(s.Labels) {
				lp := joinPath(fp, name)
				if name == "" || !v.text(lp, name) {
					if name == "" {
						v.errf(fp, "a label name is empty")
					}
					continue
				}
				v.pattern(lp, s.Labels[name])
			}
		case "port":
			if v.text(fp, s.Port) {
				if _, err := parsePort(s.Port); err != nil {
					v.errf(fp, "%v; want N, tcp/N, udp/N or a range N-M", err)
				}
			}
		default:
			v.pattern(fp, *selectorField(key)(s))
		}
	}
	if k == KindService && s.Port != "" && (s.Name != "" || s.Manager != "") {
		v.errf(p+".port", "a service is a unit (name, manager) or a listening port, never both: use two rules")
	}
}

func (v *validator) pattern(path, pat string) {
	if pat == "" {
		if !v.loc.present(path) {
			v.errf(path, "empty pattern")
		}
		return
	}
	if !v.text(path, pat) {
		return
	}
	if _, err := compileGlob(pat); err != nil {
		v.errf(path, "%v", err)
	}
}

func (v *validator) assignment(r *Registry, i int, seen map[string]int, owners map[string]int) {
	a := &r.Assignments[i]
	p := index("assignments", i)
	kindOK := v.kind(p+".kind", a.Kind)
	assetOK := v.required(p+".asset", a.Asset) && v.text(p+".asset", a.Asset)
	v.ownerRef(p+".owner", a.Owner, owners)
	if !assetOK || !kindOK {
		return
	}
	key := a.Asset
	switch a.Kind {
	case KindHost:
		if strings.ContainsFunc(a.Asset, badAssetRune) {
			v.errf(p+".asset", "host ID %q has white space", a.Asset)
			return
		}
	case KindSoftware:
		if _, err := ParseSoftwareKey(a.Asset); err != nil {
			v.errf(p+".asset", "%v", err)
			return
		}
	case KindService:
		s, err := ParseServiceKey(a.Asset)
		if err != nil {
			v.errf(p+".asset", "%v", err)
			return
		}
		key = s.Key()
	}
	key = string(a.Kind) + " " + key
	if j, dup := seen[key]; dup {
		v.errf(p+".asset", "%s %s is already assigned at %s", a.Kind, a.Asset, v.where(index("assignments", j)))
		return
	}
	seen[key] = i
}

// suggest returns a hint naming the defined owner closest to an unknown one, if one is
// close enough to be a typo.
func suggest(id string, ids map[string]int) string {
	best, dist := "", 3
	for cand := range ids {
		if d := editDistance(id, cand); d < dist || d == dist && cand < best {
			best, dist = cand, d
		}
	}
	if best == "" || dist > 2 || dist >= len(id) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short strings, by bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
