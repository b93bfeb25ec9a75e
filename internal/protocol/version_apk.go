package protocol

import (
	"cmp"
	"strings"
)

// The ordering of apk (Alpine) versions, as apk-tools compares them.

// apk version tokens, in the order apk-tools (version.c) requires them to appear:
// digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}.
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
	apkInvalid
)

// apkSuffixes ranks the suffixes apk knows; no suffix at all ranks apkNoSuffix, after the
// pre-release ones and before the post-release ones.
var apkSuffixes = map[string]int{"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}

const apkNoSuffix = 5

type apkToken struct {
	kind   int
	suffix int
	value  string
}

// compareAPK implements apk-tools' version ordering (apk_version_compare): versions are
// read token by token and compared until the tokens differ in kind or value; then
// "_alpha", "_beta", "_pre" and "_rc" make a version older, and otherwise the one with more
// version left (the token of the lower kind) is newer. From the first token apk does not
// accept on, the rest of a version is ignored.
func compareAPK(a, b string) int {
	ta, tb := apkToken{kind: apkInitialDigit}, apkToken{kind: apkInitialDigit}
	a, b = ta.number(a), tb.number(b)
	for ta.kind == tb.kind && ta.kind < apkEnd {
		if c := ta.compare(&tb); c != 0 {
			return c
		}
		a, b = ta.next(a), tb.next(b)
	}
	switch {
	case ta.kind == tb.kind:
		return 0
	case ta.kind == apkSuffix && ta.suffix < apkNoSuffix:
		return -1
	case tb.kind == apkSuffix && tb.suffix < apkNoSuffix:
		return 1
	}
	return cmp.Compare(tb.kind, ta.kind)
}

// number reads the digits at the start of s as the token's value.
func (t *apkToken) number(s string) string {
	t.value = digits(s)
	if t.value == "" {
		t.kind = apkInvalid
	}
	return s[len(t.value):]
}

// next reads the token at the start of s, which must be allowed after the current one.
func (t *apkToken) next(s string) string {
	if s == "" {
		t.kind = apkEnd
		return s
	}
	switch c := s[0]; {
	case c >= 'a' && c <= 'z' && t.kind <= apkDigit:
		t.kind, t.value = apkLetter, s[:1]
		return s[1:]
	case c == '.' && t.kind <= apkDigit:
		t.kind = apkDigit
		return t.number(s[1:])
	case isDigit(c) && t.kind == apkSuffix:
		t.kind = apkSuffixNo
		return t.number(s)
	case c == '_' && t.kind <= apkSuffixNo:
		n := 1
		for n < len(s) && s[n] >= 'a' && s[n] <= 'z' {
			n++
		}
		t.kind, t.value, t.suffix = apkSuffix, s[1:n], apkSuffixes[s[1:n]]
		if t.suffix == 0 {
			t.kind = apkInvalid
		}
		return s[n:]
	case c == '~' && t.kind < apkCommitHash:
		n := 1
		for n < len(s) && (isDigit(s[n]) || s[n] >= 'a' && s[n] <= 'f') {
			n++
		}
		t.kind, t.value = apkCommitHash, s[1:n]
		if n == 1 {
			t.kind = apkInvalid
		}
		return s[n:]
	case strings.HasPrefix(s, "-r") && t.kind < apkRevisionNo:
		t.kind = apkRevisionNo
		return t.number(s[2:])
	}
	t.kind = apkInvalid
	return s
}

// compare compares two tokens of the same kind.
func (t *apkToken) compare(u *apkToken) int {
	switch t.kind {
	case apkDigit:
		if t.value[0] == '0' || u.value[0] == '0' {
			// A part with a leading zero is a fraction: compared as a string.
			return strings.Compare(t.value, u.value)
		}
		return compareNum(t.value, u.value)
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		return compareNum(t.value, u.value)
	case apkSuffix:
		return cmp.Compare(t.suffix, u.suffix)
	}
	return strings.Compare(t.value, u.value)
}
