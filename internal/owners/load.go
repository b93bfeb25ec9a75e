package owners

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxSize is the largest owners file Load accepts.
const MaxSize = 4 << 20

// Error is one problem in an owners file. Load and Validate return all they find as *Error
// values joined with errors.Join, sorted by position.
type Error struct {
	File string
	// Line and Column are 1-based; zero when unknown: a registry decoded from JSON has no
	// positions, and the YAML parser reports a syntax error's line but not its column.
	Line   int
	Column int
	// Path is where in the registry the problem is, e.g. "rules[2].match.port".
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load parses and validates an owners file in YAML. name is the file name errors mention.
// Decoding is strict: an unknown field, a repeated key or a value of the wrong type is an
// error, and so is every validation failure; Load reports all it finds, each with its line
// and column. An empty file is an empty registry.
func Load(name string, data []byte) (*Registry, error) {
	d := &decoder{pos: map[string]position{}, failed: map[string]bool{}, maxNodes: 2*len(data) + 64}
	reg := &Registry{}
	if len(data) > MaxSize {
		return nil, joinErrors(name, []*Error{{Line: 1, Column: 1, Msg: fmt.Sprintf("file is larger than %d bytes", MaxSize)}})
	}
	if err := scanText(data); err != nil {
		return nil, joinErrors(name, []*Error{err})
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, joinErrors(name, []*Error{syntaxError(err)})
	default:
		var extra yaml.Node
		switch err := dec.Decode(&extra); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return nil, joinErrors(name, []*Error{syntaxError(err)})
		default:
			line, col := extra.Line, extra.Column
			if len(extra.Content) > 0 {
				line, col = extra.Content[0].Line, extra.Content[0].Column
			}
			d.errs = append(d.errs, &Error{Line: line, Column: col, Msg: "a second YAML document: an owners file holds one"})
		}
		if len(doc.Content) > 0 {
			d.registry(doc.Content[0], reg)
		}
	}
	if !d.aborted {
		v := validator{loc: d}
		v.registry(reg)
		d.errs = append(d.errs, v.errs...)
	}
	if len(d.errs) > 0 {
		return nil, joinErrors(name, d.errs)
	}
	reg.normalize()
	return reg, nil
}

// DecodeJSON parses and validates a registry in JSON, as the API receives it. Unknown
// fields are errors; validation errors name the path of what is wrong.
func DecodeJSON(data []byte) (*Registry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	reg := &Registry{}
	if err := dec.Decode(reg); err != nil {
		return nil, fmt.Errorf("owners: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("owners: data after the registry")
	}
	if err := reg.Validate(); err != nil {
		return nil, err
	}
	reg.normalize()
	return reg, nil
}

// Validate checks a registry built or decoded by other means than Load, e.g. from JSON.
// Its errors have no positions; their Path says where the problem is.
func (r *Registry) Validate() error {
	v := validator{loc: noPositions{}}
	v.registry(r)
	if len(v.errs) > 0 {
		return joinErrors("", v.errs)
	}
	return nil
}

// normalize gives a valid registry its canonical form: the default state spelled out, and
// no empty lists, so that what loads, marshals and loads again is equal.
func (r *Registry) normalize() {
	if len(r.Owners) == 0 {
		r.Owners = nil
	}
	if len(r.Rules) == 0 {
		r.Rules = nil
	}
	if len(r.Assignments) == 0 {
		r.Assignments = nil
	}
	for i := range r.Owners {
		o := &r.Owners[i]
		if o.State == "" {
			o.State = StateActive
		}
		if len(o.Escalation) == 0 {
			o.Escalation = nil
		}
	}
	for i := range r.Rules {
		if len(r.Rules[i].Match.Labels) == 0 {
			r.Rules[i].Match.Labels = nil
		}
	}
}

func joinErrors(file string, errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		e.File = file
		list[i] = e
	}
	return errors.Join(list...)
}

var syntaxLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the errors of the YAML parser (as opposed to its scanner), whose line
// it reports 0-based. For most of them it reports where the enclosing block starts, unless
// that is the first line, and then the line of the problem.
var parserProblems = map[string]bool{
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected node content":     true,
	"found undefined tag handle":             true,
	"did not find expected <document start>": false,
	"found duplicate %YAML directive":        false,
	"found duplicate %TAG directive":         false,
	"found incompatible YAML document":       false,
	"did not find expected <stream-start>":   false,
}

// syntaxError turns a parser error into an *Error. The parser gives no column, and for
// some errors the line of the enclosing block rather than of the problem.
func syntaxError(err error) *Error {
	e := &Error{Msg: "YAML syntax: " + err.Error()}
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	e.Msg = "YAML syntax: " + m[2]
	e.Line, _ = strconv.Atoi(m[1])
	if block, ok := parserProblems[m[2]]; ok {
		e.Line++
		if block {
			e.Msg += ", on this line or further down in the block it starts"
		}
	}
	return e
}

// scanText finds what the YAML parser refuses without saying where: bytes that are not
// UTF-8 and control characters.
func scanText(data []byte) *Error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{Line: line, Column: col, Msg: "the file is not UTF-8"}
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return &Error{Line: line, Column: col, Msg: fmt.Sprintf("control character %U", r)}
		}
		i += size
		col++
	}
	return nil
}

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

var ownerFields = []string{"id", "name", "contact", "escalation", "parent", "state"}

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
