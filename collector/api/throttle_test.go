package api

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var th throttle
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name       string
		key        string
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{"first line", "unavailable", 0, true, 0},
		{"repeat within the interval", "unavailable", time.Second, false, 0},
		{"another repeat", "unavailable", 9 * time.Second, false, 0},
		{"another reason has its own interval", "nospace", 9 * time.Second, true, 0},
		{"after the interval, with the count", "unavailable", 10 * time.Second, true, 2},
		{"count starts again", "unavailable", 21 * time.Second, true, 0},
	}
	for _, s := range steps {
		n, ok := th.allow(s.key, t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Errorf("%s: allow = %d, %v; want %d, %v", s.name, n, ok, s.suppressed, s.ok)
		}
	}
}
