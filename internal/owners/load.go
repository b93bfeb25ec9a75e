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
		if len(o.Users) == 0 {
			o.Users = nil
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
