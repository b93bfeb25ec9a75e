package ingest

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestParseEnrollSecrets(t *testing.T) {
	a, b := strings.Repeat("a", MinSecretLen), "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"one", a + "\n", []string{a}, ""},
		{"no newline", a, []string{a}, ""},
		{"two with comments and blanks", "# rolled out 2026-01\n\n  " + a + "  \r\n# next\n" + b + "\n", []string{a, b}, ""},
		{"empty", "", nil, "no enroll secret"},
		{"comments only", "# " + a + "\n\n", nil, "no enroll secret"},
		{"too short", a + "\nshort\n", nil, "line 2 holds 5 characters"},
		{"two on a line", a + " " + b, nil, "line 1: a secret cannot contain spaces"},
		{"too large", strings.Repeat(a+"\n", MaxSecretsSize/len(a)+1), nil, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnrollSecrets([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzParseEnrollSecrets: every secret returned is long enough, has no spaces, is no
// comment and appears in the input.
func FuzzParseEnrollSecrets(f *testing.F) {
	f.Add([]byte("# c\n0123456789abcdef\n\n fedcba9876543210 \n"))
	f.Add([]byte("short\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseEnrollSecrets(in)
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatal("no secret and no error")
		}
		for _, s := range got {
			if len(s) < MinSecretLen || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || strings.HasPrefix(s, "#") || !strings.Contains(string(in), s) {
				t.Fatalf("bad secret %q from %q", s, in)
			}
		}
	})
}
