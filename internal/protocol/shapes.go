package protocol

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

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
