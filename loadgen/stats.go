package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Statuses a request ends with, besides "http_<code>" for answers other than 200.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"  // accepted before: a retry
	StatusNeedFull  = "need_full"  // the collector lacks the base state
	StatusMismatch  = "mismatch"   // accepted, but the collector holds another hash
	StatusEnrolled  = "enrolled"   // an enrollment answered 200
	StatusBadAnswer = "bad_answer" // a 200 whose body does not decode
	StatusError     = "error"      // no answer: connection failed, timed out, cancelled
)

// Request kinds: the report kinds and enrollments.
const KindEnroll = "enroll"

// histogram keeps latencies in logarithmic buckets 2% wide, from 10 µs up: percentiles
// within 2% with a fixed size, whatever the number of requests.
type histogram struct {
	counts   [1100]uint32
	n        int64
	sum, max time.Duration
}

const (
	histBase   = 10 * time.Microsecond
	histFactor = 1.02
)

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > histBase {
		i = int(math.Ceil(math.Log(float64(d)/float64(histBase)) / math.Log(histFactor)))
	}
	i = min(i, len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// quantile returns the upper bound of the bucket holding quantile q (0 < q ≤ 1).
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return min(time.Duration(float64(histBase)*math.Pow(histFactor, float64(i))), h.max)
		}
	}
	return h.max
}

// Latency summarizes the latencies of one kind of request answered 200.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_seconds"`
	P50   float64 `json:"p50_seconds"`
	P90   float64 `json:"p90_seconds"`
	P99   float64 `json:"p99_seconds"`
	Max   float64 `json:"max_seconds"`
}

func (h *histogram) summary() Latency {
	if h.n == 0 {
		return Latency{}
	}
	return Latency{Count: h.n, Mean: (h.sum / time.Duration(h.n)).Seconds(), P50: h.quantile(0.5).Seconds(),
		P90: h.quantile(0.9).Seconds(), P99: h.quantile(0.99).Seconds(), Max: h.max.Seconds()}
}

// KindStats are the figures of one kind of request in a phase.
type KindStats struct {
	// Requests counts every request sent, retries included; Statuses counts them by how
	// they ended, so their sum is Requests.
	Requests  int64            `json:"requests"`
	Statuses  map[string]int64 `json:"statuses"`
	BytesSent int64            `json:"bytes_sent"`
	// Latency is that of the requests answered 200 (from sending to the answer read).
	Latency Latency `json:"latency"`
	// Events counts the software events of the reports the collector accepted.
	Events int64 `json:"events,omitempty"`
	hist   histogram
}

// PhaseStats are the figures of one phase of a run.
type PhaseStats struct {
	Name     string        `json:"name"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	// Jobs counts the host turns the phase ran (an enrollment, a report with its retries),
	// Done those that ended with the collector's acceptance, GaveUp those abandoned after
	// too many retries or refusals (or cut off at the phase's end), Skipped the steady-state
	// turns missed because the host was still busy with an earlier one.
	Jobs    int64 `json:"jobs"`
	Done    int64 `json:"done"`
	GaveUp  int64 `json:"gave_up"`
	Skipped int64 `json:"skipped,omitempty"`
	// Requests counts every request sent in the phase, RequestsPerSec per second of it;
	// ReportsPerSec counts only the report requests answered 200.
	Requests       int64                 `json:"requests"`
	RequestsPerSec float64               `json:"requests_per_second"`
	ReportsPerSec  float64               `json:"reports_per_second"`
	Statuses       map[string]int64      `json:"statuses"`
	BytesSent      int64                 `json:"bytes_sent"`
	Kinds          map[string]*KindStats `json:"kinds"`
	// BuildSeconds is the CPU time the generator spent building requests (materializing
	// states, hashing, diffing, compressing; wall time where the thread CPU clock is not
	// available): its share of the process's CPU when the collector runs in it too.
	BuildSeconds float64 `json:"build_cpu_seconds"`
	// Steady state: the rate the schedule asked for, and how late the turns started.
	TargetPerSec float64 `json:"target_per_second,omitempty"`
	MaxLag       float64 `json:"max_lag_seconds,omitempty"`
	MeanLag      float64 `json:"mean_lag_seconds,omitempty"`
	Rounds       int     `json:"rounds,omitempty"`
	// Collector holds what the collector's /metrics counted during the phase.
	Collector *CollectorDelta `json:"collector,omitempty"`
	// Process holds what /proc showed of the collector's own process (Options.CollectorPID).
	Process *ProcessFigures `json:"collector_process,omitempty"`

	mu      sync.Mutex
	window  histogram // latencies since the last progress line
	lagSum  time.Duration
	lagN    int64
	buildNS int64
	win     map[string]int64 // answers by kind since the last takeWindow
}

func newPhase(name string) *PhaseStats {
	return &PhaseStats{Name: name, Start: time.Now(), Statuses: map[string]int64{}, Kinds: map[string]*KindStats{}}
}

// record counts one request.
func (p *PhaseStats) record(kind, status string, bytes int, lat time.Duration, ok bool, events int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.Kinds[kind]
	if k == nil {
		k = &KindStats{Statuses: map[string]int64{}}
		p.Kinds[kind] = k
	}
	k.Requests++
	k.Statuses[status]++
	k.BytesSent += int64(bytes)
	p.Requests++
	p.Statuses[status]++
	p.BytesSent += int64(bytes)
	if ok {
		k.hist.add(lat)
		p.window.add(lat)
		if p.win == nil {
			p.win = map[string]int64{}
		}
		p.win[kind]++
	}
	if status == StatusAccepted || status == StatusDuplicate {
		k.Events += int64(events)
	}
}

// takeWindow returns the requests answered 200 by kind since its last call.
func (p *PhaseStats) takeWindow() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.win
	p.win = nil
	return w
}

func (p *PhaseStats) jobEnded(done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done {
		p.Done++
	} else {
		p.GaveUp++
	}
}

func (p *PhaseStats) addBuild(d time.Duration) {
	p.mu.Lock()
	p.buildNS += int64(d)
	p.mu.Unlock()
}

func (p *PhaseStats) lag(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lagSum += d
	p.lagN++
	p.MaxLag = max(p.MaxLag, d.Seconds())
}

// progress returns a snapshot of the counters for progress lines, and the latencies
// since the previous call.
func (p *PhaseStats) progress() (jobs, done, gaveUp, requests int64, statuses map[string]int64, window Latency) {
	p.mu.Lock()
	defer p.mu.Unlock()
	window = p.window.summary()
	p.window = histogram{}
	return p.Jobs, p.Done, p.GaveUp, p.Requests, maps.Clone(p.Statuses), window
}

// finish fixes the phase's duration and derived figures.
func (p *PhaseStats) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Duration = time.Since(p.Start)
	p.Seconds = p.Duration.Seconds()
	var ok int64
	for kind, k := range p.Kinds {
		k.Latency = k.hist.summary()
		if kind != KindEnroll {
			ok += k.Latency.Count
		}
	}
	if p.Seconds > 0 {
		p.RequestsPerSec = float64(p.Requests) / p.Seconds
		p.ReportsPerSec = float64(ok) / p.Seconds
	}
	if p.lagN > 0 {
		p.MeanLag = (p.lagSum / time.Duration(p.lagN)).Seconds()
	}
	p.BuildSeconds = time.Duration(p.buildNS).Seconds()
}

// Result is what a run measured.
type Result struct {
	Config Config        `json:"config"`
	Phases []*PhaseStats `json:"phases"`
	// Collector holds the collector's figures at the end of the run.
	Collector *CollectorFigures `json:"collector,omitempty"`
	// CollectorIdle is what /proc showed of the collector's process while nothing was
	// sent, between the full reports and the steady state (Options.CollectorIdle).
	CollectorIdle *ProcessFigures `json:"collector_idle,omitempty"`
	// Embedded holds what only a collector in this process shows (nil otherwise).
	Embedded *EmbeddedFigures `json:"embedded,omitempty"`
	// Check is the comparison of the collector's answers with what the generator sent
	// (nil when no admin token was given).
	Check *Check `json:"check,omitempty"`
	// Generator is the generator's own footprint.
	Generator GeneratorFigures `json:"generator"`
}

// Config echoes the options of a run.
type Config struct {
	URL             string  `json:"url"`
	Mode            string  `json:"mode"` // "embedded" or "external"
	Hosts           int     `json:"hosts"`
	Concurrency     int     `json:"concurrency"`
	MinPackages     int     `json:"min_packages"`
	MaxPackages     int     `json:"max_packages"`
	Pool            int     `json:"pool"`
	Churn           float64 `json:"churn"`
	IntervalSeconds float64 `json:"interval_seconds"`
	Rounds          int     `json:"rounds,omitempty"`
	SteadySeconds   float64 `json:"steady_seconds,omitempty"`
	Seed            uint64  `json:"seed"`
	// Fleet describes the simulated hosts.
	TotalPackages int64   `json:"total_packages"`
	MeanPackages  float64 `json:"mean_packages"`
	FleetTitles   int     `json:"fleet_titles"` // distinct titles on the hosts at the start
}

// GeneratorFigures is the generator's own footprint.
type GeneratorFigures struct {
	SetupSeconds float64 `json:"setup_seconds"`
	// HeapBytes is the Go heap in use after the run (with a collector in this process,
	// the collector's heap too).
	HeapBytes uint64 `json:"heap_bytes"`
	// StateBytes estimates the memory of the simulated hosts' state.
	StateBytes int64 `json:"state_bytes"`
}

// EmbeddedFigures are measured on a collector that runs in this process.
type EmbeddedFigures struct {
	Dir string `json:"dir"`
	// RSSBytes and PeakRSSBytes are this process's (collector, etcd and generator).
	RSSBytes     uint64 `json:"rss_bytes"`
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// DBFileBytes is the size of etcd's bbolt file (member/snap/db).
	DBFileBytes int64 `json:"db_file_bytes"`
	// WALBytes is the size of etcd's write-ahead log directory.
	WALBytes int64 `json:"wal_bytes"`
	// Keys counts the store's keys and their value bytes by kind (agents, hosts, titles,
	// status, schema).
	Keys map[string]KeyUsage `json:"keys,omitempty"`
}

// KeyUsage is the number and size of the keys of one kind.
type KeyUsage struct {
	Count      int64 `json:"count"`
	ValueBytes int64 `json:"value_bytes"`
	MaxBytes   int64 `json:"max_value_bytes"`
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r for people.
func (r *Result) WriteText(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "onus-loadgen: %d hosts against %s (%s collector), concurrency %d\n", c.Hosts, c.URL, c.Mode, c.Concurrency)
	fmt.Fprintf(w, "  fleet: %d-%d packages per host (mean %.0f, %d in all), pool %d titles, %d distinct titles on the hosts; churn %.3g per round; seed %d\n",
		c.MinPackages, c.MaxPackages, c.MeanPackages, c.TotalPackages, c.Pool, c.FleetTitles, c.Churn, c.Seed)
	interval := "as fast as possible"
	if c.IntervalSeconds > 0 {
		interval = fmt.Sprintf("one report per host every %s", time.Duration(c.IntervalSeconds*float64(time.Second)))
	}
	fmt.Fprintf(w, "  steady state: %s\n", interval)
	for _, p := range r.Phases {
		rate := fmt.Sprintf("%.1f reports/s answered 200", p.ReportsPerSec)
		if p.Name == PhaseEnroll {
			rate = fmt.Sprintf("%.1f enrollments/s", float64(p.Kinds[KindEnroll].statusOrZero(StatusEnrolled))/max(p.Seconds, 1e-9))
		}
		fmt.Fprintf(w, "\n== %s: %s, %d requests (%.1f/s), %s, %s sent\n", p.Name,
			p.Duration.Round(time.Millisecond), p.Requests, p.RequestsPerSec, rate, bytesText(p.BytesSent))
		fmt.Fprintf(w, "   host turns: %d, done %d, gave up %d", p.Jobs, p.Done, p.GaveUp)
		if p.Skipped > 0 {
			fmt.Fprintf(w, ", skipped (host still busy) %d", p.Skipped)
		}
		fmt.Fprintf(w, "; generator CPU building requests %.1fs\n", p.BuildSeconds)
		if p.TargetPerSec > 0 || p.Rounds > 0 {
			fmt.Fprintf(w, "   rounds %d", p.Rounds)
			if p.TargetPerSec > 0 {
				fmt.Fprintf(w, ", target %.1f reports/s", p.TargetPerSec)
			}
			fmt.Fprintf(w, ", schedule lag mean %s max %s\n", secs(p.MeanLag), secs(p.MaxLag))
		}
		fmt.Fprintf(w, "   %-10s %9s %10s %9s %9s %9s %9s %9s  %s\n", "kind", "requests", "sent", "mean", "p50", "p90", "p99", "max", "statuses")
		for _, kind := range []string{KindEnroll, "full", "delta", "heartbeat"} {
			k := p.Kinds[kind]
			if k == nil {
				continue
			}
			l := k.Latency
			fmt.Fprintf(w, "   %-10s %9d %10s %9s %9s %9s %9s %9s  %s\n", kind, k.Requests, bytesText(k.BytesSent),
				secs(l.Mean), secs(l.P50), secs(l.P90), secs(l.P99), secs(l.Max), statusText(k.Statuses))
			if k.Events > 0 {
				fmt.Fprintf(w, "   %-10s %d software events accepted\n", "", k.Events)
			}
		}
		if d := p.Collector; d != nil {
			d.writeText(w, p.Seconds)
		}
		r.writeProcess(w, p)
	}
	if f := r.Collector; f != nil {
		fmt.Fprintf(w, "\n== collector at the end (from its /metrics)\n")
		fmt.Fprintf(w, "   hosts %d, agents %d, titles %d\n", int64(f.Hosts), int64(f.Agents), int64(f.Titles))
		rssNote := "the collector's process"
		if c.Mode == "embedded" {
			rssNote = "SHARED process: collector + embedded etcd + load generator"
		}
		fmt.Fprintf(w, "   RSS %s (%s), Go heap in use %s\n", bytesText(int64(f.RSSBytes)), rssNote, bytesText(int64(f.HeapInuseBytes)))
		fmt.Fprintf(w, "   etcd database %s, in use %s", bytesText(int64(f.EtcdDBBytes)), bytesText(int64(f.EtcdDBInUseBytes)))
		if f.Hosts > 0 {
			fmt.Fprintf(w, " (%s per host)", bytesText(int64(f.EtcdDBInUseBytes/f.Hosts)))
		}
		fmt.Fprintln(w)
		if f.Error != "" {
			fmt.Fprintf(w, "   (metrics: %s)\n", f.Error)
		}
	}
	if e := r.Embedded; e != nil {
		fmt.Fprintf(w, "\n== embedded collector (this process, data in %s)\n", e.Dir)
		fmt.Fprintf(w, "   process RSS %s, peak %s (collector + etcd + generator)\n", bytesText(int64(e.RSSBytes)), bytesText(int64(e.PeakRSSBytes)))
		fmt.Fprintf(w, "   etcd bbolt file %s, WAL %s\n", bytesText(e.DBFileBytes), bytesText(e.WALBytes))
		for _, kind := range slices.Sorted(maps.Keys(e.Keys)) {
			u := e.Keys[kind]
			avg := int64(0)
			if u.Count > 0 {
				avg = u.ValueBytes / u.Count
			}
			fmt.Fprintf(w, "   keys %-8s %7d, values %s (mean %s, max %s)\n", kind, u.Count, bytesText(u.ValueBytes), bytesText(avg), bytesText(u.MaxBytes))
		}
	}
	fmt.Fprintf(w, "\n== generator: setup %.1fs, simulated hosts' state about %s, Go heap after the run %s\n",
		r.Generator.SetupSeconds, bytesText(r.Generator.StateBytes), bytesText(int64(r.Generator.HeapBytes)))
	if ch := r.Check; ch != nil {
		fmt.Fprintf(w, "\n== check against the admin API: %s\n", ch.summary())
		for _, m := range ch.Mismatches {
			fmt.Fprintf(w, "   MISMATCH %s\n", m)
		}
	}
}

func (k *KindStats) statusOrZero(status string) int64 {
	if k == nil {
		return 0
	}
	return k.Statuses[status]
}

func statusText(m map[string]int64) string {
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
	}
	return strings.Join(parts, ", ")
}

func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", s*1e3)
	default:
		return fmt.Sprintf("%.2fs", s)
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
