package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// startCollector starts a real collector with embedded etcd in a temporary directory.
func startCollector(t testing.TB) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := StartEmbedded(ctx, EmbeddedOptions{Dir: t.TempDir(), StatusFlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stopping the collector: %v", err)
		}
	})
	return e
}

// get reads an admin API path into v.
func get(t *testing.T, e *Embedded, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestRunAgainstCollector runs a small fleet through enrollment, full reports and three
// paced rounds of heartbeats and churn against a real collector, then checks the
// collector holds exactly what the generator sent and that the generator's figures add up.
func TestRunAgainstCollector(t *testing.T) {
	e := startCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const hosts, rounds = 20, 3
	g, err := New(Options{URL: e.URL, InsecureHTTP: true, EnrollSecret: e.EnrollSecret, AdminToken: e.AdminToken, Embedded: true,
		Hosts: hosts, Concurrency: 8, MinPackages: 100, MaxPackages: 300, Pool: 2000, UniqueFraction: 0.02,
		Churn: 0.5, Rounds: rounds, Interval: time.Second, Seed: 42,
		// The collector runs in this process: its /proc figures are this process's.
		CollectorPID: os.Getpid(), ProcessWindow: 100 * time.Millisecond, CollectorIdle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The generator's figures add up, phase by phase and kind by kind.
	if len(res.Phases) != 3 {
		t.Fatalf("%d phases", len(res.Phases))
	}
	for _, p := range res.Phases {
		var sum int64
		for _, n := range p.Statuses {
			sum += n
		}
		if sum != p.Requests {
			t.Errorf("%s: statuses add up to %d, requests %d", p.Name, sum, p.Requests)
		}
		var kinds int64
		for kind, k := range p.Kinds {
			var ks int64
			for _, n := range k.Statuses {
				ks += n
			}
			if ks != k.Requests {
				t.Errorf("%s %s: statuses add up to %d, requests %d", p.Name, kind, ks, k.Requests)
			}
			kinds += k.Requests
		}
		if kinds != p.Requests {
			t.Errorf("%s: kinds add up to %d requests, phase %d", p.Name, kinds, p.Requests)
		}
		if p.Done+p.GaveUp != p.Jobs || p.GaveUp != 0 {
			t.Errorf("%s: %d turns, %d done, %d gave up", p.Name, p.Jobs, p.Done, p.GaveUp)
		}
		checkProcess(t, p)
		// What the collector counted is what the generator got answered.
		c := p.Collector
		if c == nil {
			t.Fatalf("%s: no collector metrics", p.Name)
		}
		for kind, k := range p.Kinds {
			if kind == KindEnroll {
				continue
			}
			for status, n := range k.Statuses {
				result := status
				if status == StatusMismatch {
					result = StatusAccepted
				}
				if got := c.Reports[kind+"/"+result]; got != float64(n) {
					t.Errorf("%s: the collector counted %v %s/%s reports, the generator %d", p.Name, got, kind, result, n)
				}
			}
		}
	}
	enroll, ramp, steady := res.Phases[0], res.Phases[1], res.Phases[2]
	if enroll.Statuses[StatusEnrolled] != hosts || enroll.Jobs != hosts {
		t.Errorf("enroll: %v", enroll.Statuses)
	}
	if k := ramp.Kinds[protocol.KindFull]; k == nil || k.Statuses[StatusAccepted] != hosts || ramp.ReportsPerSec <= 0 || k.Latency.P99 <= 0 {
		t.Errorf("ramp-up: %+v", ramp.Kinds)
	}
	if steady.Jobs != hosts*rounds || steady.Done != hosts*rounds || steady.Rounds != rounds || steady.TargetPerSec != hosts {
		t.Errorf("steady: %d turns, %d done, %d rounds, target %.0f/s", steady.Jobs, steady.Done, steady.Rounds, steady.TargetPerSec)
	}
	hb, delta := steady.Kinds[protocol.KindHeartbeat], steady.Kinds[protocol.KindDelta]
	if hb == nil || delta == nil || delta.Events == 0 || hb.Statuses[StatusAccepted]+delta.Statuses[StatusAccepted] != hosts*rounds {
		t.Fatalf("steady state: heartbeats %+v, deltas %+v", hb, delta)
	}
	if !res.Check.OK() || res.Check.HostsFound != hosts || res.Check.TitlesChecked < 10 {
		t.Errorf("check: %+v", res.Check)
	}
	if f := res.Collector; f == nil || f.Hosts != hosts || f.Agents != hosts || f.EtcdDBBytes <= 0 || f.RSSBytes <= 0 || !f.SharedProcess {
		t.Errorf("collector figures: %+v", res.Collector)
	}
	if idle := res.CollectorIdle; idle == nil || idle.Error != "" || idle.Seconds < 0.3 || idle.Answered != 0 || idle.RSSEndBytes == 0 {
		t.Errorf("idle collector: %+v", idle)
	}
	if steady.Process != nil && steady.Process.Split == "regression" {
		for kind, k := range steady.Process.Kinds {
			if k.CPUMs == nil || *k.CPUMs < 0 {
				t.Errorf("steady %s: CPU per answer %v", kind, k.CPUMs)
			}
		}
	}

	// The collector lists exactly the generator's hosts.
	views := g.Hosts()
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	get(t, e, "/api/v1/hosts", &list)
	var listed, want []string
	for _, it := range list.Items {
		listed = append(listed, it.ID)
	}
	for _, v := range views {
		want = append(want, v.ID)
	}
	slices.Sort(want)
	if !slices.Equal(listed, want) || len(want) != hosts {
		t.Fatalf("hosts listed %v, want %v", listed, want)
	}

	// Each host's inventory and events are those the generator sent.
	titleHosts := map[string]int{}
	events, installed := 0, 0
	for _, v := range views {
		var d struct {
			Hash     string `json:"hash"`
			Hostname string `json:"hostname"`
			Software []struct {
				Title       string    `json:"title"`
				Version     string    `json:"version"`
				Arch        string    `json:"arch"`
				InstallTime time.Time `json:"install_time"`
				Installed   bool      `json:"installed"`
			} `json:"software"`
			Events        []protocol.Event `json:"events"`
			EventsDropped int              `json:"events_dropped"`
		}
		get(t, e, "/api/v1/hosts/"+v.ID, &d)
		if d.Hash != v.Hash || d.Hostname != v.Hostname {
			t.Errorf("host %s: hash %s hostname %s, want %s %s", v.ID, d.Hash, d.Hostname, v.Hash, v.Hostname)
		}
		var got, sent []string
		for _, s := range d.Software {
			got = append(got, fmt.Sprintf("%s %s %s %s", s.Title, s.Version, s.Arch, s.InstallTime.UTC().Format(time.RFC3339)))
			if s.Installed {
				installed++
			}
		}
		for _, p := range v.Software {
			sent = append(sent, fmt.Sprintf("%s %s %s %s", p.Title(), p.Version, p.Arch, p.InstallTime.Format(time.RFC3339)))
			titleHosts[p.Title()]++
		}
		slices.Sort(got)
		slices.Sort(sent)
		if !slices.Equal(got, sent) {
			t.Errorf("host %s: the collector holds %d packages, the generator sent %d, or they differ", v.ID, len(got), len(sent))
		}
		if len(d.Events)+d.EventsDropped != v.Events {
			t.Errorf("host %s: %d events (+%d dropped) held, %d sent", v.ID, len(d.Events), d.EventsDropped, v.Events)
		}
		events += v.Events
	}
	if events == 0 || installed == 0 {
		t.Errorf("%d events, %d packages marked installed after the first report: the churn did not arrive", events, installed)
	}
	if int64(events) != delta.Events+steady.Kinds[protocol.KindFull].eventsOrZero() {
		t.Errorf("%d events held by hosts, %d accepted in the steady state", events, delta.Events)
	}

	// Titles' host counts are those of the inventories sent: the most common title, one on
	// about half the hosts, a rare one, and titles changed by the churn.
	var pick []string
	for tl, n := range titleHosts {
		if n == hosts || n == 1 || (n > hosts/3 && n < 2*hosts/3) {
			pick = append(pick, tl)
		}
	}
	slices.Sort(pick)
	for _, h := range g.hosts {
		for t := range h.times {
			src, name := g.titleOf(h, t)
			pick = append(pick, src+":"+name)
		}
	}
	checked := 0
	for _, tl := range pick {
		if checked == 40 {
			break
		}
		src, name, _ := model.SplitTitleKey(tl)
		var sw struct {
			Items []struct {
				Title string `json:"title"`
				Hosts int    `json:"hosts"`
			} `json:"items"`
		}
		get(t, e, "/api/v1/software?"+url.Values{"source": {src}, "name": {name}, "min_hosts": {"0"}}.Encode(), &sw)
		n := 0
		for _, it := range sw.Items {
			if it.Title == tl {
				n = it.Hosts
			}
		}
		if n != titleHosts[tl] {
			t.Errorf("title %s: the collector counts %d hosts, the generator installed it on %d", tl, n, titleHosts[tl])
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d titles checked", checked)
	}

	fig := e.Figures(ctx)
	if fig.DBFileBytes <= 0 || fig.Keys["hosts"].Count != hosts || fig.Keys["agents"].Count != hosts || fig.RSSBytes == 0 {
		t.Errorf("embedded figures: %+v", fig)
	}
	res.Embedded = fig
	var out testWriter
	res.WriteText(&out)
	t.Logf("report:\n%s", out.b)
	if err := res.WriteJSON(io.Discard); err != nil {
		t.Error(err)
	}
}

func (k *KindStats) eventsOrZero() int64 {
	if k == nil {
		return 0
	}
	return k.Events
}

type testWriter struct{ b []byte }

func (w *testWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// BenchmarkCollectorReports measures the collector's throughput for steady-state reports:
// b.N heartbeats (heartbeat) or deltas of a package manager run each (delta), from 16
// concurrent agents of a fleet of 200 hosts of 300-1000 packages, against a collector with
// embedded etcd in this process (the generator's own work is in the figures too: see
// build-ms/op).
func BenchmarkCollectorReports(b *testing.B) {
	for _, bc := range []struct {
		name  string
		churn float64
	}{{"heartbeat", 0}, {"delta", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			e := startCollector(b)
			ctx := context.Background()
			g, err := New(Options{URL: e.URL, InsecureHTTP: true, EnrollSecret: e.EnrollSecret, Hosts: 200, Concurrency: 16,
				MinPackages: 300, MaxPackages: 1000, Pool: 5000, Churn: bc.churn, Seed: 1, NoMetrics: true})
			if err != nil {
				b.Fatal(err)
			}
			if p := g.Enroll(ctx); p.Done != 200 {
				b.Fatalf("enroll: %v", p.Statuses)
			}
			if p := g.RampUp(ctx); p.Done != 200 {
				b.Fatalf("ramp-up: %v", p.Statuses)
			}
			d := g.StartSteady(ctx)
			start := time.Now()
			for b.Loop() {
				d.Submit()
			}
			p := d.Stop()
			elapsed := time.Since(start)
			var ok int64
			var lat Latency
			for kind, k := range p.Kinds {
				ok += k.Statuses[StatusAccepted]
				if kind == protocol.KindHeartbeat || kind == protocol.KindDelta {
					lat = maxLatency(lat, k.Latency)
				}
			}
			if p.GaveUp > 0 || ok == 0 {
				b.Fatalf("%d turns gave up, %d accepted: %v", p.GaveUp, ok, p.Statuses)
			}
			b.ReportMetric(float64(ok)/elapsed.Seconds(), "reports/s")
			b.ReportMetric(lat.P50*1e3, "p50-ms")
			b.ReportMetric(lat.P99*1e3, "p99-ms")
			b.ReportMetric(p.BuildSeconds*1e3/float64(max(p.Jobs, 1)), "build-ms/op")
		})
	}
}

func maxLatency(a, b Latency) Latency {
	if b.Count > a.Count {
		return b
	}
	return a
}

// checkProcess checks a phase's figures of the collector's process against the phase's
// own: the same answers by kind, CPU and memory read, one phase kind split exactly.
func checkProcess(t *testing.T, p *PhaseStats) {
	t.Helper()
	f := p.Process
	if f == nil {
		t.Fatalf("%s: no collector process figures", p.Name)
	}
	if f.Error != "" || f.PID != os.Getpid() || f.Seconds <= 0 || f.Windows == 0 || f.ClockCPUSeconds <= 0 || f.CPUSeconds < 0 {
		t.Errorf("%s: collector process %+v", p.Name, f)
	}
	if f.RSSStartBytes == 0 || f.RSSEndBytes == 0 || f.RSSMaxBytes < f.RSSEndBytes || f.HWMEndBytes < f.RSSMaxBytes {
		t.Errorf("%s: RSS start %d, end %d, max %d, VmHWM %d", p.Name, f.RSSStartBytes, f.RSSEndBytes, f.RSSMaxBytes, f.HWMEndBytes)
	}
	var answered int64
	for kind, k := range p.Kinds {
		pk := f.Kinds[kind]
		if k.Latency.Count == 0 {
			continue
		}
		if pk == nil || pk.Answered != k.Latency.Count || pk.P99 != k.Latency.P99 || pk.PerSecond <= 0 {
			t.Errorf("%s %s: collector process kind %+v, phase %+v", p.Name, kind, pk, k.Latency)
		}
		answered += k.Latency.Count
	}
	if f.Answered != answered || len(f.Kinds) == 0 {
		t.Errorf("%s: %d answers in the process figures, %d in the phase", p.Name, f.Answered, answered)
	}
	if len(f.Kinds) == 1 {
		for kind, k := range f.Kinds {
			want := f.ClockCPUSeconds * 1e3 / float64(k.Answered)
			if f.Split != "single kind" || k.CPUMs == nil || *k.CPUMs != want || f.CPUMsPerAnswer != want {
				t.Errorf("%s %s: split %q, CPU %v ms per answer, want %v", p.Name, kind, f.Split, k.CPUMs, want)
			}
		}
	}
}
