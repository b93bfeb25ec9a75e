package protocol

import (
	"cmp"
	"strings"
)

// versionOrders is the version ordering of each package format (Package.Source) whose
// package manager the agent reads, written the way that package manager orders its own
// versions. A package source of the agent produces one of these formats; that each has its
// ordering here is checked by the agent's tests, so that forgetting one fails a test instead of
// ordering its versions by another package manager's rules.
var versionOrders = map[string]func(a, b string) int{
	"deb":    compareDeb,    // dpkg
	"rpm":    compareRPM,    // rpm's rpmverCmp
	"apk":    compareAPK,    // apk-tools
	"pacman": comparePacman, // pacman's vercmp
	// Kernel modules and files no package owns have no package manager: their versions are
	// what a module or binary declares (or a kernel release, or a digest), ordered by
	// CompareSegments. Registered so that a new format is a decision, not an omission.
	"kmod": CompareSegments,
	// Image tags have no order ("latest", "alpine", "1.25"): the plain segment ordering only
	// tells whether a retagged image is called an upgrade or a downgrade.
	"container-image": CompareSegments,
	"file":            CompareSegments,
}

// VersionOrder returns the version ordering registered for the package format, and false
// when none is: CompareVersions then orders the format's versions by CompareSegments.
func VersionOrder(format string) (func(a, b string) int, bool) {
	f, ok := versionOrders[format]
	return f, ok
}

// CompareVersions compares two versions of a package of the given format (Package.Source)
// the way its package manager does (see versionOrders): dpkg's algorithm for deb, apk-tools'
// for apk, pacman's vercmp for pacman, rpm's for rpm. A format without an ordering of its own
// is ordered by CompareSegments, which no package manager uses but which orders the usual
// dotted versions right: it decides only whether a changed version is an upgrade or a
// downgrade. It returns -1, 0 or +1.
//
// Unlike the package managers, which compare only versions their own databases accept,
// CompareVersions takes any string and stays consistent: CompareVersions(s, a, a) is 0 and
// CompareVersions(s, a, b) is -CompareVersions(s, b, a).
func CompareVersions(format, a, b string) int {
	if f, ok := versionOrders[format]; ok {
		return f(a, b)
	}
	return CompareSegments(a, b)
}

// CompareSegments is the plain ordering of versions of no known package manager. It splits
// each version into segments, maximal runs of ASCII digits and maximal runs of anything
// else, and compares them in turn: two runs of digits as numbers (leading zeros aside), two
// other runs byte by byte, and a run of digits after any other run. When one version's
// segments are the first of the other's, the shorter sorts first ("1.0" < "1.0.1"). It
// returns -1, 0 or +1, and is a total preorder on all strings: versions that differ only in
// leading zeros compare equal.
func CompareSegments(a, b string) int {
	for a != "" && b != "" {
		var sa, sb string
		sa, a = segment(a)
		sb, b = segment(b)
		da, db := isDigit(sa[0]), isDigit(sb[0])
		var c int
		switch {
		case da && db:
			c = compareNum(sa, sb)
		case da:
			c = 1
		case db:
			c = -1
		default:
			c = strings.Compare(sa, sb)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// segment splits the leading run of digits, or of other bytes, off s (not empty).
func segment(s string) (seg, rest string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

// compareDeb implements dpkg's version ordering: epoch, then upstream version, then
// revision, each compared by alternating non-digit and digit runs, where '~' sorts before
// everything, even the end of the string.
func compareDeb(a, b string) int {
	ea, ua, ra := splitDeb(a)
	eb, ub, rb := splitDeb(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := debPart(ua, ub); c != 0 {
		return c
	}
	return debPart(ra, rb)
}

func splitDeb(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v, revision = v[:i], v[i+1:]
	}
	return epoch, v, revision
}

func debOrder(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func debPart(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			var ca, cb byte
			if a != "" {
				ca = a[0]
			}
			if b != "" {
				cb = b[0]
			}
			if oa, ob := debOrder(ca), debOrder(cb); oa != ob {
				return sign(oa - ob)
			}
			if a != "" {
				a = a[1:]
			}
			if b != "" {
				b = b[1:]
			}
		}
		da, db := digits(a), digits(b)
		if c := compareNum(da, db); c != 0 {
			return c
		}
		a, b = a[len(da):], b[len(db):]
	}
	return 0
}

// compareRPM implements rpm's ordering of [epoch:]version[-release] (rpmverCmp): each part
// compared by rpmvercmp, which walks alphanumeric segments, numbers beating letters, '~'
// sorting first and '^' sorting after the end of the string. A missing release sorts before
// any release, even an empty one, as in rpm 4.18.
func compareRPM(a, b string) int {
	ea, va, ra, hasRA := splitEVR(a)
	eb, vb, rb, hasRB := splitEVR(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	switch {
	case hasRA && hasRB:
		return rpmvercmp(ra, rb)
	case hasRA:
		return 1
	case hasRB:
		return -1
	}
	return 0
}

// splitEVR splits [epoch:]version[-release] the way rpm and pacman do: the epoch is a run
// of leading digits followed by ':', the release follows the last '-'.
func splitEVR(v string) (epoch, version, release string, hasRelease bool) {
	if i := strings.IndexByte(v, ':'); i >= 0 && strings.Trim(v[:i], "0123456789") == "" {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:], true
	}
	return epoch, v, "", false
}

func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	for a != "" || b != "" {
		for a != "" && !isAlnum(a[0]) && a[0] != '~' && a[0] != '^' {
			a = a[1:]
		}
		for b != "" && !isAlnum(b[0]) && b[0] != '~' && b[0] != '^' {
			b = b[1:]
		}
		// '~' sorts before anything, even the end of the string.
		if (a != "" && a[0] == '~') || (b != "" && b[0] == '~') {
			if a == "" || a[0] != '~' {
				return 1
			}
			if b == "" || b[0] != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		// '^' sorts after the end of the string but before anything else.
		if (a != "" && a[0] == '^') || (b != "" && b[0] == '^') {
			if a == "" {
				return -1
			}
			if b == "" {
				return 1
			}
			if a[0] != '^' {
				return 1
			}
			if b[0] != '^' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}
		var sa, sb string
		numeric := isDigit(a[0])
		if numeric {
			sa, sb = digits(a), digits(b)
		} else {
			sa, sb = letters(a), letters(b)
		}
		if sb == "" {
			// Segments of different kinds: the numeric one is newer.
			if numeric {
				return 1
			}
			return -1
		}
		var c int
		if numeric {
			c = compareNum(sa, sb)
		} else {
			c = strings.Compare(sa, sb)
		}
		if c != 0 {
			return c
		}
		a, b = a[len(sa):], b[len(sb):]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// comparePacman implements pacman's alpm_pkg_vercmp: the epoch (0 when missing), then the
// version, then the release only when both versions have one, each compared by pacman's
// copy of rpmvercmp.
func comparePacman(a, b string) int {
	if a == b {
		return 0
	}
	ea, va, ra, hasRA := splitEVR(a)
	eb, vb, rb, hasRB := splitEVR(b)
	if c := pacmanvercmp(cmp.Or(ea, "0"), cmp.Or(eb, "0")); c != 0 {
		return c
	}
	if c := pacmanvercmp(va, vb); c != 0 || !hasRA || !hasRB {
		return c
	}
	return pacmanvercmp(ra, rb)
}

// pacmanvercmp is pacman's rpmvercmp, which forked from rpm's before '~' and '^' were
// given a meaning: they are separators like any other; separators of different lengths
// decide; and a trailing letter segment sorts before the end of the string, so that
// "1.0beta" < "1.0" (where rpm has "1.0beta" > "1.0").
func pacmanvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0   // start of the current segments
	ei, ej := 0, 0 // end of the previous segments
	for i < len(a) && j < len(b) {
		for i < len(a) && !isAlnum(a[i]) {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) {
			j++
		}
		if i == len(a) || j == len(b) {
			break
		}
		if c := cmp.Compare(i-ei, j-ej); c != 0 {
			return c
		}
		numeric := isDigit(a[i])
		var sa, sb string
		if numeric {
			sa, sb = digits(a[i:]), digits(b[j:])
		} else {
			sa, sb = letters(a[i:]), letters(b[j:])
		}
		if sb == "" {
			if numeric {
				return 1
			}
			return -1
		}
		var c int
		if numeric {
			c = compareNum(sa, sb)
		} else {
			c = strings.Compare(sa, sb)
		}
		if c != 0 {
			return c
		}
		i, j = i+len(sa), j+len(sb)
		ei, ej = i, j
	}
	a, b = a[i:], b[j:]
	switch {
	case a == "" && b == "":
		return 0
	case a == "" && !isAlpha(b[0]), a != "" && isAlpha(a[0]):
		return -1
	}
	return 1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

func digits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

func letters(s string) string {
	i := 0
	for i < len(s) && isAlpha(s[i]) {
		i++
	}
	return s[:i]
}

// compareNum compares two runs of decimal digits of any length.
func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
