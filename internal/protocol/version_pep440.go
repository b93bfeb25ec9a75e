package protocol

import (
	"strings"
	"unicode"
)

// The ordering of Python distribution versions, as PEP 440 defines it and the packaging
// library's Version compares them.

func init() { versionOrders["pypi"] = comparePEP440 }

// The kinds of prerelease, in their order: a development release of the release itself
// (1.0.dev1, no prerelease and no post-release) sorts before every prerelease of it, and the
// release after all of them.
const (
	pepDevOfRelease = iota
	pepAlpha
	pepBeta
	pepRC
	pepRelease
)

// pep440 is a version PEP 440 accepts, as its parts: numbers are runs of ASCII digits with
// their leading zeros dropped ("" is 0), so that any length compares right.
type pep440 struct {
	epoch   string
	release []string // trailing zeros dropped: 1.0 is 1
	pre     int      // pepDevOfRelease … pepRelease
	preN    string
	post    bool
	postN   string
	dev     bool
	devN    string
	local   []string // lower case
}

// pepPre are the spellings of a prerelease, longest first where one begins another, and
// pepPreKind their kinds.
var (
	pepPre     = []string{"alpha", "a", "beta", "b", "preview", "pre", "c", "rc"}
	pepPreKind = []int{pepAlpha, pepAlpha, pepBeta, pepBeta, pepRC, pepRC, pepRC, pepRC}
)

// pepScanner reads a version left to right; s is lower case.
type pepScanner struct{ s string }

func (p *pepScanner) digits() (string, bool) {
	d := digits(p.s)
	p.s = p.s[len(d):]
	return strings.TrimLeft(d, "0"), d != ""
}

func isPEPSep(c byte) bool { return c == '-' || c == '_' || c == '.' }

// label reads an optional separator, then one of the words, then an optional separator and
// an optional number (the separator is kept even when no number follows, as PEP 440's
// pattern does: "1.0a." is 1.0a0). It returns the index of the word, or -1 with nothing read.
func (p *pepScanner) label(words ...string) (int, string) {
	rest := p.s
	if rest != "" && isPEPSep(rest[0]) {
		rest = rest[1:]
	}
	for i, w := range words {
		if r, ok := strings.CutPrefix(rest, w); ok {
			if r != "" && isPEPSep(r[0]) {
				r = r[1:]
			}
			p.s = r
			n, _ := p.digits()
			return i, n
		}
	}
	return -1, ""
}

// parsePEP440 reads v as PEP 440's version pattern does: surrounding white space and a "v"
// aside, case-insensitive, with every spelling the pattern accepts ("1.0-alpha1" is 1.0a1,
// "1.0-1" and "1.0.post-1" are 1.0.post1, "1.0rev" is 1.0.post0). ok is false for a string
// that is not a version.
func parsePEP440(v string) (pv pep440, ok bool) {
	p := pepScanner{s: asciiLower(strings.TrimFunc(v, isPySpace))}
	p.s = strings.TrimPrefix(p.s, "v")
	n, ok := p.digits()
	if !ok {
		return pv, false
	}
	if r, bang := strings.CutPrefix(p.s, "!"); bang {
		pv.epoch, p.s = n, r
		if n, ok = p.digits(); !ok {
			return pv, false
		}
	}
	pv.release = append(pv.release, n)
	for len(p.s) > 1 && p.s[0] == '.' && isDigit(p.s[1]) {
		p.s = p.s[1:]
		n, _ = p.digits()
		pv.release = append(pv.release, n)
	}
	for len(pv.release) > 1 && pv.release[len(pv.release)-1] == "" {
		pv.release = pv.release[:len(pv.release)-1]
	}
	pv.pre = pepRelease
	if i, n := p.label(pepPre...); i >= 0 {
		pv.pre, pv.preN = pepPreKind[i], n
	}
	if len(p.s) > 1 && p.s[0] == '-' && isDigit(p.s[1]) {
		p.s = p.s[1:]
		pv.post = true
		pv.postN, _ = p.digits()
	} else if i, n := p.label("post", "rev", "r"); i >= 0 {
		pv.post, pv.postN = true, n
	}
	if i, n := p.label("dev"); i >= 0 {
		pv.dev, pv.devN = true, n
		if pv.pre == pepRelease && !pv.post {
			pv.pre = pepDevOfRelease
		}
	}
	if r, plus := strings.CutPrefix(p.s, "+"); plus {
		if pv.local, ok = pepLocal(r); !ok {
			return pv, false
		}
		p.s = ""
	}
	return pv, p.s == ""
}

// isPySpace is Python's str.isspace, which the pattern's \s matches: Unicode's white space
// and the ASCII separators U+001C to U+001F.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// asciiLower lowers the ASCII letters of s only: PEP 440's words and local labels are ASCII.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// pepLocal splits a local version label, alphanumeric parts separated by one of "-_.".
func pepLocal(s string) ([]string, bool) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isPEPSep(byte(r)) })
	if len(parts) == 0 || len(strings.Join(parts, ".")) != len(s) {
		return nil, false // empty, or a separator first, last or doubled
	}
	for _, part := range parts {
		for _, c := range []byte(part) {
			if !isDigit(c) && (c < 'a' || c > 'z') {
				return nil, false
			}
		}
	}
	return parts, true
}

// comparePEP440 orders versions as PEP 440 does: the epoch, then the release (1.0 is 1.0.0),
// then prereleases (a, b, rc) before the release and its development releases before all of
// them, post-releases after it, development releases before what they lead to, and a local
// version after the same version without one (its parts compared in turn, a number after
// letters). Every spelling of a version is equal to its normal form ("1.0-alpha1" is
// "1.0a1"). A string that is no PEP 440 version sorts after every version, and such strings
// are ordered among themselves by CompareSegments, so that the order stays total.
func comparePEP440(a, b string) int {
	va, oka := parsePEP440(a)
	vb, okb := parsePEP440(b)
	switch {
	case !oka && !okb:
		return CompareSegments(a, b)
	case !oka:
		return 1
	case !okb:
		return -1
	}
	if c := compareNum(va.epoch, vb.epoch); c != 0 {
		return c
	}
	for i := range max(len(va.release), len(vb.release)) {
		var x, y string
		if i < len(va.release) {
			x = va.release[i]
		}
		if i < len(vb.release) {
			y = vb.release[i]
		}
		if c := compareNum(x, y); c != 0 {
			return c
		}
	}
	if c := sign(va.pre - vb.pre); c != 0 {
		return c
	}
	if c := compareNum(va.preN, vb.preN); c != 0 {
		return c
	}
	if c := pepOptional(va.post, vb.post, va.postN, vb.postN, -1); c != 0 {
		return c
	}
	if c := pepOptional(va.dev, vb.dev, va.devN, vb.devN, 1); c != 0 {
		return c
	}
	return comparePEPLocal(va.local, vb.local)
}

// pepOptional compares an optional numbered part: absent sorts as missing says (-1 before
// any number, +1 after all of them).
func pepOptional(hasA, hasB bool, a, b string, missing int) int {
	switch {
	case hasA && hasB:
		return compareNum(a, b)
	case hasA:
		return -missing
	case hasB:
		return missing
	}
	return 0
}

// comparePEPLocal compares local version labels part by part: two numbers as numbers, two
// strings byte by byte, a number after a string; no label sorts first, a shorter one before
// a longer one it begins.
func comparePEPLocal(a, b []string) int {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		nx, ny := digits(x) == x, digits(y) == y
		var c int
		switch {
		case nx && ny:
			c = compareNum(x, y)
		case nx:
			c = 1
		case ny:
			c = -1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(a) - len(b))
}
