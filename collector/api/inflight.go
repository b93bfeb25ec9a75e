package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/protocol"
)

// How a report travels through the API, and what bounds each step:
//
//  1. Its credential is checked, and its host may have one report in flight: a second one
//     is answered 429 at once, so that one credential can hold one body, not the fleet's.
//  2. Its compressed body is read into memory under a deadline that moves with the bytes
//     that arrive (a grace, then a minimum rate): a client that sends slowly is answered
//     408 instead of holding anything for minutes. No decode slot is held meanwhile.
//  3. It takes one of the decode slots (MaxConcurrentReports), then is decompressed and
//     decoded with the counts of its lists enforced as it is read.
//
// Steps 2 and 3 charge the memory they hold (the compressed body, three times the
// decompressed one: its bytes, its strings and its lists) to one budget for all reports
// (MaxReportMemory); a report that would exceed it is answered 429, with Retry-After,
// instead of making the collector run out of memory.

// Defaults of the request path.
const (
	DefaultMaxReportMemory = 512 << 20
	DefaultBodyReadGrace   = 10 * time.Second
	DefaultBodyMinRate     = 4 << 10 // bytes per second
	// decodeWeight is the memory decoding costs per byte of decompressed body: the bytes,
	// the strings copied out of them and the lists they fill.
	decodeWeight = 3
)

// errOverBudget is a charge the memory budget cannot take.
var errOverBudget = errors.New("report memory budget exceeded")

// budget is the memory all reports in flight may hold at once.
type budget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	gauge prometheus.Gauge
}

// take charges n bytes, or fails without charging anything.
func (b *budget) take(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return errOverBudget
	}
	b.used += n
	b.gauge.Set(float64(b.used))
	return nil
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.gauge.Set(float64(b.used))
}

// account is what one request has charged to the budget.
type account struct {
	b *budget
	n int64
}

func (a *account) charge(n int64) error {
	if err := a.b.take(n); err != nil {
		return err
	}
	a.n += n
	return nil
}

func (a *account) release() { a.b.give(a.n); a.n = 0 }

// hostSet holds the hosts with a report in flight.
type hostSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// add says whether id had no report in flight, and marks it.
func (s *hostSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.m[id]; busy {
		return false
	}
	s.m[id] = struct{}{}
	return true
}

func (s *hostSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// apiMetrics are the request path's own metrics.
type apiMetrics struct {
	inFlight prometheus.Gauge
	limit    prometheus.Gauge
	shed     *prometheus.CounterVec
}

// Reasons a report is shed before it is decoded, the values of the reason label.
var shedReasons = []string{"busy", "memory", "host", "slow"}

func newAPIMetrics(reg prometheus.Registerer, limit int64) (*apiMetrics, error) {
	m := &apiMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: "report_memory_bytes",
			Help: "Memory the reports in flight hold: their compressed bodies and three times their decompressed ones."}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: "report_memory_limit_bytes",
			Help: "Most memory the reports in flight may hold (--max-report-memory); more is answered 429."}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "onus", Subsystem: "collector", Name: "reports_shed_total",
			Help: "Reports answered before they were decoded, by reason: busy (no decode slot), memory (over the budget), host (a report of the host already in flight), slow (body too slow, 408)."},
			[]string{"reason"}),
	}
	m.limit.Set(float64(limit))
	for _, r := range shedReasons {
		m.shed.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.inFlight, m.limit, m.shed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// maxBodyTime bounds the time to read a report's body, however fast it arrives.
const maxBodyTime = 2 * time.Minute

// readBody reads a request body of at most limit bytes into memory, charging acct as its
// buffer grows, under a read deadline that moves as bytes arrive: the body may take grace
// plus one second per minRate bytes read, at most grace between two bytes, and at most
// maxBodyTime in all. A body that arrives slower is cut off with 408.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, grace time.Duration, minRate int64, acct *account) ([]byte, error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	deadline := func(n int64) time.Time {
		d := start.Add(grace + time.Duration(float64(n)/float64(minRate)*float64(time.Second)))
		if idle := time.Now().Add(grace); idle.Before(d) {
			d = idle
		}
		if hard := start.Add(maxBodyTime); hard.Before(d) {
			d = hard
		}
		return d
	}
	// A connection whose deadline cannot be set is read under the server's ReadTimeout.
	settable := rc.SetReadDeadline(deadline(0)) == nil
	body := http.MaxBytesReader(w, r.Body, limit)
	// The buffer grows with what arrives, not with what Content-Length announces: a
	// slow client holds only the bytes it sent.
	var buf []byte
	var n int64
	for {
		if len(buf) == cap(buf) {
			grown := min(max(2*int64(cap(buf)), 1<<10), limit+1)
			if err := acct.charge(grown - int64(cap(buf))); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		k, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		n += int64(k)
		if k > 0 && settable {
			_ = rc.SetReadDeadline(deadline(n))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return nil, protocol.Errorf(http.StatusRequestEntityTooLarge, "body over the limit of %d bytes", mbe.Limit)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return nil, errSlow{fmt.Sprintf("report body too slow: %d bytes in %s; send at least %d bytes/s after the first %s, never pause longer than %s, and finish within %s",
					n, time.Since(start).Round(time.Millisecond), minRate, grace, grace, maxBodyTime)}
			}
			return nil, protocol.Errorf(http.StatusBadRequest, "reading body: %v", err)
		}
	}
	if settable {
		// The body is in: the decoding and the store may take their time.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return buf, nil
}

// errSlow is a body cut off for arriving too slowly.
type errSlow struct{ msg string }

func (e errSlow) Error() string { return e.msg }

// shed answers a report that is not decoded, and counts it.
func (a *API) shed(w http.ResponseWriter, r *http.Request, reason string, status int, msg string, args ...any) {
	a.metrics.shed.WithLabelValues(reason).Inc()
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(2+int(a.now().UnixNano()%8)))
	}
	if status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close")
	}
	err := protocol.Errorf(status, msg, args...)
	if reason == "slow" || reason == "host" {
		// Busy and over-budget answers come in bursts and are counted: not logged one by one.
		a.logRefusal(r, err)
	}
	writeError(w, err)
}
