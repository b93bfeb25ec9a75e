package app

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// slowReport opens a connection to the collector at addr, sends a report's headers with
// cred and then one byte of its body every gap, and returns the status line and body of
// the answer, and how long it took to come. It gives up after limit.
func slowReport(addr, cred string, gap, limit time.Duration) (status, body string, took time.Duration, err error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", "", 0, err
	}
	defer conn.Close()
	conn.SetDeadline(start.Add(limit))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
		protocol.PathReport, addr, cred)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		br := bufio.NewReader(conn)
		resp, rerr := http.ReadResponse(br, nil)
		if rerr != nil {
			err = rerr
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body, took = resp.Status, strings.TrimSpace(string(b)), time.Since(start)
	}()
	for {
		select {
		case <-answered:
			return status, body, took, err
		case <-time.After(gap):
			conn.Write([]byte(" ")) // fails once the collector has closed: the answer is in
		}
	}
}

// TestSlowBodiesDoNotStopTheFleet runs the attack that once froze a fleet, with real slow
// connections on 127.0.0.1: hosts with valid credentials open report requests and send
// their bodies a byte at a time, more of them than there are decode slots, for three
// seconds, while three good hosts keep sending real reports. Every good report must be
// answered 200, the slow ones cut off with 408 once past the grace, and a second report
// of a host whose first is still arriving refused with 429.
func TestSlowBodiesDoNotStopTheFleet(t *testing.T) {
	const slots, slowHosts, good = 2, 6, 3
	grace := time.Second
	c := start(t, Options{DataDir: t.TempDir(), MaxConcurrentReports: slots, ReportReadGrace: grace, ReportMinRate: 1024})
	addr := c.Addr()
	var slowCreds []string
	for i := range slowHosts {
		slowCreds = append(slowCreds, enroll(t, c.url, fmt.Sprintf("slow-%d", i)))
	}
	type goodHost struct {
		cred string
		rep  *protocol.Report
	}
	var goods []goodHost
	for i, name := range []string{"debian12", "rocky9", "arch"}[:good] {
		inv := fixture.Golden(t, name)
		inv.Host.ID = fmt.Sprintf("good-%d", i)
		full, _ := fullReport(inv, 1)
		goods = append(goods, goodHost{enroll(t, c.url, inv.Host.ID), full})
	}

	window := 3 * time.Second
	end := time.Now().Add(window)
	var mu sync.Mutex
	var slowAnswers []string
	var slowTook []time.Duration
	var wg sync.WaitGroup
	for _, cred := range slowCreds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				status, body, took, err := slowReport(addr, cred, 300*time.Millisecond, 10*time.Second)
				mu.Lock()
				if err != nil {
					slowAnswers = append(slowAnswers, "error: "+err.Error())
				} else {
					slowAnswers = append(slowAnswers, status+" "+body)
					slowTook = append(slowTook, took)
				}
				mu.Unlock()
			}
		}()
	}

	// While a slow body of host slow-0 is arriving, a second report of that host waits for
	// nothing: 429 at once.
	time.Sleep(200 * time.Millisecond)
	var e protocol.ErrorResponse
	if code := call(t, "POST", c.url+protocol.PathReport, slowCreds[0], []byte(`{}`), false, &e); code != http.StatusTooManyRequests ||
		!strings.Contains(e.Error, "already in flight") {
		t.Errorf("a second report of a host with one in flight: %d %q, want 429", code, e.Error)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	var latencies []time.Duration
	var failures []string
	for time.Now().Before(end) {
		for i := range goods {
			g := &goods[i]
			t0 := time.Now()
			req, _ := http.NewRequest("POST", c.url+protocol.PathReport, bytes.NewReader(marshal(t, g.rep)))
			req.Header.Set("Authorization", "Bearer "+g.cred)
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			latencies = append(latencies, time.Since(t0))
			if resp.StatusCode != 200 {
				failures = append(failures, fmt.Sprintf("%s: %d %s", g.rep.HostID, resp.StatusCode, b))
			}
		}
	}
	wg.Wait()
	slices.Sort(latencies)
	slices.Sort(slowTook)
	t.Logf("good reports: %d answered, median %s, slowest %s; failures: %d", len(latencies),
		latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), len(failures))
	t.Logf("slow requests: %d, cut off after %s to %s", len(slowAnswers), slowTook[0].Round(time.Millisecond), slowTook[len(slowTook)-1].Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("good reports failed during the attack: %q", failures)
	}
	if len(latencies) < 3*good {
		t.Errorf("only %d good reports answered in %s", len(latencies), window)
	}
	timedOut := 0
	for _, a := range slowAnswers {
		if strings.HasPrefix(a, "408 ") && strings.Contains(a, "report body too slow") {
			timedOut++
		} else {
			t.Errorf("a slow report was answered %q, want 408", a)
		}
	}
	if timedOut < slowHosts {
		t.Errorf("%d slow reports cut off, want at least %d", timedOut, slowHosts)
	}
	for _, took := range slowTook {
		if took < grace {
			t.Errorf("a slow report was cut off after %s, before the grace of %s", took, grace)
		}
	}
	if got := sample(t, c, "onus_collector_reports_shed_total", "reason", "slow"); got != float64(timedOut) {
		t.Errorf("onus_collector_reports_shed_total{reason=\"slow\"} = %v, want %d", got, timedOut)
	}
	if got := sample(t, c, "onus_collector_reports_shed_total", "reason", "host"); got != 1 {
		t.Errorf("onus_collector_reports_shed_total{reason=\"host\"} = %v, want 1", got)
	}
}

// sample returns the value of the series of metric name whose label is value, from a
// real scrape of the collector's /metrics.
func sample(t *testing.T, c *running, name, label, value string) float64 {
	t.Helper()
	resp, err := http.Get(c.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	series := name
	if label != "" {
		series += "{" + label + "=\"" + value + "\"}"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %q", series, line)
			}
			return f
		}
	}
	t.Fatalf("no series %s in /metrics (%d)", series, resp.StatusCode)
	return 0
}

// TestReportMemoryBudget fills the memory budget of the reports in flight with a body that
// arrives slowly, and checks that a large report is then answered 429 with Retry-After
// instead of being decoded, that it is accepted once the slow body is cut off, and that the
// budget's gauge goes back to zero.
func TestReportMemoryBudget(t *testing.T) {
	lim := protocol.Limits{Compressed: 256 << 10, Decompressed: 1 << 20}
	c := start(t, Options{DataDir: t.TempDir(), Limits: lim, MaxReportMemory: lim.Compressed + 3*lim.Decompressed,
		ReportReadGrace: 2 * time.Second, ReportMinRate: 1024})
	slowCred := enroll(t, c.url, "slow-0")
	inv := fixture.Golden(t, "debian12")
	full, _ := fullReport(inv, 1)
	cred := enroll(t, c.url, inv.Host.ID)
	// 900 KB of JSON, most of it white space after the value: it decodes to a 1 MiB buffer.
	plain, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	big := gzipBytes(t, append(plain, bytes.Repeat([]byte{' '}, 900<<10-len(plain))...))

	// A slow body: 200 KB at once (a 256 KiB buffer), then a byte every 3 s, longer than
	// the grace.
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 250000\r\n\r\n{%s",
		protocol.PathReport, slowCred, strings.Repeat(" ", 200_000))
	slow := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		slow <- resp.Status + " " + string(b)
	}()
	go func() {
		for range 5 {
			time.Sleep(3 * time.Second)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	wait.Until(t, 10*time.Second, "the condition", func() bool { return sample(t, c, "onus_collector_report_memory_bytes", "", "") >= 256<<10 })

	post := func() (int, string, string) {
		req, _ := http.NewRequest("POST", c.url+protocol.PathReport, bytes.NewReader(big))
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	if code, retry, b := post(); code != http.StatusTooManyRequests || retry == "" || !strings.Contains(b, "memory") {
		t.Fatalf("a large report while the budget is held: %d (Retry-After %q) %s, want 429", code, retry, b)
	}
	if got := sample(t, c, "onus_collector_reports_shed_total", "reason", "memory"); got != 1 {
		t.Errorf("onus_collector_reports_shed_total{reason=\"memory\"} = %v, want 1", got)
	}
	select {
	case s := <-slow:
		if !strings.HasPrefix(s, "408 ") {
			t.Fatalf("slow body answered %q, want 408", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow body was not cut off")
	}
	if code, _, b := post(); code != 200 {
		t.Fatalf("the large report once the budget is free: %d %s", code, b)
	}
	if got := sample(t, c, "onus_collector_report_memory_bytes", "", ""); got != 0 {
		t.Errorf("onus_collector_report_memory_bytes = %v with no report in flight", got)
	}
	if got := sample(t, c, "onus_collector_report_memory_limit_bytes", "", ""); got != float64(lim.Compressed+3*lim.Decompressed) {
		t.Errorf("onus_collector_report_memory_limit_bytes = %v", got)
	}

	// A budget that cannot hold one report of the largest size is a configuration error.
	bad, err := New(Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: t.TempDir(), EnrollSecret: secret, AdminToken: admin,
		Limits: lim, MaxReportMemory: lim.Compressed})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = bad.Run(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "cannot hold one report") {
		t.Errorf("a budget smaller than one report: %v", err)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEventsBomb sends a real collector the report that once made one allocate 9.5 GiB: 61
// KB of gzip holding "events":[{},{},…] 21 million times. It must answer 400 naming the
// list and its limit, and the whole process (collector and embedded etcd) allocate a few
// MiB meanwhile, by the runtime's count.
func TestEventsBomb(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir()})
	cred := enroll(t, c.url, "bomber")
	var raw bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&raw, gzip.BestCompression)
	fmt.Fprintf(zw, `{"host_id":"bomber","seq":1,"kind":"heartbeat","hash":"%[1]s","base_hash":"%[1]s","events":[{}`, strings.Repeat("0", 64))
	chunk := bytes.Repeat([]byte(`,{}`), 1<<16)
	for n := 1; n < 21_000_000; n += 1 << 16 {
		zw.Write(chunk[:3*min(1<<16, 21_000_000-n)])
	}
	zw.Write([]byte("]}"))
	zw.Close()
	bomb := raw.Bytes()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	var e protocol.ErrorResponse
	code := call(t, "POST", c.url+protocol.PathReport, cred, bomb, true, &e)
	took := time.Since(t0)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte bomb: %d %q in %s, %d KiB allocated by the process", len(bomb), code, e.Error, took.Round(time.Millisecond), alloc>>10)
	if code != http.StatusBadRequest || e.Error != "events: over the limit of 100000 entries" {
		t.Errorf("bomb answered %d %q, want 400 naming events and the limit", code, e.Error)
	}
	if alloc > 32<<20 {
		t.Errorf("the process allocated %d MiB while refusing the bomb, want a few", alloc>>20)
	}
}
