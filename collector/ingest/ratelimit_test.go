package ingest

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	// fail is a failed enrollment: let through, then spent.
	fail := func(l *limiter, addr string) (bool, time.Duration, bool) {
		ok, wait, first := l.allow(addr)
		if ok {
			l.spend(addr)
		}
		return ok, wait, first
	}
	t.Run("per address", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 3, Total: -1}, clock)
		for i := range 3 {
			if ok, _, _ := fail(l, "10.0.0.1"); !ok {
				t.Fatalf("failure %d refused within the burst", i+1)
			}
		}
		ok, wait, first := fail(l, "10.0.0.1")
		if ok || !first || wait != time.Second {
			t.Fatalf("fourth request: ok %v, wait %s, first %v; want refused for 1s, first of its episode", ok, wait, first)
		}
		if ok, _, first := fail(l, "10.0.0.1"); ok || first {
			t.Fatalf("fifth request: ok %v, first %v; want refused, same episode", ok, first)
		}
		if ok, _, _ := fail(l, "10.0.0.2"); !ok {
			t.Fatal("another address limited")
		}
		now = now.Add(1500 * time.Millisecond)
		if ok, _, _ := fail(l, "10.0.0.1"); !ok {
			t.Fatal("refused after a token came back")
		}
		if ok, wait, first := fail(l, "10.0.0.1"); ok || !first || wait != 500*time.Millisecond {
			t.Fatalf("after the refill: ok %v, wait %s, first %v", ok, wait, first)
		}
	})
	t.Run("successes spend nothing", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 2, Total: 1, TotalBurst: 2}, clock)
		for i := range 100 {
			if ok, _, _ := l.allow("10.0.0.1"); !ok {
				t.Fatalf("request %d of a fleet refused", i)
			}
		}
	})
	t.Run("concurrent failures are waited off", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 2, Total: -1}, clock)
		// Let through together, then all failed: the bucket goes down to minus its burst.
		for range 2 {
			l.allow("10.0.0.9")
		}
		for range 10 {
			l.spend("10.0.0.9")
		}
		if ok, wait, _ := l.allow("10.0.0.9"); ok || wait != 3*time.Second {
			t.Fatalf("after a burst of failures: ok %v, wait %s; want 3s (from -2 to 1)", ok, wait)
		}
	})
	t.Run("total", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: -1, Total: 2, TotalBurst: 4}, clock)
		for i := range 4 {
			if ok, _, _ := fail(l, fmt.Sprintf("10.0.1.%d", i)); !ok {
				t.Fatalf("request %d refused within the total burst", i)
			}
		}
		ok, wait, _ := fail(l, "10.0.2.1")
		if ok || wait != 500*time.Millisecond {
			t.Fatalf("over the total: ok %v, wait %s; want refused for 500ms", ok, wait)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 2, Total: -1}, clock)
		for i := range 3 * maxLimitedAddrs {
			fail(l, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
			if len(l.addrs) > maxLimitedAddrs {
				t.Fatalf("%d addresses remembered, over %d", len(l.addrs), maxLimitedAddrs)
			}
		}
	})
}

func TestLimitKey(t *testing.T) {
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.7:5123", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"@", "@"},
		{"", ""},
	} {
		if got := limitKey(c.remote); got != c.want {
			t.Errorf("limitKey(%q) = %q, want %q", c.remote, got, c.want)
		}
	}
}

// FuzzLimitKey checks that any remote address gives a key no longer than the address (or an
// IPv6 /64 of it) and the same key every time, so that the limiter's map cannot be grown by
// odd addresses beyond one entry per address.
func FuzzLimitKey(f *testing.F) {
	for _, s := range []string{"192.0.2.7:5123", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:1", "[fe80::1%eth0]:22", "@", "", "1.2.3.4", "[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		k := limitKey(remote)
		if k != limitKey(remote) {
			t.Fatalf("limitKey(%q) not stable", remote)
		}
		if len(k) > len(remote)+len("/64") {
			t.Fatalf("limitKey(%q) = %q, longer than the address", remote, k)
		}
	})
}

func FuzzParseReenrollPolicy(f *testing.F) {
	for _, s := range []string{"", "approve", "refuse", "allow", "Allow", "approve "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseReenrollPolicy(s)
		if err == nil && p != PolicyApprove && p != PolicyRefuse && p != PolicyAllow {
			t.Fatalf("ParseReenrollPolicy(%q) = %q without an error", s, p)
		}
		if err == nil && s != "" && string(p) != s {
			t.Fatalf("ParseReenrollPolicy(%q) = %q", s, p)
		}
	})
}
