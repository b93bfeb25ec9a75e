package source

import (
	"testing"
	"unicode/utf8"
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
