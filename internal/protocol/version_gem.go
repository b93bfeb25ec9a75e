package protocol

import "strings"

// The ordering of Ruby gem versions, as RubyGems' Gem::Version#<=> compares them.

func init() { versionOrders["gem"] = compareGem }

// gemSegment is one segment of a gem version: a run of ASCII digits (num) or of ASCII
// letters.
type gemSegment struct {
	s   string
	num bool
}

// gemCanonical returns the canonical segments of a gem version, as Gem::Version keeps them:
// surrounding white space stripped, "-" read as ".pre.", the version scanned for runs of
// digits and runs of letters (anything else separates them), then the release part (the
// segments before the first run of letters) and the prerelease part (from it on) each
// stripped of its trailing zeros. Leading zeros of a number are dropped. "" is "0", which has
// no segments at all.
func gemCanonical(v string) []gemSegment {
	v = strings.ReplaceAll(strings.TrimSpace(v), "-", ".pre.")
	var segs []gemSegment
	for i := 0; i < len(v); {
		c := v[i]
		j := i + 1
		switch {
		case isDigit(c):
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			segs = append(segs, gemSegment{s: strings.TrimLeft(v[i:j], "0"), num: true})
		case isASCIILetter(c):
			for j < len(v) && isASCIILetter(v[j]) {
				j++
			}
			segs = append(segs, gemSegment{s: v[i:j]})
		}
		i = j
	}
	split := len(segs)
	for i, s := range segs {
		if !s.num {
			split = i
			break
		}
	}
	release := trimGemZeros(segs[:split])
	pre := trimGemZeros(segs[split:])
	return append(release[:len(release):len(release)], pre...)
}

// trimGemZeros drops the trailing zero numbers of segs.
func trimGemZeros(segs []gemSegment) []gemSegment {
	for len(segs) > 0 && segs[len(segs)-1].num && segs[len(segs)-1].s == "" {
		segs = segs[:len(segs)-1]
	}
	return segs
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// compareGem implements Gem::Version#<=>: the canonical segments are compared in turn, a
// missing one counting as 0; two numbers as numbers, two runs of letters byte by byte, and a
// run of letters before a number, so that a prerelease ("1.0.a", "1.0-rc1") sorts before its
// release. RubyGems refuses a version that is not "digits{.alphanumerics}{-alphanumerics}";
// here any string is read the same way, so that the ordering stays total.
func compareGem(a, b string) int {
	sa, sb := gemCanonical(a), gemCanonical(b)
	zero := gemSegment{num: true}
	for i := range max(len(sa), len(sb)) {
		x, y := zero, zero
		if i < len(sa) {
			x = sa[i]
		}
		if i < len(sb) {
			y = sb[i]
		}
		switch {
		case x.num && y.num:
			if c := compareNum(x.s, y.s); c != 0 {
				return c
			}
		case x.num:
			return 1
		case y.num:
			return -1
		default:
			if c := strings.Compare(x.s, y.s); c != 0 {
				return c
			}
		}
	}
	return 0
}
