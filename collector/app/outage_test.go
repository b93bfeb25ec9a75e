package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// syncBuffer is a log destination that goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// answer is one HTTP answer: its status, Retry-After header and error message.
type answer struct {
	code       int
	retryAfter string
	msg        string
	took       time.Duration
	body       []byte
}

func post(t *testing.T, hc *http.Client, url, token string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", url, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e protocol.ErrorResponse
	_ = json.Unmarshal(b, &e)
	return answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), msg: e.Error, took: time.Since(start), body: b}
}

func readyz(hc *http.Client, url string) (int, string) {
	resp, err := hc.Get(url + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestQuorumLostAndBack runs a collector on a 3-member etcd cluster and stops 2 members:
// enrollments and reports are answered 503 with Retry-After within the store's deadline
// instead of hanging, goroutines do not pile up, /readyz fails (and the metric says so);
// with the members back the collector is ready again and takes writes.
func TestQuorumLostAndBack(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3)
	var logs syncBuffer
	c := start(t, Options{EtcdEndpoints: cl.Endpoints(), StoreTimeout: time.Second, StoreProbeInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	inv := fixture.Golden(t, "debian12")
	cred := enroll(t, c.url, inv.Host.ID)
	full, _ := fullReport(inv, 1)
	report(t, c.url, cred, full)
	if code, body := readyz(hc, c.url); code != 200 {
		t.Fatalf("readyz of a healthy collector: %d %s", code, body)
	}

	cl.StopMember(1)
	cl.StopMember(2)
	hc.CloseIdleConnections()
	before := runtime.NumGoroutine()
	// The first requests meet the store before readiness noticed: each must end at the
	// store's deadline (1 s) with a 503 that says why, not hang.
	const n = 200
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				body := marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: fmt.Sprintf("host-%03d", i)})
				answers[i] = post(t, hc, c.url+protocol.PathEnroll, "", body)
				return
			}
			r := *full
			r.Seq = uint64(1 + i)
			r.Events = []protocol.Event{{Type: protocol.EventInstalled, Source: "deb", Name: "x" + strconv.Itoa(i), Version: "1", Time: time.Now().UTC(), DetectedAt: time.Now().UTC()}}
			answers[i] = post(t, hc, c.url+protocol.PathReport, cred, marshal(t, &r))
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.code == http.StatusTooManyRequests && i%2 == 1 && a.retryAfter != "" {
			// Reports beyond the decode slots are shed while the others wait for the store.
			continue
		}
		if a.code != http.StatusServiceUnavailable || a.retryAfter == "" || !strings.Contains(a.msg, "store") {
			t.Errorf("request %d without quorum: %d, Retry-After %q, %q", i, a.code, a.retryAfter, a.msg)
		}
		// A request makes a few store calls, each bounded by the 1 s deadline, and 200 of them
		// share two cores (with the race detector): the bound tells "answered" from "hung"
		// (writes without a deadline never returned), with room for a loaded machine.
		if a.took > 20*time.Second {
			t.Errorf("request %d without quorum took %s (store deadline 1s)", i, a.took)
		}
	}
	t.Logf("without quorum: first answer %q, Retry-After %s", answers[0].msg, answers[0].retryAfter)
	// One line for the first failed request, not two per request: the rest are counted.
	if lines := strings.Count(logs.String(), "request failed"); lines < 1 || lines > 2 {
		t.Errorf("%d warnings for %d failed requests:\n%s", lines, n, logs.String())
	}
	hc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+20 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines piled up: %d before the requests, %d after they were answered", before, runtime.NumGoroutine())
		}
		time.Sleep(50 * time.Millisecond)
	}
	slowest := time.Duration(0)
	for _, a := range answers {
		slowest = max(slowest, a.took)
	}
	t.Logf("%d requests without quorum answered, the slowest in %s; goroutines %d before, %d after", n, slowest, before, runtime.NumGoroutine())

	lost := time.Now()
	wait.Until(t, 10*time.Second, "readyz to fail", func() bool { code, _ := readyz(hc, c.url); return code == http.StatusServiceUnavailable })
	_, body := readyz(hc, c.url)
	if !strings.Contains(body, "store cannot take writes") {
		t.Errorf("readyz without quorum: %s", body)
	}
	if v := gauge(t, c.opts.Registerer.(*prometheus.Registry), "onus_collector_store_writable"); v != 0 {
		t.Errorf("onus_collector_store_writable without quorum: %v", v)
	}
	// Not ready: an agent is answered at once, not after the deadline.
	a := post(t, hc, c.url+protocol.PathEnroll, "", marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: "late-host"}))
	if a.code != http.StatusServiceUnavailable || a.retryAfter == "" || a.took > 500*time.Millisecond {
		t.Errorf("enroll while not ready: %d, Retry-After %q, took %s", a.code, a.retryAfter, a.took)
	}

	// An admin write meets the store (the admin API serves reads from the index meanwhile).
	rule := owners.Rule{ID: "during-outage", Kind: owners.KindSoftware, Match: owners.Selector{Name: "x*"}, Owner: "nobody"}
	if code, _, body := send(t, "PUT", c.url+"/api/v1/rules/during-outage", admin, "", rule); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "store") {
		t.Errorf("registry write without quorum: %d %s", code, body)
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts", admin, nil, false, nil); code != 200 {
		t.Errorf("host list without quorum: %d", code)
	}

	t.Logf("readyz failed %s after the requests were answered", time.Since(lost).Round(time.Millisecond))
	cl.StartMembers(1, 2)
	back := time.Now()
	wait.Until(t, 30*time.Second, "readiness after quorum returned", func() bool {
		code, _ := readyz(hc, c.url)
		return code == 200
	})
	t.Logf("ready %s after the members were back", time.Since(back).Round(time.Millisecond))
	if v := gauge(t, c.opts.Registerer.(*prometheus.Registry), "onus_collector_store_writable"); v != 1 {
		t.Errorf("onus_collector_store_writable with quorum back: %v", v)
	}
	enroll(t, c.url, "host-after")
	r := *full
	r.Seq = 1000
	r.Events = []protocol.Event{{Type: protocol.EventInstalled, Source: "deb", Name: "after", Version: "1", Time: time.Now().UTC(), DetectedAt: time.Now().UTC()}}
	if got := report(t, c.url, cred, &r); got.Status != protocol.StatusAccepted {
		t.Errorf("report with quorum back: %+v", got)
	}
}
