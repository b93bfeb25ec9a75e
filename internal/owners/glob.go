package owners

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// glob is a compiled pattern with path.Match semantics. Most patterns in owners.yaml are
// exact names or a literal prefix followed by "*", which match without path.Match.
type glob struct {
	pat  string
	form globForm
	lit  string // the whole pattern (exact), or the literal part before or after the "*"
	// literal counts the characters the pattern matches literally, for specificity.
	literal int
}

type globForm uint8

const (
	globExact  globForm = iota // no wildcard
	globPrefix                 // "lit*"
	globSuffix                 // "*lit"
	globStar                   // "*"
	globTree                   // "lit/**": lit and everything under it
	globOther                  // anything else: path.Match
)

// compileGlob checks a pattern and compiles it.
func compileGlob(pat string) (glob, error) {
	if pat == "" {
		return glob{}, errors.New("empty pattern")
	}
	if _, err := path.Match(pat, ""); err != nil {
		return glob{}, fmt.Errorf("bad pattern %q: %v", pat, err)
	}
	g := glob{pat: pat, form: globOther, literal: literalChars(pat)}
	const meta = `*?[\`
	switch i := strings.IndexAny(pat, meta); {
	case i < 0:
		g.form, g.lit = globExact, pat
	case pat == "*":
		g.form = globStar
	case i == len(pat)-1 && pat[i] == '*':
		g.form, g.lit = globPrefix, pat[:i]
	case i == 0 && pat[0] == '*' && !strings.ContainsAny(pat[1:], meta):
		g.form, g.lit = globSuffix, pat[1:]
	case i > 0 && pat[i-1] == '/' && pat[i:] == "**":
		g.form, g.lit = globTree, pat[:i-1]
	}
	return g, nil
}

func (g *glob) match(s string) bool {
	switch g.form {
	case globExact:
		return s == g.lit
	case globPrefix:
		return strings.HasPrefix(s, g.lit) && strings.IndexByte(s[len(g.lit):], '/') < 0
	case globSuffix:
		return strings.HasSuffix(s, g.lit) && strings.IndexByte(s[:len(s)-len(g.lit)], '/') < 0
	case globStar:
		return strings.IndexByte(s, '/') < 0
	case globTree:
		return s == g.lit || strings.HasPrefix(s, g.lit) && len(s) > len(g.lit) && s[len(g.lit)] == '/'
	}
	ok, _ := path.Match(g.pat, s)
	return ok
}

// literalChars counts the characters of a pattern that match only themselves: everything
// but "*", "?" and character classes; an escaped character counts once.
func literalChars(pat string) int {
	n := 0
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '*', '?':
		case '\\':
			i++
			n++
		case '[':
			for i++; i < len(pat) && pat[i] != ']'; i++ {
				if pat[i] == '\\' {
					i++
				}
			}
		default:
			n++
		}
	}
	return n
}

// portSpec is a compiled port selector: an optional protocol and a port range.
type portSpec struct {
	proto  string // "", "tcp" or "udp"
	lo, hi uint16
	exact  bool // one protocol and one port
}

// parsePort parses "5432", "tcp/5432" or "udp/8000-8099".
func parsePort(s string) (portSpec, error) {
	var p portSpec
	num := s
	if proto, rest, ok := strings.Cut(s, "/"); ok {
		if proto != "tcp" && proto != "udp" {
			return p, fmt.Errorf("port %q: protocol must be tcp or udp", s)
		}
		p.proto, num = proto, rest
	}
	lo, hi, isRange := strings.Cut(num, "-")
	l, err := portNumber(lo)
	if err != nil {
		return p, fmt.Errorf("port %q: %v", s, err)
	}
	h := l
	if isRange {
		if h, err = portNumber(hi); err != nil {
			return p, fmt.Errorf("port %q: %v", s, err)
		}
		if h < l {
			return p, fmt.Errorf("port %q: range ends before it starts", s)
		}
	}
	p.lo, p.hi = l, h
	p.exact = p.proto != "" && l == h
	return p, nil
}

func portNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(n), nil
}

func (p *portSpec) match(s *ServiceAttrs) bool {
	if !s.IsPort() || s.Port < p.lo || s.Port > p.hi {
		return false
	}
	return p.proto == "" || p.proto == strings.TrimSuffix(s.Protocol, "6")
}
