package owners

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

type position struct{ line, col int }

// decoder walks a YAML node tree into a Registry, strictly, recording the position of
// every value by its path for the validator.
type decoder struct {
	errs   []*Error
	pos    map[string]position
	failed map[string]bool // paths whose values did not decode
	// nodes counts the YAML nodes visited, aliases expanded, up to maxNodes: a YAML file
	// without aliases has fewer nodes than bytes, and a small file of aliases must not
	// make Load walk billions.
	nodes, maxNodes int
	aborted         bool
}

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.errs = append(d.errs, &Error{Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at implements locator: the position of path's value, or of its nearest ancestor's.
func (d *decoder) at(path string) (int, int) {
	for {
		if p, ok := d.pos[path]; ok {
			return p.line, p.col
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 1, 1
		}
		path = path[:i]
	}
}

func (d *decoder) present(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func (d *decoder) broken(path string) bool { return d.failed[path] }

// deref follows aliases and counts the nodes visited; it returns nil once the budget is
// spent.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.nodes++; d.nodes > d.maxNodes {
		if !d.aborted {
			d.aborted = true
			d.errf(n, "", "aliases expand the file to more than %d YAML nodes", d.maxNodes)
		}
		return nil
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return "a string"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a " + n.ShortTag() + " value"
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// mapping walks the keys of a mapping node; field handles one key and reports whether the
// key is known. A null value counts as an empty mapping when nullOK.
func (d *decoder) mapping(n *yaml.Node, path string, allowed []string, field func(key string, v *yaml.Node) bool) {
	if n = d.deref(n); n == nil {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "want a mapping with %s, not %s", strings.Join(allowed, ", "), describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.deref(n.Content[i])
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errf(k, path, "want a field name, not %s", describe(k))
			continue
		}
		kp := joinPath(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errf(k, kp, "%q is repeated (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if !field(k.Value, n.Content[i+1]) {
			d.errf(k, kp, "unknown field %q; want one of %s", k.Value, strings.Join(allowed, ", "))
		}
	}
}

// sequence walks the items of a list; null is an empty list.
func (d *decoder) sequence(n *yaml.Node, path string, item func(i int, v *yaml.Node)) {
	if n = d.deref(n); n == nil {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, path, "want a list, not %s", describe(n))
		return
	}
	for i, v := range n.Content {
		if d.aborted {
			return
		}
		item(i, v)
	}
}

// str decodes a scalar as the string it is written as: port: 5432 is "5432".
func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if n = d.deref(n); n == nil {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			*dst = n.Value
			if n.Value == "" {
				d.errf(n, path, "is empty")
			}
			return
		case "!!null":
			d.errf(n, path, "has no value")
			return
		}
	}
	d.errf(n, path, "want a string, not %s", describe(n))
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	if n = d.deref(n); n == nil {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if err := n.Decode(dst); err == nil {
			return
		}
	}
	d.errf(n, path, "want true or false, not %s", describe(n))
}

func (d *decoder) strings(n *yaml.Node, path string, dst *[]string) {
	d.sequence(n, path, func(i int, v *yaml.Node) {
		var s string
		d.str(v, index(path, i), &s)
		*dst = append(*dst, s)
	})
}

func (d *decoder) registry(n *yaml.Node, r *Registry) {
	if n = d.deref(n); n == nil || isNull(n) {
		return
	}
	d.mapping(n, "", []string{"owners", "rules", "assignments"}, func(key string, v *yaml.Node) bool {
		switch key {
		case "owners":
			d.sequence(v, key, func(i int, v *yaml.Node) {
				r.Owners = append(r.Owners, Owner{})
				d.owner(v, index(key, i), &r.Owners[i])
			})
		case "rules":
			d.sequence(v, key, func(i int, v *yaml.Node) {
				r.Rules = append(r.Rules, Rule{})
				d.rule(v, index(key, i), &r.Rules[i])
			})
		case "assignments":
			d.sequence(v, key, func(i int, v *yaml.Node) {
				r.Assignments = append(r.Assignments, Assignment{})
				d.assignment(v, index(key, i), &r.Assignments[i])
			})
		default:
			return false
		}
		return true
	})
}

var ownerFields = []string{"id", "name", "contact", "escalation", "users", "parent", "state"}

func (d *decoder) owner(n *yaml.Node, path string, o *Owner) {
	d.mapping(n, path, ownerFields, func(key string, v *yaml.Node) bool {
		p := joinPath(path, key)
		switch key {
		case "id":
			d.str(v, p, &o.ID)
		case "name":
			d.str(v, p, &o.Name)
		case "contact":
			d.mapping(v, p, []string{"email", "chat"}, func(key string, v *yaml.Node) bool {
				switch key {
				case "email":
					d.str(v, joinPath(p, key), &o.Contact.Email)
				case "chat":
					d.str(v, joinPath(p, key), &o.Contact.Chat)
				default:
					return false
				}
				return true
			})
		case "escalation":
			d.strings(v, p, &o.Escalation)
		case "users":
			d.strings(v, p, &o.Users)
		case "parent":
			d.str(v, p, &o.Parent)
		case "state":
			d.str(v, p, &o.State)
		default:
			return false
		}
		return true
	})
}

var ruleFields = []string{"id", "kind", "match", "owner", "inherit", "description"}

func (d *decoder) rule(n *yaml.Node, path string, r *Rule) {
	d.mapping(n, path, ruleFields, func(key string, v *yaml.Node) bool {
		p := joinPath(path, key)
		switch key {
		case "id":
			d.str(v, p, &r.ID)
		case "kind":
			d.str(v, p, (*string)(&r.Kind))
		case "match":
			d.selector(v, p, &r.Match)
		case "owner":
			d.str(v, p, &r.Owner)
		case "inherit":
			d.boolean(v, p, &r.Inherit)
		case "description":
			d.str(v, p, &r.Description)
		default:
			return false
		}
		return true
	})
}

func (d *decoder) selector(n *yaml.Node, path string, s *Selector) {
	d.mapping(n, path, selectorFields, func(key string, v *yaml.Node) bool {
		p := joinPath(path, key)
		switch key {
		case "all":
			d.boolean(v, p, &s.All)
		case "labels":
			s.Labels = map[string]string{}
			d.mapping(v, p, []string{"label names"}, func(label string, v *yaml.Node) bool {
				var val string
				d.str(v, joinPath(p, label), &val)
				s.Labels[label] = val
				return true
			})
		default:
			f := selectorField(key)
			if f == nil {
				return false
			}
			d.str(v, p, f(s))
		}
		return true
	})
}

func (d *decoder) assignment(n *yaml.Node, path string, a *Assignment) {
	d.mapping(n, path, []string{"kind", "asset", "owner"}, func(key string, v *yaml.Node) bool {
		p := joinPath(path, key)
		switch key {
		case "kind":
			d.str(v, p, (*string)(&a.Kind))
		case "asset":
			d.str(v, p, &a.Asset)
		case "owner":
			d.str(v, p, &a.Owner)
		default:
			return false
		}
		return true
	})
}

// joinPath appends a field to a path; a field that is not a plain name is quoted, as a
// label name may be.
func joinPath(path, field string) string {
	if !plainName(field) {
		field = "[" + strconv.Quote(field) + "]"
		return path + field
	}
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
