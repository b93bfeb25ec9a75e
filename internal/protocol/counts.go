package protocol

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

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
	reflect.TypeFor[model.InstallInfo]():    {"Labels": MaxLabels},
	reflect.TypeFor[model.Service]():        {"Labels": MaxLabels},
}

// MaxDepth is the deepest nesting of arrays and objects Decode reads. A report nests six
// levels deep at most; the margin leaves room for fields a newer onus-agent may send.
const MaxDepth = 32

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
// bound. It is long because it is one state machine over every byte of a report: its
// states as functions would cost a call per byte on the hottest path of decoding.
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
