package ingest

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// RateLimit bounds the enrollments that fail (a wrong enroll secret, a takeover held or
// refused) with token buckets: one per remote address and one for all addresses together.
// A request is let through while both hold a token, before anything is checked, and only a
// failure spends one, so a fleet enrolling at once is never limited, while guessing the
// secret or flooding the pending list is. Rates are per second; each bucket holds Burst tokens
// (ten seconds' worth when 0). A negative rate disables that bucket; 0 means the default.
type RateLimit struct {
	PerAddress      float64
	PerAddressBurst float64
	Total           float64
	TotalBurst      float64
}

// Default enrollment rate limits.
const (
	DefaultEnrollRatePerAddress = 1
	DefaultEnrollRateTotal      = 50
)

// maxLimitedAddrs bounds the addresses the limiter remembers; beyond, full buckets are
// forgotten first (a full bucket is the same as none).
const maxLimitedAddrs = 10000

type bucket struct {
	tokens float64
	at     time.Time
	// throttled is set once a request was refused, until one is let through again, so
	// that each episode is logged once.
	throttled bool
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.at.IsZero() {
		b.tokens, b.at = burst, now
		return
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = math.Min(burst, b.tokens+d*rate)
	}
	b.at = now
}

// wait is how long until the bucket holds a whole token.
func (b *bucket) wait(rate float64) time.Duration {
	return time.Duration(math.Ceil((1 - b.tokens) / rate * float64(time.Second)))
}

type limiter struct {
	mu              sync.Mutex
	rate, burst     float64
	trate, tburst   float64
	total           bucket
	addrs           map[string]*bucket
	now             func() time.Time
	addrOn, totalOn bool
}

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	if l.PerAddress == 0 {
		l.PerAddress = DefaultEnrollRatePerAddress
	}
	if l.Total == 0 {
		l.Total = DefaultEnrollRateTotal
	}
	if l.PerAddressBurst <= 0 {
		l.PerAddressBurst = math.Max(1, 10*l.PerAddress)
	}
	if l.TotalBurst <= 0 {
		l.TotalBurst = math.Max(1, 10*l.Total)
	}
	return &limiter{rate: l.PerAddress, burst: l.PerAddressBurst, trate: l.Total, tburst: l.TotalBurst,
		addrs: map[string]*bucket{}, now: now, addrOn: l.PerAddress > 0, totalOn: l.Total > 0}
}

// allow says whether addr may try to enroll: both its bucket and the overall one hold a
// whole token. It takes none: only a failure spends one (spend), so that concurrent good
// enrollments, a fleet behind one NAT say, never wait for each other. When refused it also
// returns how long until a token is there, and whether this starts a new episode of
// refusals for the address.
func (l *limiter) allow(addr string) (ok bool, wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var b *bucket
	if l.addrOn {
		if b = l.addrs[addr]; b == nil {
			if len(l.addrs) >= maxLimitedAddrs {
				l.forget(now)
			}
			b = &bucket{}
			l.addrs[addr] = b
		}
		b.refill(now, l.rate, l.burst)
		if b.tokens < 1 {
			first, b.throttled = !b.throttled, true
			return false, b.wait(l.rate), first
		}
	}
	if l.totalOn {
		l.total.refill(now, l.trate, l.tburst)
		if l.total.tokens < 1 {
			first, l.total.throttled = !l.total.throttled, true
			return false, l.total.wait(l.trate), first
		}
		l.total.throttled = false
	}
	if b != nil {
		b.throttled = false
	}
	return true, 0, false
}

// spend takes a token for a failed enrollment from addr. Failures let through together
// may take a bucket below zero, down to minus its burst: the excess is waited off.
func (l *limiter) spend(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if b := l.addrs[addr]; b != nil && l.addrOn {
		b.refill(now, l.rate, l.burst)
		b.tokens = math.Max(-l.burst, b.tokens-1)
	}
	if l.totalOn {
		l.total.refill(now, l.trate, l.tburst)
		l.total.tokens = math.Max(-l.tburst, l.total.tokens-1)
	}
}

// forget drops the buckets that are full again, and if that is not enough, half of them.
func (l *limiter) forget(now time.Time) {
	for a, b := range l.addrs {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst {
			delete(l.addrs, a)
		}
	}
	for a := range l.addrs {
		if len(l.addrs) < maxLimitedAddrs/2 {
			break
		}
		delete(l.addrs, a)
	}
}

// limitKey is the address a request is limited as: its IP, and for IPv6 its /64, which one
// client usually holds whole.
func limitKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
