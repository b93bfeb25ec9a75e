// Package wait is how the module's tests wait for something to happen: they poll a
// condition until it holds, with a deadline, and say what never held and why. Polling
// starts every 10 ms and slows to every 100 ms, so a quick condition costs little latency
// and a slow one little CPU.
package wait

import (
	"testing"
	"time"
)

// For polls cond until it holds and returns how long that took. After timeout it fails the
// test with what and the reason cond gave last.
func For(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	took, ok, why := poll(timeout, cond)
	if !ok {
		t.Fatalf("after %s, %s never held: %s", timeout, what, why)
	}
	return took
}

// Until is For with a condition that gives no reason.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return For(t, timeout, what, func() (bool, string) { return cond(), "the condition was false" })
}

// Eventually is For that lets the test go on after a failure (it is reported with Errorf),
// to see what follows; it returns whether cond held.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) (time.Duration, bool) {
	t.Helper()
	took, ok, why := poll(timeout, cond)
	if !ok {
		t.Errorf("after %s, %s never held: %s", timeout, what, why)
	}
	return took, ok
}

func poll(timeout time.Duration, cond func() (bool, string)) (took time.Duration, ok bool, why string) {
	start := time.Now()
	pause := 10 * time.Millisecond
	for {
		if ok, why = cond(); ok {
			return time.Since(start), true, why
		}
		if time.Since(start) > timeout {
			return time.Since(start), false, why
		}
		time.Sleep(pause)
		pause = min(pause*2, 100*time.Millisecond)
	}
}
