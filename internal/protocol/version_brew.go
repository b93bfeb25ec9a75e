package protocol

import (
	"strings"
	"unicode/utf8"
)

// Homebrew orders a formula's installed versions (the keg directories of its Cellar, the
// pkg_version "1.2.3_1": version, then "_" and the formula's revision) by PkgVersion#<=>:
// Version#<=>, then the revision as a number. Cask versions ("1.2.3,456", "latest") are
// never ordered by Homebrew, which compares them for equality only: they take the plain
// segment ordering.
func init() {
	versionOrders["brew"] = compareBrew
	versionOrders["brew-cask"] = CompareSegments
}

// compareBrew is Homebrew's PkgVersion#<=> (Library/Homebrew/pkg_version.rb): the version
// is what precedes the last "_" and run of digits, the revision that number (0 without).
func compareBrew(a, b string) int {
	va, ra := splitBrewRevision(a)
	vb, rb := splitBrewRevision(b)
	if c := compareBrewVersion(va, vb); c != 0 {
		return c
	}
	return compareNum(ra, rb)
}

// splitBrewRevision splits "1.2.3_1" into "1.2.3" and "1", as PkgVersion's
// /\A(.+?)(?:_(\d+))?\z/ does.
func splitBrewRevision(s string) (version, revision string) {
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	if i < len(s) && i >= 2 && s[i-1] == '_' {
		return s[:i-1], s[i:]
	}
	return s, "0"
}

// Homebrew's version token kinds (Version::Token's subclasses), the composite ones last.
const (
	brewNull = iota
	brewNumeric
	brewString
	brewAlpha
	brewBeta
	brewPre
	brewRC
	brewPatch
	brewPost
)

type brewToken struct {
	kind  int
	value string // the token's text; for a number, its digits
}

// rev is CompositeToken#rev: the first run of digits of the token, as a number.
func (t brewToken) rev() string {
	s := t.value
	i := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' })
	if i < 0 {
		return "0"
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return s[i:j]
}

// compareBrewVersion is Version#<=> (Library/Homebrew/version.rb): HEAD versions after all
// others and equal to each other, then the tokens compared in turn, a numeric token facing
// a non-numeric one skipped when it is zero. Homebrew stops when the left version's index
// reaches the longer token count, which is not antisymmetric when zeros were skipped on one
// side only; this goes on until both versions' tokens are spent, treating a missing token as
// Version's NullToken. The empty version, which Homebrew refuses, sorts first.
func compareBrewVersion(a, b string) int {
	if a == b {
		return 0
	}
	switch {
	case a == "":
		return -1
	case b == "":
		return 1
	}
	ha, hb := brewHead(a), brewHead(b)
	switch {
	case ha && hb:
		return 0
	case ha:
		return 1
	case hb:
		return -1
	}
	lt, rt := brewTokens(a), brewTokens(b)
	l, r := 0, 0
	null := brewToken{kind: brewNull}
	for l < len(lt) || r < len(rt) {
		x, y := null, null
		if l < len(lt) {
			x = lt[l]
		}
		if r < len(rt) {
			y = rt[r]
		}
		c := compareBrewToken(x, y)
		switch {
		case c == 0:
			l++
			r++
		case x.kind == brewNumeric && y.kind != brewNumeric:
			if compareBrewToken(x, null) > 0 {
				return 1
			}
			l++
		case x.kind != brewNumeric && y.kind == brewNumeric:
			if compareBrewToken(y, null) > 0 {
				return -1
			}
			r++
		default:
			return c
		}
	}
	return 0
}

// brewHead reports a HEAD version: "HEAD" or "HEAD-<commit>".
func brewHead(s string) bool { return s == "HEAD" || strings.HasPrefix(s, "HEAD-") }

// brewPrerelease ranks the pre-release kinds: alpha, beta, pre, rc.
var brewPrerelease = [...]int{brewAlpha: 1, brewBeta: 2, brewPre: 3, brewRC: 4, brewPatch: 0, brewPost: 0}

// compareBrewToken is Token#<=> of each of Homebrew's token classes.
func compareBrewToken(a, b brewToken) int {
	switch {
	case a.kind == brewNull && b.kind == brewNull:
		return 0
	case a.kind == brewNull:
		switch b.kind {
		case brewNumeric:
			if strings.Trim(b.value, "0") == "" {
				return 0
			}
			return -1
		case brewAlpha, brewBeta, brewPre, brewRC:
			return 1
		}
		return -1
	case b.kind == brewNull:
		return -compareBrewToken(b, a)
	case a.kind == brewNumeric && b.kind == brewNumeric:
		return compareNum(a.value, b.value)
	case a.kind == brewNumeric:
		return 1
	case b.kind == brewNumeric:
		return -1
	case a.kind == brewString || b.kind == brewString:
		return strings.Compare(a.value, b.value)
	case a.kind == b.kind:
		return compareNum(a.rev(), b.rev())
	}
	pa, pb := brewPrerelease[a.kind], brewPrerelease[b.kind]
	switch {
	case pa == 0 && pb == 0: // a patch and a post token: StringToken's comparison
		return strings.Compare(a.value, b.value)
	case pa == 0:
		return 1
	case pb == 0:
		return -1
	}
	return sign(pa - pb)
}

// brewTokens scans s as Version#tokens does with SCAN_PATTERN: at each position the first
// of the alternatives alpha, beta, pre, rc, patch, post, number, letters that matches, a
// character none matches skipped.
func brewTokens(s string) []brewToken {
	var out []brewToken
	for i := 0; i < len(s); {
		kind, n := brewMatch(s[i:])
		if n == 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			continue
		}
		out = append(out, brewToken{kind: kind, value: s[i : i+n]})
		i += n
	}
	return out
}

// brewMatch returns the kind and length of the token s starts with, 0 when none.
func brewMatch(s string) (kind, n int) {
	if n := foldWord(s, "alpha"); n > 0 {
		return brewAlpha, n + brewDigits(s[n:])
	}
	if len(s) > 1 && lower(s[0]) == 'a' && brewDigits(s[1:]) > 0 {
		return brewAlpha, 1 + brewDigits(s[1:])
	}
	if n := foldWord(s, "beta"); n > 0 {
		return brewBeta, n + brewDigits(s[n:])
	}
	if len(s) > 1 && lower(s[0]) == 'b' && brewDigits(s[1:]) > 0 {
		return brewBeta, 1 + brewDigits(s[1:])
	}
	if n := foldWord(s, "pre"); n > 0 {
		return brewPre, n + brewDigits(s[n:])
	}
	if n := foldWord(s, "rc"); n > 0 {
		return brewRC, n + brewDigits(s[n:])
	}
	if lower(s[0]) == 'p' {
		return brewPatch, 1 + brewDigits(s[1:])
	}
	// /.post[0-9]+/: any one character but a newline first.
	if r, size := utf8.DecodeRuneInString(s); r != '\n' {
		if m := foldWord(s[size:], "post"); m > 0 {
			if d := brewDigits(s[size+m:]); d > 0 {
				return brewPost, size + m + d
			}
		}
	}
	if n := brewDigits(s); n > 0 {
		return brewNumeric, n
	}
	n = 0
	for n < len(s) && (lower(s[n]) >= 'a' && lower(s[n]) <= 'z') {
		n++
	}
	return brewString, n
}

// foldWord returns len(w) when s starts with the lower-case word w in any case, else 0.
func foldWord(s, w string) int {
	if len(s) < len(w) || !strings.EqualFold(s[:len(w)], w) {
		return 0
	}
	return len(w)
}

// brewDigits returns the length of the run of ASCII digits s starts with.
func brewDigits(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
