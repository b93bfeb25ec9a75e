package ingest

import (
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/protocol"
)

func TestCleanReason(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "hash: the state hashes to 5c0e, not ee90", 300, "hash: the state hashes to 5c0e, not ee90"},
		{"escape sequence", "state.listeners[3].process: \x1b[31mred", 300, `state.listeners[3].process: \u001b[31mred`},
		{"newline", "boot time: x\nfilesystems: y", 300, `boot time: x\u000afilesystems: y`},
		{"bidi override", "name \u202egnp.exe", 300, `name \u202egnp.exe`},
		{"invalid UTF-8", "bad \xff\xfe bytes", 300, "bad \uFFFD\uFFFD bytes"},
		{"exactly the limit", strings.Repeat("a", 10), 10, strings.Repeat("a", 10)},
		{"cut", strings.Repeat("a", 11), 10, "aaaaaaa…"},
		{"cut before a multibyte character", "aaaaaa€€€", 10, "aaaaaa…"},
		{"no room for the marker", "abcdef", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanReason(tc.in, tc.max); got != tc.want {
				t.Errorf("cleanReason(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func TestRefusalStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		ok     bool
	}{
		{protocol.Errorf(http.StatusBadRequest, "hash"), 400, true},
		{protocol.Errorf(http.StatusForbidden, "another host"), 403, true},
		{protocol.Errorf(http.StatusRequestEntityTooLarge, "too large"), 413, true},
		{protocol.Errorf(http.StatusUnsupportedMediaType, "br"), 415, true},
		{protocol.Errorf(http.StatusUnauthorized, "unknown credential"), 0, false},
		{protocol.Errorf(http.StatusRequestTimeout, "slow body"), 0, false},
		{protocol.Errorf(http.StatusTooManyRequests, "busy"), 0, false},
		{protocol.Errorf(http.StatusServiceUnavailable, "store"), 0, false},
		{http.ErrBodyNotAllowed, 0, false},
		{nil, 0, false},
	} {
		if status, ok := refusalStatus(tc.err); status != tc.status || ok != tc.ok {
			t.Errorf("refusalStatus(%v) = %d, %v; want %d, %v", tc.err, status, ok, tc.status, tc.ok)
		}
	}
}

// FuzzCleanReason: whatever the message, the reason is valid UTF-8 without control or format
// characters, within the bound, and a clean message that fits is kept as it is.
func FuzzCleanReason(f *testing.F) {
	for _, s := range []string{"", "hash: the state hashes to 5c0e…, not ee90…", "\x1b]8;;http://x\x07link\x1b]8;;\x07", "a\nb\rc\x00",
		"\xff\xfe\xfd", "\u202e\u2066\u200b", strings.Repeat("é", 200), "kind: \"snapshot\" is not full, delta or heartbeat"} {
		f.Add(s, 300)
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := cleanReason(s, max)
		if len(got) > max {
			t.Fatalf("cleanReason(%q, %d): %d bytes", s, max, len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("cleanReason(%q, %d) = %q: invalid UTF-8", s, max, got)
		}
		clean := utf8.ValidString(s)
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("cleanReason(%q, %d) = %q: holds %U", s, max, got, r)
			}
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
				clean = false
			}
		}
		if clean && len(s) <= max && got != s {
			t.Fatalf("cleanReason(%q, %d) = %q: a clean message that fits must stay", s, max, got)
		}
	})
}
