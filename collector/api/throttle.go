package api

import (
	"sync"
	"time"
)

// throttleEvery is how often a repeated warning is logged.
const throttleEvery = 10 * time.Second

// throttle lets one line per key and throttleEvery through, and counts the others.
type throttle struct {
	mu   sync.Mutex
	last map[string]time.Time
	skip map[string]int
}

// allow reports whether a line for key may be logged now, with the number of lines
// suppressed since the last one.
func (t *throttle) allow(key string, now time.Time) (suppressed int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last, t.skip = map[string]time.Time{}, map[string]int{}
	}
	if last, seen := t.last[key]; seen && now.Sub(last) < throttleEvery {
		t.skip[key]++
		return 0, false
	}
	n := t.skip[key]
	t.last[key], t.skip[key] = now, 0
	return n, true
}
