package gem

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Spec is what a gem's specification says of it.
type Spec struct {
	Name, Version, Platform string
	Summary, Homepage       string
	Licenses, Authors       []string
}

// maxListItems bounds the strings kept of one array (licenses, authors).
const maxListItems = 32

// ParseSpec reads a specification as RubyGems writes it into <gemdir>/specifications
// (Gem::Specification#to_ruby_for_cache): one assignment per line, `s.name = "rails".freeze`,
// `s.licenses = ["MIT".freeze]`, each string a dumped Ruby string literal. Nothing is
// evaluated: a line that is not such an assignment of a string or an array of strings is
// ignored, and the first assignment of a field wins. The "# stub: name version platform"
// comment RubyGems writes first fills the name, version and platform the assignments do not.
func ParseSpec(b []byte) Spec {
	var sp Spec
	var stub []string
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSpace(line)
		if rest, ok := bytes.CutPrefix(line, []byte("# stub: ")); ok && stub == nil {
			stub = strings.Fields(string(rest))
			continue
		}
		rest, ok := bytes.CutPrefix(line, []byte("s."))
		if !ok {
			continue
		}
		i := bytes.IndexByte(rest, '=')
		if i <= 0 {
			continue
		}
		field, value := string(bytes.TrimSpace(rest[:i])), bytes.TrimSpace(rest[i+1:])
		switch field {
		case "name", "version", "platform", "summary", "homepage":
			if s, ok := stringValue(value); ok {
				setOnce(fieldOf(&sp, field), s)
			}
		case "licenses", "authors":
			dst := &sp.Licenses
			if field == "authors" {
				dst = &sp.Authors
			}
			if *dst == nil {
				*dst = arrayValue(value)
			}
		case "license":
			if s, ok := stringValue(value); ok && sp.Licenses == nil {
				sp.Licenses = []string{s}
			}
		}
	}
	if len(stub) >= 2 {
		setOnce(&sp.Name, stub[0])
		setOnce(&sp.Version, stub[1])
		if len(stub) >= 3 {
			setOnce(&sp.Platform, stub[2])
		}
	}
	return sp
}

func fieldOf(sp *Spec, field string) *string {
	switch field {
	case "name":
		return &sp.Name
	case "version":
		return &sp.Version
	case "platform":
		return &sp.Platform
	case "summary":
		return &sp.Summary
	}
	return &sp.Homepage
}

func setOnce(dst *string, s string) {
	if *dst == "" {
		*dst = s
	}
}

// stringValue reads `"text"` or `"text".freeze`, and nothing after it but a modifier
// (`if s.respond_to? ...`) or a comment.
func stringValue(v []byte) (string, bool) {
	s, rest, ok := rubyString(v)
	if !ok {
		return "", false
	}
	rest = bytes.TrimPrefix(rest, []byte(".freeze"))
	rest = bytes.TrimSpace(rest)
	if len(rest) > 0 && !bytes.HasPrefix(rest, []byte("if ")) && rest[0] != '#' {
		return "", false
	}
	return s, true
}

// arrayValue reads `["a".freeze, "b".freeze]`; an element that is not a string ends it.
func arrayValue(v []byte) []string {
	v, ok := bytes.CutPrefix(v, []byte("["))
	if !ok {
		return nil
	}
	out := []string{}
	for len(out) < maxListItems {
		v = bytes.TrimSpace(v)
		s, rest, ok := rubyString(v)
		if !ok {
			break
		}
		out = append(out, s)
		rest = bytes.TrimSpace(bytes.TrimPrefix(rest, []byte(".freeze")))
		if r, ok := bytes.CutPrefix(rest, []byte(",")); ok {
			v = r
			continue
		}
		break
	}
	return out
}

// rubyString reads the double-quoted Ruby string literal v starts with, as String#dump
// writes it, and returns its text and what follows it. ok is false when v does not start
// with a complete literal.
func rubyString(v []byte) (s string, rest []byte, ok bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", nil, false
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch c {
		case '"':
			return b.String(), v[i+1:], true
		case '\\':
			n, ok := rubyEscape(&b, v[i+1:])
			if !ok {
				return "", nil, false
			}
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return "", nil, false
}

// simpleEscapes are the one-letter escapes of a Ruby string.
var simpleEscapes = [256]byte{'n': '\n', 't': '\t', 'r': '\r', 'f': '\f', 'v': '\v', 'b': '\b', 'a': '\a', 'e': 0x1b, 's': ' '}

// rubyEscape writes the character of the escape sequence e follows the backslash of, and
// returns how many bytes of e it took.
func rubyEscape(b *strings.Builder, e []byte) (int, bool) {
	if len(e) == 0 {
		return 0, false
	}
	switch c := e[0]; {
	case simpleEscapes[c] != 0:
		b.WriteByte(simpleEscapes[c])
		return 1, true
	case c == 'x':
		n := hexRun(e[1:], 2)
		if n == 0 {
			return 0, false
		}
		v, _ := strconv.ParseUint(string(e[1:1+n]), 16, 8)
		b.WriteByte(byte(v))
		return 1 + n, true
	case c == 'u':
		return unicodeEscape(b, e[1:])
	case c >= '0' && c <= '7':
		n := 1
		for n < 3 && n < len(e) && e[n] >= '0' && e[n] <= '7' {
			n++
		}
		v, _ := strconv.ParseUint(string(e[:n]), 8, 16)
		b.WriteByte(byte(v))
		return n, true
	default:
		b.WriteByte(c) // \" \\ \# and any other character stand for themselves
		return 1, true
	}
}

// unicodeEscape reads XXXX or {X...} after \u; it returns the bytes taken, the "u" counted.
func unicodeEscape(b *strings.Builder, e []byte) (int, bool) {
	if len(e) > 0 && e[0] == '{' {
		end := bytes.IndexByte(e, '}')
		if end < 0 {
			return 0, false
		}
		for _, h := range strings.Fields(string(e[1:end])) {
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil || len(h) > 6 {
				return 0, false
			}
			b.WriteRune(validRune(rune(v)))
		}
		return 1 + end + 1, true
	}
	if hexRun(e, 4) != 4 {
		return 0, false
	}
	v, _ := strconv.ParseUint(string(e[:4]), 16, 32)
	b.WriteRune(validRune(rune(v)))
	return 5, true
}

func validRune(r rune) rune {
	if !utf8.ValidRune(r) {
		return utf8.RuneError
	}
	return r
}

// hexRun returns how many of the first max bytes of e are hex digits.
func hexRun(e []byte, max int) int {
	n := 0
	for n < max && n < len(e) {
		c := e[n]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			break
		}
		n++
	}
	return n
}

// SplitFullName splits a specification's file name without ".gemspec", name-version or
// name-version-platform, at the first "-" followed by a digit: gem names may hold "-"
// ("net-http") but versions may not, and platforms never start with a digit.
func SplitFullName(full string) (name, version, platform string, ok bool) {
	parts := strings.Split(full, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" && parts[i][0] >= '0' && parts[i][0] <= '9' {
			name = strings.Join(parts[:i], "-")
			if name == "" {
				break
			}
			return name, parts[i], strings.Join(parts[i+1:], "-"), true
		}
	}
	return "", "", "", false
}
