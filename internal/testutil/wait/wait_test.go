package wait

import (
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what the helpers report instead of failing.
type recorder struct {
	testing.TB
	fatal, errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, format)
	_ = args
}
func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	took := For(t, 5*time.Second, "three polls", func() (bool, string) { n++; return n == 3, "not yet" })
	if n != 3 || took <= 0 || took > 2*time.Second {
		t.Fatalf("polled %d times in %s, want 3 polls quickly", n, took)
	}
}

func TestForFailsWithTheLastReason(t *testing.T) {
	r := &recorder{TB: t}
	_, ok, why := poll(30*time.Millisecond, func() (bool, string) { return false, "still 7 pending" })
	if ok || why != "still 7 pending" {
		t.Fatalf("poll = %v, %q", ok, why)
	}
	if _, ok := Eventually(r, 30*time.Millisecond, "nothing pending", func() (bool, string) { return false, "7 pending" }); ok {
		t.Fatal("Eventually held for a false condition")
	}
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "never held") || len(r.fatal) != 0 {
		t.Fatalf("Eventually reported errs %q fatal %q, want one Errorf", r.errs, r.fatal)
	}
	Until(r, 30*time.Millisecond, "a false condition", func() bool { return false })
	if len(r.fatal) != 1 || !strings.Contains(r.fatal[0], "never held") {
		t.Fatalf("Until reported fatal %q, want one Fatalf", r.fatal)
	}
}
