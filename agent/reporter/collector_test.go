//go:build linux

package reporter

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/wait"
)

const (
	collectorSecret = "reporter-enroll-secret-0123456789"
	collectorAdmin  = "reporter-admin-token-0123456789"
)

// startCollector starts onus-collector with its embedded etcd on dataDir, serving plain
// HTTP on 127.0.0.1 with the test's secrets.
func startCollector(t *testing.T, dataDir string) *apptest.Collector {
	t.Helper()
	return apptest.Start(t, app.Options{DataDir: dataDir, EnrollSecret: collectorSecret, AdminToken: collectorAdmin,
		StatusFlushInterval: 100 * time.Millisecond})
}

// collectorEvents returns the events the collector holds for the host, or nil when it does
// not answer.
func collectorEvents(t *testing.T, base, hostID string) []protocol.Event {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/hosts/"+hostID, nil)
	req.Header.Set("Authorization", "Bearer "+collectorAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	var d struct {
		Events []protocol.Event `json:"events"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("host answer: %v", err)
	}
	return d.Events
}

// holdingProxy forwards to a collector, as a load balancer in front of one would: it holds
// report requests while hold is on (a slow collector, as the agent sees it), and answers 502
// while it has no collector to forward to (one that was stopped).
type holdingProxy struct {
	srv    *httptest.Server
	target atomic.Pointer[httputil.ReverseProxy]

	mu      sync.Mutex
	hold    chan struct{} // closed to let the held requests through; nil when not holding
	waiting int           // requests being held
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	p := &holdingProxy{}
	p.forwardTo(t, target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold := p.hold
		if hold != nil && r.URL.Path == protocol.PathReport {
			p.waiting++
		}
		p.mu.Unlock()
		if hold != nil && r.URL.Path == protocol.PathReport {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		rp := p.target.Load()
		if rp == nil {
			http.Error(w, "no collector", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	t.Cleanup(p.release) // before Close, which waits for the held requests
	return p
}

// forwardTo makes the proxy forward to target, or answer 502 when target is "".
func (p *holdingProxy) forwardTo(t *testing.T, target string) {
	if target == "" {
		p.target.Store(nil)
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.target.Store(rp)
}

func (p *holdingProxy) startHolding() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.waiting = make(chan struct{}), 0
}

func (p *holdingProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
}

func (p *holdingProxy) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// TestObservationDuringSlowReport holds a report on its way to a real collector while a
// package is installed and then removed: the agent observes both changes meanwhile, and
// once the collector answers, both events reach it with their times.
func TestObservationDuringSlowReport(t *testing.T) {
	col := startCollector(t, t.TempDir())
	proxy := newHoldingProxy(t, col.URL())
	root := copyRoot(t, "debian12")
	a := startAgent(t, root, t.TempDir(), proxy.srv.URL, func(o *Options) {
		o.EnrollSecret, o.HTTPTimeout = collectorSecret, 30*time.Second
	})
	waitFull(t, a)

	proxy.startHolding()
	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	t2 := t1.Add(20 * time.Minute)
	installDeb(t, root, "htop", "3.2.2-2", t1)
	wait.Until(t, 5*time.Second, "the delta held on its way", func() bool { return proxy.held() > 0 })

	// The report is in flight; the agent must keep observing.
	installDeb(t, root, "jq", "1.6-2.1", t2)
	wait.Until(t, 5*time.Second, "the install observed while a report is in flight", func() bool { return eventsSeen(a) >= 2 })
	beforeRemove := time.Now().UTC().Truncate(time.Second)
	removeDeb(t, root, "jq")
	wait.Until(t, 5*time.Second, "the removal observed while a report is in flight", func() bool { return eventsSeen(a) >= 3 })
	afterRemove := time.Now().UTC()
	if n := proxy.held(); n != 1 {
		t.Errorf("%d reports sent while one was in flight, want the one", n)
	}

	proxy.release()
	var evs []protocol.Event
	wait.Until(t, 10*time.Second, "the three events in the collector", func() bool {
		evs = collectorEvents(t, col.URL(), debianHostID)
		return len(evs) >= 3
	})
	got := map[string]protocol.Event{}
	for _, e := range evs {
		got[e.Type+" "+e.Name+" "+e.Version] = e
	}
	if len(evs) != 3 {
		t.Errorf("events %+v, want three", evs)
	}
	for key, at := range map[string]time.Time{"installed htop 3.2.2-2": t1, "installed jq 1.6-2.1": t2} {
		if e, ok := got[key]; !ok || !e.Time.Equal(at) {
			t.Errorf("event %q: %+v (present %v), want it at %v", key, e, ok, at)
		}
	}
	if e, ok := got["removed jq 1.6-2.1"]; !ok || e.Time.Before(beforeRemove) || e.Time.After(afterRemove) {
		t.Errorf("removal of jq %+v (present %v), want it between %v and %v", e, ok, beforeRemove, afterRemove)
	}
}

// TestReturnAfterOutage stops the collector long enough for the agent's retry delays to
// reach their cap, then brings it back: the agent's next report is accepted within the cap
// (the heartbeat interval, as the backoff maximum is left unset) and one request's timeout
// of the return.
func TestReturnAfterOutage(t *testing.T) {
	data := t.TempDir()
	col := startCollector(t, data)
	proxy := newHoldingProxy(t, col.URL())
	a := startAgent(t, copyRoot(t, "debian12"), t.TempDir(), proxy.srv.URL, func(o *Options) {
		o.EnrollSecret, o.HeartbeatInterval, o.BackoffMin, o.BackoffMax = collectorSecret, time.Second, 50*time.Millisecond, 0
	})
	if a.r.opts.BackoffMax != time.Second {
		t.Fatalf("backoff maximum %v, want the heartbeat interval", a.r.opts.BackoffMax)
	}
	waitFull(t, a)

	proxy.forwardTo(t, "")
	col.Stop()
	failed := func() float64 {
		return testutil.ToFloat64(a.r.m.reports.WithLabelValues("heartbeat", "unavailable")) +
			testutil.ToFloat64(a.r.m.reports.WithLabelValues("delta", "unavailable"))
	}
	// 50 ms doubling reaches the 1 s cap at the sixth attempt.
	wait.Until(t, 30*time.Second, "the retry delays at their cap", func() bool { return failed() >= 8 })

	col = startCollector(t, data)
	before := agentAccepted(a)
	proxy.forwardTo(t, col.URL())
	back := time.Now()
	bound := a.r.opts.BackoffMax + a.r.opts.HTTPTimeout
	wait.Until(t, bound, "a report accepted after the return", func() bool { return agentAccepted(a) > before })
	t.Logf("report accepted %v after the collector's return (bound %v)", time.Since(back).Round(time.Millisecond), bound)
}
