package source

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/protocol"
)

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"ascii", "abcdef", 3, "abc"},
		{"cut at boundary keeps the whole rune", "aé€x", 6, "aé€"},
		{"cut inside a rune drops it", "aé€x", 5, "aé"},
		{"cut inside a 4-byte rune", "a😀", 3, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Clip([]byte(tt.in), tt.max)); got != tt.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func FuzzClip(f *testing.F) {
	f.Add([]byte("aé€😀x"), 4)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := Clip(b, max)
		if len(got) > max || len(got) < max-utf8.UTFMax && len(got) < len(b) {
			t.Fatalf("Clip to %d gave %d of %d bytes", max, len(got), len(b))
		}
		if utf8.Valid(b) && !utf8.Valid(got) {
			t.Fatalf("valid input, invalid output %q", got)
		}
	})
}

func TestInterner(t *testing.T) {
	in := make(Interner)
	a, b := in.String([]byte("amd64"), 10), in.String([]byte("amd64"), 10)
	if a != "amd64" || b != a || len(in) != 1 || in.String(nil, 10) != "" {
		t.Errorf("interner: %q %q %d", a, b, len(in))
	}
}

func TestText(t *testing.T) {
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"clean", "GNU C Library", 256, "GNU C Library"},
		{"escape sequence", "\x1b[31mred", 256, `\x1b[31mred`},
		{"DEL", "Jo\x7f", 256, `Jo\x7f`},
		{"Latin-1", "Ren\xe9", 256, "Ren\uFFFD"},
		{"long", long, 4096, long[:4093] + protocol.CutMarker},
		{"long, cut in a character", strings.Repeat("é", 200), 256, strings.Repeat("é", 126) + protocol.CutMarker},
		{"exactly the limit", long[:256], 256, long[:256]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text([]byte(tt.in), tt.max); got != tt.want {
				t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if got, want := Text([]byte(tt.in), tt.max), protocol.CleanText(tt.in, tt.max); got != want {
				t.Errorf("Text = %q, CleanText = %q", got, want)
			}
		})
	}
	in := make(Interner)
	if got := in.String([]byte("Jo\x1b"), 256); got != `Jo\x1b` || in.String([]byte("Jo\x1b"), 256) != got || len(in) != 1 {
		t.Errorf("interned %q, %d entries", got, len(in))
	}
}

func FuzzText(f *testing.F) {
	f.Add([]byte("a\x1b\xff日"), 5)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		if got, want := Text(b, max), protocol.CleanText(string(b), max); got != want {
			t.Fatalf("Text(%q, %d) = %q, CleanText = %q", b, max, got, want)
		}
	})
}
