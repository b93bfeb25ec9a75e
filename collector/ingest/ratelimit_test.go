package ingest

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("per address", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 3, Total: -1}, clock)
		for i := range 3 {
			if ok, _, _ := l.take("10.0.0.1"); !ok {
				t.Fatalf("request %d refused within the burst", i+1)
			}
		}
		ok, wait, first := l.take("10.0.0.1")
		if ok || !first || wait != time.Second {
			t.Fatalf("fourth request: ok %v, wait %s, first %v; want refused for 1s, first of its episode", ok, wait, first)
		}
		if ok, _, first := l.take("10.0.0.1"); ok || first {
			t.Fatalf("fifth request: ok %v, first %v; want refused, same episode", ok, first)
		}
		if ok, _, _ := l.take("10.0.0.2"); !ok {
			t.Fatal("another address limited")
		}
		now = now.Add(1500 * time.Millisecond)
		if ok, _, _ := l.take("10.0.0.1"); !ok {
			t.Fatal("refused after a token came back")
		}
		if ok, wait, first := l.take("10.0.0.1"); ok || !first || wait != 500*time.Millisecond {
			t.Fatalf("after the refill: ok %v, wait %s, first %v", ok, wait, first)
		}
	})
	t.Run("refund", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 2, Total: 1, TotalBurst: 2}, clock)
		// Requests that enroll give their token back: any number pass.
		for i := range 100 {
			if ok, _, _ := l.take("10.0.0.1"); !ok {
				t.Fatalf("refunded request %d refused", i)
			}
			l.refund("10.0.0.1")
		}
	})
	t.Run("total", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: -1, Total: 2, TotalBurst: 4}, clock)
		for i := range 4 {
			if ok, _, _ := l.take(fmt.Sprintf("10.0.1.%d", i)); !ok {
				t.Fatalf("request %d refused within the total burst", i)
			}
		}
		ok, wait, _ := l.take("10.0.2.1")
		if ok || wait != 500*time.Millisecond {
			t.Fatalf("over the total: ok %v, wait %s; want refused for 500ms", ok, wait)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		l := newLimiter(RateLimit{PerAddress: 1, PerAddressBurst: 2, Total: -1}, clock)
		for i := range 3 * maxLimitedAddrs {
			l.take(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
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
