package protocol

import (
	"go/version"
	"strings"
)

// The orderings of the language package managers' formats whose versions are semantic
// versions: cargo's crates and npm's packages (SemVer 2.0.0), Go's modules (SemVer with a
// "v", pseudo-versions included).
func init() {
	versionOrders["cargo"] = compareSemver
	versionOrders["npm"] = compareSemver
	versionOrders["go"] = compareGoVersion
}

// semver is a version parsed as SemVer 2.0.0: its three numbers (ASCII digits, no leading
// zero) and its prerelease identifiers, dot-separated, as written. Build metadata is not
// kept: it takes no part in the ordering.
type semver struct {
	major, minor, patch, pre string
}

// parseSemver reads s as major.minor.patch[-prerelease][+build], SemVer 2.0.0's grammar:
// numbers and numeric prerelease identifiers without leading zeros, identifiers of ASCII
// letters, digits and '-', none empty.
func parseSemver(s string) (semver, bool) {
	var v semver
	core, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !validIdents(build, false) {
		return v, false
	}
	core, pre, hasPre := strings.Cut(core, "-")
	if hasPre && !validIdents(pre, true) {
		return v, false
	}
	v.pre = pre
	var ok bool
	if v.major, core, ok = semverNumber(core); !ok || !strings.HasPrefix(core, ".") {
		return v, false
	}
	if v.minor, core, ok = semverNumber(core[1:]); !ok || !strings.HasPrefix(core, ".") {
		return v, false
	}
	if v.patch, core, ok = semverNumber(core[1:]); !ok || core != "" {
		return v, false
	}
	return v, true
}

// semverNumber splits the number s starts with off it: digits, no leading zero.
func semverNumber(s string) (n, rest string, ok bool) {
	n = digits(s)
	if n == "" || len(n) > 1 && n[0] == '0' {
		return "", s, false
	}
	return n, s[len(n):], true
}

// validIdents checks dot-separated identifiers: not empty, ASCII letters, digits and '-';
// numeric prerelease identifiers (pre) without a leading zero.
func validIdents(s string, pre bool) bool {
	for {
		id, rest, more := strings.Cut(s, ".")
		if id == "" {
			return false
		}
		for _, c := range []byte(id) {
			if !isAlnum(c) && c != '-' {
				return false
			}
		}
		if pre && len(id) > 1 && id[0] == '0' && digits(id) == id {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// compareSemverParsed orders two semantic versions as SemVer 2.0.0 §11 does: the three
// numbers as numbers, then a version with a prerelease before the same one without, then the
// prerelease identifiers in turn, numeric ones as numbers and before alphanumeric ones,
// alphanumeric ones byte by byte, and fewer identifiers before more when the first are equal.
func compareSemverParsed(a, b semver) int {
	for _, p := range [3][2]string{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if c := compareNum(p[0], p[1]); c != 0 {
			return c
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	x, y := a.pre, b.pre
	for x != "" && y != "" {
		var ix, iy string
		ix, x, _ = strings.Cut(x, ".")
		iy, y, _ = strings.Cut(y, ".")
		nx, ny := digits(ix) == ix, digits(iy) == iy
		var c int
		switch {
		case nx && ny:
			c = compareNum(ix, iy)
		case nx:
			c = -1
		case ny:
			c = 1
		default:
			c = strings.Compare(ix, iy)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case x == "" && y == "":
		return 0
	case x == "":
		return -1
	}
	return 1
}

// compareSemver orders the versions of cargo's crates and npm's packages by SemVer 2.0.0
// (compareSemverParsed); a leading "v", which npm accepts, is read past, and build metadata
// is ignored ("1.0.0+build.1" = "v1.0.0"). cargo and npm refuse a version that is not a
// semantic version; here such a version sorts before every semantic version, and such
// versions among themselves by CompareSegments, so that the ordering stays total.
func compareSemver(a, b string) int {
	va, okA := parseSemver(strings.TrimPrefix(a, "v"))
	vb, okB := parseSemver(strings.TrimPrefix(b, "v"))
	return compareRanked(okA, okB, func() int { return compareSemverParsed(va, vb) }, a, b)
}

// compareRanked orders two versions of which those that parse (okA, okB) sort after those
// that do not: two that parse by cmp, two that do not by CompareSegments.
func compareRanked(okA, okB bool, cmp func() int, a, b string) int {
	switch {
	case okA && okB:
		return cmp()
	case okA:
		return 1
	case okB:
		return -1
	}
	return CompareSegments(a, b)
}

// goVersionRank ranks the kinds of version a "go" package has, lowest first.
const (
	goDevel   = iota // "(devel)": a build from a checkout that recorded no version
	goOther          // anything else that is neither: a VCS revision standing for "(devel)"
	goRelease        // the Go distribution's release, go:toolchain's version: "1.22.5", "1.23rc1"
	goModule         // a module version: "v1.4.0", "v0.0.0-20240101120000-abcdef123456"
)

func goRank(v string) (int, semver) {
	switch {
	case v == "(devel)":
		return goDevel, semver{}
	case strings.HasPrefix(v, "v"):
		if sv, ok := parseSemver(v[1:]); ok {
			return goModule, sv
		}
	case strings.Contains(v, ".") && version.IsValid("go"+v):
		// A Go 1 release has a dot: a VCS revision of digits alone ("123456789012") is none.
		return goRelease, semver{}
	}
	return goOther, semver{}
}

// compareGoVersion orders the versions of Go programs: module versions as the go command
// does (golang.org/x/mod/semver), a semantic version with a leading "v" whose build metadata
// ("+incompatible", "+dirty") is ignored and where a pseudo-version
// (v0.0.0-20240101120000-abcdef123456, v1.2.4-0.20240101120000-abcdef123456) is the
// prerelease it is written as, so that it sorts by its time before the release it precedes.
// The Go distribution's releases ("1.22.5", go:toolchain's) are ordered by go/version, below
// every module version; other versions (a VCS revision) below those, by CompareSegments;
// "(devel)" lowest.
func compareGoVersion(a, b string) int {
	ra, va := goRank(a)
	rb, vb := goRank(b)
	switch {
	case ra != rb:
		return sign(ra - rb)
	case ra == goModule:
		return compareSemverParsed(va, vb)
	case ra == goRelease:
		return version.Compare("go"+a, "go"+b)
	}
	return CompareSegments(a, b)
}
