package protocol

import "testing"

func TestCompareMacVersions(t *testing.T) {
	for _, f := range []string{"macapp", "pkg"} {
		if _, ok := VersionOrder(f); !ok {
			t.Errorf("%s has no ordering registered", f)
		}
		for _, c := range []struct {
			a, b string
			want int
		}{{"2.4.1", "2.10", -1}, {"14.5", "14.5", 0}, {"10.0.1", "9.9", 1}, {"1.0 (beta)", "1.0", 1}} {
			if got := CompareVersions(f, c.a, c.b); got != c.want || got != CompareSegments(c.a, c.b) {
				t.Errorf("%s: %q vs %q = %d, want %d", f, c.a, c.b, got, c.want)
			}
		}
	}
}
