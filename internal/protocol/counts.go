package protocol

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/model"
)

// listLimits are the most entries each list (or map) of a request may hold, by the Go type
// of the struct that holds it and the field's Go name. Decode enforces them while it reads
// the JSON, before anything is decoded, so that a small body listing millions of empty
// objects is refused before it costs memory; Validate checks the same bounds (and the sums
// of a delta's lists) on what was decoded. TestListLimitsCoverRequests requires every list
// of a request type to be here.
var listLimits = map[reflect.Type]map[string]int{
	reflect.TypeFor[Report]():               {"Events": MaxEvents},
	reflect.TypeFor[State]():                {"Software": MaxSoftware, "Services": MaxServices, "Listeners": MaxListeners, "Sources": MaxSources},
	reflect.TypeFor[Delta]():                {"SoftwareUpsert": 2 * MaxSoftware, "SoftwareRemove": 2 * MaxSoftware, "ServicesUpsert": 2 * MaxServices, "ServicesRemove": 2 * MaxServices, "Listeners": MaxListeners, "Sources": MaxSources},
	reflect.TypeFor[Capacity]():             {"Filesystems": MaxFilesystems},
	reflect.TypeFor[model.Host]():           {"Filesystems": MaxFilesystems, "Interfaces": MaxInterfaces, "Labels": MaxLabels},
	reflect.TypeFor[model.Virtualization](): {"Evidence": MaxEvidence},
	reflect.TypeFor[model.Interface]():      {"Addrs": MaxAddrs},
}

// MaxDepth is the deepest nesting of arrays and objects Decode reads. A report nests six
// levels deep at most; the margin leaves room for fields a newer onus-agent may send.
const MaxDepth = 32

// A shape is what the JSON value at one place of a request decodes into, as far as counting
// goes: an object of struct fields, a list, a map, or (nil) anything else, whose content
// costs no memory to skip (encoding/json skips unknown fields and values of the wrong type).
type shape struct {
	kind   shapeKind
	fields []field        // kind object
	exact  map[string]int // field index by JSON name
	folded map[string]int // field index by folded JSON name, as encoding/json matches keys
	elem   *shape         // kind list or map: the entries' shape
	max    int            // kind list or map: most entries, 0 for no bound
}

type shapeKind uint8

const (
	object shapeKind = iota + 1
	list
	dict
)

type field struct {
	name  string
	shape *shape
}

var shapes sync.Map // reflect.Type → *shape

// shapeOf returns the shape of t, built once per type.
func shapeOf(t reflect.Type) *shape {
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, 0, map[reflect.Type]*shape{})
	shapes.Store(t, s)
	return s
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func buildShape(t reflect.Type, max int, seen map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil // time.Time and the like read their own bytes
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64 in a string
		}
		return &shape{kind: list, max: max, elem: buildShape(t.Elem(), 0, seen)}
	case reflect.Array:
		return &shape{kind: list, max: t.Len(), elem: buildShape(t.Elem(), 0, seen)}
	case reflect.Map:
		return &shape{kind: dict, max: max, elem: buildShape(t.Elem(), 0, seen)}
	case reflect.Struct:
		if s, ok := seen[t]; ok {
			return s
		}
		s := &shape{kind: object, exact: map[string]int{}, folded: map[string]int{}}
		seen[t] = s
		addFields(s, t, seen)
		return s
	}
	return nil
}

// addFields adds the fields of struct t to s the way encoding/json names them: the tag's
// name or the Go name, "-" skipped, embedded structs' fields promoted.
func addFields(s *shape, t reflect.Type, seen map[reflect.Type]*shape) {
	limits := listLimits[t]
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				addFields(s, et, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := s.exact[name]; dup {
			continue
		}
		s.exact[name] = len(s.fields)
		if _, dup := s.folded[foldName(name)]; !dup {
			s.folded[foldName(name)] = len(s.fields)
		}
		s.fields = append(s.fields, field{name: name, shape: buildShape(f.Type, limits[f.Name], seen)})
	}
}

// lookup finds the field a key decodes into, as encoding/json does: the exact name first,
// else a case-insensitive match. key is the key's bytes between the quotes, escapes included.
func (s *shape) lookup(key []byte, escaped bool) (int, bool) {
	if !escaped {
		if i, ok := s.exact[string(key)]; ok { // no copy of the key: the usual case
			return i, true
		}
	}
	k := string(key)
	if escaped {
		if err := json.Unmarshal([]byte(`"`+k+`"`), &k); err != nil {
			return 0, false // invalid JSON: Decode refuses it anyway
		}
	}
	if i, ok := s.exact[k]; ok {
		return i, true
	}
	i, ok := s.folded[foldName(k)]
	return i, ok
}

// foldName is encoding/json's folding of field names: ASCII letters in upper case, every
// other rune the smallest of its Unicode fold set (so "ſ" matches "s" and "K" matches "k").
// Matching keys exactly as the decoder does keeps "Events" or "eventſ" from slipping past
// the counts.
func foldName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return string(out)
}

// maxKeyBytes bounds the bytes of a key the counter keeps: a longer key cannot name a
// field, even written with escapes (six bytes a character) or multi-byte folds.
const maxKeyBytes = 12*64 + 16

// counter reads JSON as it arrives, in pieces, and refuses a list or map longer than its
// shape allows, nesting deeper than MaxDepth, and a struct field given twice (the decoder
// would merge both into one map or list); it finds where the value ends, and what follows.
// It checks no more of the syntax than it needs: encoding/json checks the whole syntax
// before it decodes anything.
type counter struct {
	off   int64 // bytes read so far
	stack []frame
	state cstate
	next  *shape // the shape of the value expected next
	// The key being read.
	escape, keyEsc, keyLong bool
	key                     []byte
	// done is set when the value is complete, at byte end; after is where data after it
	// starts (-1: none yet).
	done       bool
	end, after int64
	// broken is set on malformed JSON: counting stops, and the decoder says what is wrong.
	broken bool
}

type cstate uint8

const (
	wantValue   cstate = iota // a value (top level, after '[', ',' in a list or ':')
	wantKey                   // a key or '}' (after '{'), or a key (after ',')
	wantColon                 // ':' after a key
	wantMore                  // ',' or the container's end, after a value
	inString                  // inside a string value
	inKeyString               // inside a key
	inScalar                  // a number, true, false or null
	trailing                  // after the value: white space only
)

type frame struct {
	shape *shape
	name  string // the key this container is the value of, for messages
	obj   bool
	count int    // entries so far
	seen  uint64 // struct fields given so far, the first 64
	more  []bool // and the others
	field int    // the field of the current member, -1 for an unknown key
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// feed reads the next piece of the body. It returns a *Error (400) when the JSON breaks a
// bound.
func (c *counter) feed(p []byte) error {
	if c.broken {
		return nil
	}
	base := c.off
	c.off += int64(len(p))
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch c.state {
		case inString, inKeyString:
			if c.escape {
				c.escape = false
				c.keep(p[i : i+1])
				continue
			}
			// Jump to the next quote or backslash: strings are most of a report.
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				j = len(p) - i
			}
			if k := bytes.IndexByte(p[i:i+j], '\\'); k >= 0 {
				c.keep(p[i : i+k+1])
				c.escape, c.keyEsc = true, c.keyEsc || c.state == inKeyString
				i += k
				continue
			}
			c.keep(p[i : i+j])
			i += j
			if i == len(p) {
				continue
			}
			if c.state == inKeyString {
				c.endKey()
				continue
			}
			c.endValue(base + int64(i) + 1)
		case inScalar:
			switch {
			case isSpace(b):
				c.endValue(base + int64(i))
			case b == ',' || b == ']' || b == '}':
				c.endValue(base + int64(i))
				i-- // read it again as what follows the value
			}
		case trailing:
			if !isSpace(b) {
				// Said once the value is known to be valid JSON: a body over a limit,
				// or garbage, is told as such.
				c.after, c.broken = base+int64(i), true
				return nil
			}
		case wantColon:
			switch {
			case b == ':':
				c.state = wantValue
			case !isSpace(b):
				c.broken = true
				return nil
			}
		case wantKey:
			switch {
			case b == '"':
				c.state, c.keyEsc, c.keyLong, c.key = inKeyString, false, false, c.key[:0]
			case b == '}' && c.top().count == 0:
				c.close(base + int64(i) + 1)
			case !isSpace(b):
				c.broken = true
				return nil
			}
		case wantMore:
			f := c.top()
			switch {
			case isSpace(b):
			case b == ',' && f.obj:
				c.state = wantKey
			case b == ',':
				c.state, c.next = wantValue, f.elemShape()
			case b == '}' && f.obj, b == ']' && !f.obj:
				c.close(base + int64(i) + 1)
			default:
				c.broken = true
				return nil
			}
		case wantValue:
			if isSpace(b) {
				continue
			}
			if b == ']' && len(c.stack) > 0 && !c.top().obj && c.top().count == 0 {
				c.close(base + int64(i) + 1)
				continue
			}
			if err := c.startValue(); err != nil {
				return err
			}
			switch b {
			case '{', '[':
				if len(c.stack) == MaxDepth {
					return Errorf(http.StatusBadRequest, "malformed JSON: %s nests deeper than %d levels (at byte %d)", c.path(), MaxDepth, base+int64(i))
				}
				f := frame{shape: c.next, name: c.memberName(), obj: b == '{', field: -1}
				if f.shape != nil && (f.shape.kind != list) != f.obj {
					f.shape = nil // the wrong type: the decoder skips it
				}
				if f.shape != nil && f.shape.kind == object && len(f.shape.fields) > 64 {
					f.more = make([]bool, len(f.shape.fields)-64)
				}
				c.stack = append(c.stack, f)
				if f.obj {
					c.state = wantKey
				} else {
					c.state, c.next = wantValue, f.elemShape()
				}
			case '"':
				c.state = inString
			case ',', ']', '}', ':':
				c.broken = true
				return nil
			default:
				c.state = inScalar
			}
		}
	}
	return nil
}

// eof ends the body: a number at the very end of it is complete there.
func (c *counter) eof() {
	if c.state == inScalar && !c.broken {
		c.endValue(c.off)
	}
}

func (c *counter) top() *frame { return &c.stack[len(c.stack)-1] }

// given marks field i given, and says whether it was already.
func (f *frame) given(i int) bool {
	if i >= 64 {
		was := f.more[i-64]
		f.more[i-64] = true
		return was
	}
	was := f.seen&(1<<i) != 0
	f.seen |= 1 << i
	return was
}

func (f *frame) elemShape() *shape {
	if f.shape == nil {
		return nil
	}
	return f.shape.elem
}

// keep collects the bytes of a key.
func (c *counter) keep(b []byte) {
	if c.state != inKeyString || c.keyLong {
		return
	}
	if len(c.key)+len(b) > maxKeyBytes {
		c.keyLong = true
		return
	}
	c.key = append(c.key, b...)
}

// endKey resolves the key just read to the field whose value follows.
func (c *counter) endKey() {
	c.state = wantColon
	f := c.top()
	f.count++
	f.field, c.next = -1, nil
	if f.shape == nil {
		return
	}
	if f.shape.kind == dict {
		c.next = f.shape.elem
		return
	}
	if c.keyLong {
		return
	}
	if i, ok := f.shape.lookup(c.key, c.keyEsc); ok {
		f.field, c.next = i, f.shape.fields[i].shape
	}
}

// startValue counts a list's entry or checks a member, before the value is read.
func (c *counter) startValue() error {
	if len(c.stack) == 0 {
		return nil
	}
	f := c.top()
	if f.obj {
		if f.shape == nil {
			return nil
		}
		if f.shape.kind == dict {
			if f.shape.max > 0 && f.count > f.shape.max {
				return Errorf(http.StatusBadRequest, "%s: over the limit of %d entries", c.pathOf(len(c.stack)-1, false), f.shape.max)
			}
			return nil
		}
		if f.field >= 0 {
			if f.given(f.field) {
				return Errorf(http.StatusBadRequest, "malformed JSON: %s given twice", c.path())
			}
		}
		return nil
	}
	f.count++
	if f.shape != nil && f.shape.max > 0 && f.count > f.shape.max {
		return Errorf(http.StatusBadRequest, "%s: over the limit of %d entries", c.pathOf(len(c.stack)-1, false), f.shape.max)
	}
	return nil
}

// endValue follows a complete value, which ends before byte end.
func (c *counter) endValue(end int64) {
	if len(c.stack) == 0 {
		c.state, c.done, c.end = trailing, true, end
		return
	}
	c.state = wantMore
}

// close ends the innermost container, a complete value ending before byte end.
func (c *counter) close(end int64) {
	c.stack = c.stack[:len(c.stack)-1]
	c.endValue(end)
}

// memberName is the name of the value about to be read, for messages.
func (c *counter) memberName() string {
	if len(c.stack) == 0 {
		return ""
	}
	f := c.top()
	if !f.obj {
		return ""
	}
	if f.shape != nil && f.field >= 0 {
		return f.shape.fields[f.field].name
	}
	return strconv.Quote(clipForMsg(string(c.key)))
}

// path names the value being read, e.g. "state.host.interfaces[3].addrs".
func (c *counter) path() string { return c.pathOf(len(c.stack)-1, true) }

func (c *counter) pathOf(upto int, member bool) string {
	var b strings.Builder
	for i := 0; i <= upto; i++ {
		f := &c.stack[i]
		if f.name != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.name)
		}
		if i < upto && !f.obj {
			fmt.Fprintf(&b, "[%d]", f.count-1)
		}
	}
	if member && upto >= 0 && c.stack[upto].obj {
		if n := c.memberName(); n != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(n)
		}
	}
	if b.Len() == 0 {
		return "the body"
	}
	return b.String()
}
