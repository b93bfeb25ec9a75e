// Package loadgen simulates a fleet of onus-agents against a collector, to measure what the
// collector and its etcd store carry: reports per second, latencies, memory, database size
// and write rate.
//
// Each simulated host has a stable host ID, facts (OS, CPU, memory, filesystems,
// interfaces, labels), systemd services, listening ports, and a few hundred to a few
// thousand packages drawn from a Pool shared by the fleet. Like a real agent, it enrolls,
// sends a full report, and then, once per round, either a heartbeat (its capacity figures
// changing) or, with the churn probability, a delta with the install, remove and upgrade
// events of a package manager run, built with protocol.Diff, protocol.Events and
// protocol.Hash. It answers need_full with a full report, enrolls again on 401, and backs
// off on 429, 503 and network errors, honouring Retry-After.
//
// A host's packages are kept as indices into the pool (four bytes each); its
// protocol.State is materialized only to build a report, so 10,000 hosts of 1,000 packages
// take tens of MiB.
//
// A run has three phases, measured separately: enroll, ramp-up (the first full reports)
// and steady state (heartbeats and churn deltas, paced at one report per host per
// Interval, or as fast as the collector answers).
//
// The package sits at the top of the tree, beside collector/ and agent/, not in internal/:
// it starts and drives a collector (Embedded uses collector/app), and internal/ holds only
// what everything else builds on. Its command is collector/loadgen (onus-loadgen); the
// fault campaign in chaos/ uses it as a library.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/pki"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/version"
)

// Defaults of Options.
const (
	DefaultConcurrency    = 64
	DefaultInterval       = 60 * time.Second
	DefaultMinPackages    = 300
	DefaultMaxPackages    = 3000
	DefaultPool           = 20000
	DefaultUniqueFraction = 0.001
	DefaultServices       = 40
	DefaultListeners      = 6
	DefaultMaxRetries     = 8
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultHTTPTimeout    = 2 * time.Minute
	DefaultDrain          = time.Minute
)

// Phase names.
const (
	PhaseEnroll = "enroll"
	PhaseRampUp = "ramp-up"
	PhaseSteady = "steady"
)

// ErrInsecureURL is returned by New for an http:// URL without InsecureHTTP.
var ErrInsecureURL = errors.New("loadgen: collector URL is plain http:// (allow it explicitly, for local use only)")

// Options configure a Generator. URL, EnrollSecret and Hosts are required; zero values
// take the defaults.
type Options struct {
	// URL is the collector's base URL.
	URL string
	// InsecureHTTP allows an http:// URL; CAFile adds trusted CA certificates (PEM).
	InsecureHTTP bool
	CAFile       string
	EnrollSecret string
	// AdminToken, when set, lets Run compare the collector's answers with what was sent.
	AdminToken string

	// Hosts is the number of simulated hosts, Concurrency the requests in flight at most
	// (one connection each).
	Hosts       int
	Concurrency int
	// Rounds and SteadyDuration bound the steady state: it ends after Rounds rounds (one
	// report per host each) or after SteadyDuration, whichever comes first; with neither,
	// it runs one round.
	Rounds         int
	SteadyDuration time.Duration
	// Interval is the time between two steady-state reports of one host (60 s by
	// default, as an agent's heartbeat); the hosts' turns are spread evenly over it. A
	// negative Interval sends as fast as the collector answers.
	Interval time.Duration
	// Churn is the probability that a host changes packages in a round (0 to 1).
	Churn float64
	// MinPackages and MaxPackages bound the packages of a host (log-uniform between).
	MinPackages, MaxPackages int
	// Pool is the number of titles of the shared package pool.
	Pool int
	// UniqueFraction is the share of a host's packages that no other host has (local
	// builds); negative means none.
	UniqueFraction float64
	// Services and Listeners are the systemd units and listening sockets of each host.
	Services, Listeners int
	// Seed makes the fleet reproducible: the same seed draws the same hosts and changes.
	Seed uint64

	// MaxRetries bounds the retries of one request after 429, 503 or network errors;
	// BackoffMin and BackoffMax bound the delay (full jitter, at least Retry-After).
	MaxRetries             int
	BackoffMin, BackoffMax time.Duration
	HTTPTimeout            time.Duration
	// Drain is how long the steady state waits for the reports still in flight (or
	// backing off) at its end.
	Drain time.Duration

	// NoMetrics skips reading the collector's /metrics around the phases.
	NoMetrics bool
	// CollectorPID, when set, is the process ID of the collector (on this machine, Linux):
	// each phase then reads its CPU and memory from /proc (PhaseStats.Process), sampled
	// every ProcessWindow (1 s by default), and the collector's idle CPU is measured for
	// CollectorIdle between the full reports and the steady state (0: not measured).
	CollectorPID  int
	ProcessWindow time.Duration
	CollectorIdle time.Duration
	// Embedded says the collector runs in this process (for the report's wording).
	Embedded bool
	// OnPhase is called as a phase starts and after it ended (to take profiles, say).
	OnPhase func(phase string, starting bool)
	// Progress receives a line of progress every ProgressInterval (10 s by default).
	Progress         io.Writer
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// Generator simulates a fleet.
type Generator struct {
	opts     Options
	base     string
	client   *http.Client
	log      *slog.Logger
	pool     *Pool
	hosts    []*host
	services [2][][]model.Service
	setup    time.Duration
	cursor   int // the steady state's next host
}

var agentVersion = "onus-loadgen/" + version.Version

// New validates opts and draws the fleet (which takes a moment for large fleets). It
// sends nothing.
func New(opts Options) (*Generator, error) {
	start := time.Now()
	u, err := url.Parse(opts.URL)
	switch {
	case opts.URL == "":
		return nil, errors.New("loadgen: no collector URL")
	case err != nil:
		return nil, fmt.Errorf("loadgen: collector URL: %w", err)
	case u.Scheme == "http" && !opts.InsecureHTTP:
		return nil, ErrInsecureURL
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("loadgen: collector URL %q: want https://", opts.URL)
	case u.Host == "":
		return nil, fmt.Errorf("loadgen: collector URL %q has no host", opts.URL)
	}
	if opts.EnrollSecret == "" {
		return nil, errors.New("loadgen: no enroll secret")
	}
	if opts.Hosts <= 0 {
		return nil, errors.New("loadgen: the number of hosts must be 1 or more")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.Concurrency, DefaultConcurrency)
	def(&opts.MinPackages, DefaultMinPackages)
	def(&opts.MaxPackages, DefaultMaxPackages)
	def(&opts.Pool, DefaultPool)
	def(&opts.Services, DefaultServices)
	def(&opts.Listeners, DefaultListeners)
	def(&opts.MaxRetries, DefaultMaxRetries)
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defd(&opts.Interval, DefaultInterval)
	defd(&opts.BackoffMin, DefaultBackoffMin)
	defd(&opts.BackoffMax, DefaultBackoffMax)
	defd(&opts.HTTPTimeout, DefaultHTTPTimeout)
	defd(&opts.Drain, DefaultDrain)
	defd(&opts.ProgressInterval, 10*time.Second)
	defd(&opts.ProcessWindow, DefaultProcessWindow)
	if opts.CollectorPID < 0 || opts.CollectorIdle < 0 {
		return nil, errors.New("loadgen: negative collector PID or idle time")
	}
	switch {
	case opts.UniqueFraction == 0:
		opts.UniqueFraction = DefaultUniqueFraction
	case opts.UniqueFraction < 0:
		opts.UniqueFraction = 0
	case opts.UniqueFraction > 0.5:
		return nil, errors.New("loadgen: the unique fraction must be at most 0.5")
	}
	switch {
	case opts.Concurrency < 0 || opts.MaxRetries < 0 || opts.Services < 0 || opts.Listeners < 0:
		return nil, errors.New("loadgen: negative concurrency, retries, services or listeners")
	case opts.MinPackages < 1 || opts.MaxPackages < opts.MinPackages:
		return nil, fmt.Errorf("loadgen: packages per host %d-%d: want 1 <= min <= max", opts.MinPackages, opts.MaxPackages)
	case opts.MaxPackages > protocol.MaxSoftware/2:
		return nil, fmt.Errorf("loadgen: at most %d packages per host", protocol.MaxSoftware/2)
	case opts.Churn < 0 || opts.Churn > 1:
		return nil, errors.New("loadgen: churn must be between 0 and 1")
	case opts.Rounds < 0 || opts.SteadyDuration < 0:
		return nil, errors.New("loadgen: negative rounds or steady duration")
	case opts.Pool > 1<<(32-verBits-1):
		return nil, errors.New("loadgen: pool too large")
	}
	if opts.Rounds == 0 && opts.SteadyDuration == 0 {
		opts.Rounds = 1
	}
	tr := &http.Transport{
		MaxIdleConns: 2 * opts.Concurrency, MaxIdleConnsPerHost: 2 * opts.Concurrency, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second,
	}
	if tr.TLSClientConfig, err = pki.ClientConfig(opts.CAFile, "", "", nil); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	g := &Generator{opts: opts, base: strings.TrimSuffix(opts.URL, "/"), client: &http.Client{Transport: tr, Timeout: opts.HTTPTimeout},
		log: opts.Logger}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.pool = NewPool(opts.Pool, opts.Seed)
	for fam := range g.services {
		g.services[fam] = make([][]model.Service, len(roles))
		for r := range roles {
			g.services[fam][r] = roleServices(fam, r, opts.Services)
		}
	}
	// Draw the hosts in parallel: each from its own seed, so the order does not matter.
	g.hosts = make([]*host, opts.Hosts)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			scratch := make([]bool, len(g.pool.titles))
			for {
				i := int(next.Add(1) - 1)
				if i >= len(g.hosts) {
					return
				}
				g.hosts[i] = g.newHost(i, scratch)
			}
		})
	}
	wg.Wait()
	g.setup = time.Since(start)
	return g, nil
}

// Run enrolls the fleet, sends its full reports and runs the steady state, reading the
// collector's metrics around each phase. It returns what it measured, also when ctx ends
// early (with ctx's error).
func (g *Generator) Run(ctx context.Context) (*Result, error) {
	res := &Result{Config: g.config()}
	res.Generator.SetupSeconds = g.setup.Seconds()
	enroll := g.Enroll(ctx)
	res.Phases = append(res.Phases, enroll)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if enroll.Done == 0 {
		return res, fmt.Errorf("loadgen: no host could enroll (%s)", statusText(enroll.Statuses))
	}
	res.Phases = append(res.Phases, g.RampUp(ctx))
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if g.opts.CollectorPID > 0 && g.opts.CollectorIdle > 0 {
		res.CollectorIdle = watchIdle(ctx, g.opts.CollectorPID, g.opts.CollectorIdle)
	}
	res.Phases = append(res.Phases, g.Steady(ctx, g.opts.Rounds, g.opts.SteadyDuration))
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Collector = g.CollectorFigures(ctx)
	if g.opts.AdminToken != "" {
		ch, err := g.Check(ctx, g.opts.AdminToken, 40)
		if err != nil {
			ch = &Check{Error: err.Error()}
		}
		res.Check = ch
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.Generator.HeapBytes = ms.HeapInuse
	res.Generator.StateBytes = g.stateBytes()
	return res, nil
}

// CollectorFigures reads the collector's gauges from its /metrics.
func (g *Generator) CollectorFigures(ctx context.Context) *CollectorFigures {
	if g.opts.NoMetrics {
		return nil
	}
	m, err := fetchMetrics(ctx, g.client, g.base+"/metrics")
	if err != nil {
		return &CollectorFigures{Error: err.Error(), SharedProcess: g.opts.Embedded}
	}
	f := collectorFigures(m)
	f.SharedProcess = g.opts.Embedded
	return f
}

func (g *Generator) config() Config {
	c := Config{URL: g.base, Mode: "external", Hosts: len(g.hosts), Concurrency: g.opts.Concurrency, MinPackages: g.opts.MinPackages,
		MaxPackages: g.opts.MaxPackages, Pool: g.pool.Len(), Churn: g.opts.Churn, Rounds: g.opts.Rounds,
		SteadySeconds: g.opts.SteadyDuration.Seconds(), Seed: g.opts.Seed}
	if g.opts.Embedded {
		c.Mode = "embedded"
	}
	if g.opts.Interval > 0 {
		c.IntervalSeconds = g.opts.Interval.Seconds()
	}
	seen := make([]bool, len(g.pool.titles))
	for _, h := range g.hosts {
		c.TotalPackages += int64(len(h.pkgs))
		for _, p := range h.pkgs {
			if t := refTitle(p); int(t) < len(seen) {
				if !seen[t] {
					seen[t] = true
					c.FleetTitles++
				}
			} else {
				c.FleetTitles++ // a host's own title
			}
		}
	}
	c.MeanPackages = float64(c.TotalPackages) / float64(len(g.hosts))
	return c
}

// stateBytes estimates the memory the simulated hosts take.
func (g *Generator) stateBytes() int64 {
	var n int64
	for _, h := range g.hosts {
		n += 1200 + int64(cap(h.pkgs)+cap(h.accPkgs))*4 + int64(len(h.times)+len(h.accTimes))*24 +
			int64(len(h.listeners))*96 + int64(len(h.journal))*200
	}
	return n
}

// Enroll enrolls every host that has no credential yet.
func (g *Generator) Enroll(ctx context.Context) *PhaseStats {
	r := g.start(ctx, PhaseEnroll)
	for _, h := range g.hosts {
		if ctx.Err() != nil {
			break
		}
		if h.cred == "" {
			r.submit(h)
		}
	}
	return r.finish(0)
}

// RampUp sends every host's first full report (enrolling hosts that could not enroll
// before).
func (g *Generator) RampUp(ctx context.Context) *PhaseStats {
	r := g.start(ctx, PhaseRampUp)
	for _, h := range g.hosts {
		if ctx.Err() != nil {
			break
		}
		if h.accHash == "" {
			r.submit(h)
		}
	}
	return r.finish(0)
}

// Steady runs the steady state for rounds rounds or for d, whichever ends first (zero:
// no bound of that kind; both zero: one round). Each round every host sends one report:
// a delta when its packages changed (with probability Churn), a heartbeat otherwise.
func (g *Generator) Steady(ctx context.Context, rounds int, d time.Duration) *PhaseStats {
	if rounds == 0 && d == 0 {
		rounds = 1
	}
	r := g.start(ctx, PhaseSteady)
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	n := len(g.hosts)
	if g.opts.Interval > 0 {
		r.phase.TargetPerSec = float64(n) / g.opts.Interval.Seconds()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
dispatch:
	for round := 0; rounds == 0 || round < rounds; round++ {
		roundStart := start.Add(time.Duration(round) * max(g.opts.Interval, 0))
		for i, h := range g.hosts {
			due := time.Now()
			if g.opts.Interval > 0 {
				due = roundStart.Add(g.opts.Interval * time.Duration(i) / time.Duration(n))
				if wait := time.Until(due); wait > time.Millisecond {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						break dispatch
					case <-timer.C:
					}
				}
			}
			if ctx.Err() != nil || (!deadline.IsZero() && due.After(deadline)) {
				break dispatch
			}
			if r.submit(h) {
				r.phase.lag(max(time.Since(due), 0))
			}
		}
		r.phase.Rounds++
	}
	return r.finish(g.opts.Drain)
}

// Driver feeds the steady state one report at a time (see StartSteady).
type Driver struct{ r *runner }

// StartSteady starts a steady state whose reports the caller dispatches with Submit, one
// host after the other, until Stop. Benchmarks use it.
func (g *Generator) StartSteady(ctx context.Context) *Driver {
	return &Driver{r: g.start(ctx, PhaseSteady)}
}

// Submit hands the next host's report to a free worker, waiting for one; hosts still busy
// with their previous report are passed over.
func (d *Driver) Submit() {
	g := d.r.g
	for tries := 0; d.r.ctx.Err() == nil; tries++ {
		h := g.hosts[g.cursor]
		g.cursor = (g.cursor + 1) % len(g.hosts)
		if h.busy.Load() {
			if tries >= len(g.hosts) {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		d.r.submit(h)
		return
	}
}

// Stop waits for the reports in flight and returns the phase's figures.
func (d *Driver) Stop() *PhaseStats { return d.r.finish(d.r.g.opts.Drain) }

// job is one turn of one host: an enrollment or a report, with its retries.
type job struct {
	h        *host
	req      *request // the request to send again after a transient failure
	started  bool     // the turn's software changes are done
	attempts int      // transient failures so far
	refusals int      // need_full, 401 and other refusals so far
}

// runner runs one phase's jobs on Concurrency workers.
type runner struct {
	g       *Generator
	ctx     context.Context
	cancel  context.CancelFunc
	phase   *PhaseStats
	before  metricSet
	proc    *procWatch // nil without Options.CollectorPID
	jobs    chan *job
	pending sync.WaitGroup // jobs not ended
	workers sync.WaitGroup
	stop    chan struct{} // ends the progress lines
	warned  atomic.Int64
}

func (g *Generator) start(ctx context.Context, name string) *runner {
	if g.opts.OnPhase != nil {
		g.opts.OnPhase(name, true)
	}
	r := &runner{g: g, jobs: make(chan *job), stop: make(chan struct{})}
	if !g.opts.NoMetrics {
		m, err := fetchMetrics(ctx, g.client, g.base+"/metrics")
		if err != nil {
			g.log.Warn("cannot read the collector's metrics", "err", err)
		}
		r.before = m
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.phase = newPhase(name)
	if g.opts.CollectorPID > 0 {
		r.proc = startProcWatch(g.opts.CollectorPID, r.phase, g.opts.ProcessWindow)
	}
	for range g.opts.Concurrency {
		r.workers.Go(func() {
			// A label tells the generator's work from the collector's in CPU profiles
			// of a run with the collector in this process (pprof -tagignore=loadgen).
			pprof.Do(context.Background(), pprof.Labels("loadgen", r.phase.Name), func(context.Context) {
				for j := range r.jobs {
					r.handle(j)
				}
			})
		})
	}
	if g.opts.Progress != nil {
		r.workers.Go(r.progress)
	}
	return r
}

// submit hands h's next turn to a worker, unless h is still busy with the previous one.
func (r *runner) submit(h *host) bool {
	if !h.busy.CompareAndSwap(false, true) {
		r.phase.mu.Lock()
		r.phase.Skipped++
		r.phase.mu.Unlock()
		return false
	}
	r.pending.Add(1)
	r.phase.mu.Lock()
	r.phase.Jobs++
	r.phase.mu.Unlock()
	j := &job{h: h}
	select {
	case r.jobs <- j:
	case <-r.ctx.Done():
		r.end(j, false)
	}
	return true
}

// finish waits for the phase's jobs (at most drain when it is not zero, then cancels
// them), and returns its figures.
func (r *runner) finish(drain time.Duration) *PhaseStats {
	done := make(chan struct{})
	go func() { r.pending.Wait(); close(done) }()
	if drain > 0 {
		select {
		case <-done:
		case <-time.After(drain):
			r.g.log.Warn("reports still in flight at the end of the phase: cancelling them", "phase", r.phase.Name)
			r.cancel()
		}
	}
	<-done
	if r.proc != nil {
		r.proc.end()
	}
	close(r.jobs)
	close(r.stop)
	r.workers.Wait()
	r.cancel()
	r.phase.finish()
	if r.proc != nil {
		r.phase.Process = r.proc.figures(r.phase)
	}
	if r.before != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if after, err := fetchMetrics(ctx, r.g.client, r.g.base+"/metrics"); err == nil {
			r.phase.Collector = collectorDelta(r.before, after)
		}
	}
	if r.g.opts.OnPhase != nil {
		r.g.opts.OnPhase(r.phase.Name, false)
	}
	return r.phase
}

func (r *runner) progress() {
	t := time.NewTicker(r.g.opts.ProgressInterval)
	defer t.Stop()
	var lastReq int64
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			jobs, done, gaveUp, reqs, st, win := r.phase.progress()
			rate := float64(reqs-lastReq) / now.Sub(last).Seconds()
			lastReq, last = reqs, now
			fmt.Fprintf(r.g.opts.Progress, "[%s %s] turns %d (done %d, gave up %d), requests %d (%.1f/s), latency p50 %s p99 %s max %s; %s\n",
				r.phase.Name, time.Since(r.phase.Start).Round(time.Second), jobs, done, gaveUp, reqs, rate,
				secs(win.P50), secs(win.P99), secs(win.Max), statusText(st))
		}
	}
}

// end closes a job: the host is free for its next turn.
func (r *runner) end(j *job, done bool) {
	r.phase.jobEnded(done)
	j.h.busy.Store(false)
	r.pending.Done()
}

// retry sends j again after a backoff.
func (r *runner) retry(j *job, retryAfter time.Duration) {
	j.attempts++
	if j.attempts > r.g.opts.MaxRetries {
		r.end(j, false)
		return
	}
	ceiling := r.g.opts.BackoffMax
	if shift := j.attempts - 1; shift < 30 {
		ceiling = min(ceiling, r.g.opts.BackoffMin<<shift)
	}
	d := max(time.Duration(rand.Int64N(int64(ceiling)+1)), retryAfter, 10*time.Millisecond)
	time.AfterFunc(d, func() {
		select {
		case r.jobs <- j:
		case <-r.ctx.Done():
			r.end(j, false)
		}
	})
}

func (r *runner) warn(msg string, args ...any) {
	if r.warned.Add(1) <= 10 {
		r.g.log.Warn(msg, append(args, "phase", r.phase.Name)...)
	}
}

func (r *runner) handle(j *job) {
	if r.ctx.Err() != nil {
		r.end(j, false)
		return
	}
	h := j.h
	if r.phase.Name == PhaseEnroll || h.cred == "" {
		switch ok, retryAfter, transient := r.enroll(h); {
		case !ok && transient:
			r.retry(j, retryAfter)
			return
		case !ok:
			r.end(j, false)
			return
		case r.phase.Name == PhaseEnroll:
			r.end(j, true)
			return
		}
	}
	for {
		if j.req == nil {
			start := time.Now()
			cpu := startCPU()
			var cur, held *protocol.State
			if r.phase.Name == PhaseSteady && !j.started {
				j.started = true
				if r.g.opts.Churn > 0 && h.rng.Float64() < r.g.opts.Churn {
					cur, held = r.g.churn(h, start)
				}
			}
			req, err := r.g.build(h, start, cur, held)
			spent, _ := cpu.stop()
			r.phase.addBuild(spent)
			if err != nil {
				r.warn("cannot build a report", "host_id", h.id, "err", err)
				r.end(j, false)
				return
			}
			j.req = req
		}
		req := j.req
		a := r.g.post(r.ctx, protocol.PathReport, h.cred, req.body, true)
		status := a.statusName()
		ok := a.status == http.StatusOK
		if ok {
			switch {
			case a.resp.Status == protocol.StatusAccepted && a.resp.Hash == req.hash:
				status = StatusAccepted
				if a.resp.Duplicate {
					status = StatusDuplicate
				}
			case a.resp.Status == protocol.StatusNeedFull:
				status = StatusNeedFull
			case a.resp.Status == protocol.StatusAccepted:
				status = StatusMismatch
			default:
				status = StatusBadAnswer
			}
		}
		r.phase.record(req.kind, status, len(req.body), a.latency, ok, req.events)
		switch {
		case status == StatusAccepted || status == StatusDuplicate:
			h.commit(req)
			r.end(j, true)
			return
		case status == StatusNeedFull || status == StatusMismatch:
			// The collector lacks the base state: send the whole state, with the events.
			h.forceFull = true
			j.req = nil
		case a.status == http.StatusUnauthorized:
			// The refused credential is presented again: the proof that an enrolled host
			// ID is this host's.
			r.warn("the collector refused the credential; enrolling again", "host_id", h.id, "error", a.msg)
			h.forceFull = true
			j.req = nil
			if ok, retryAfter, transient := r.enroll(h); !ok {
				if transient {
					r.retry(j, retryAfter)
				} else {
					r.end(j, false)
				}
				return
			}
		case a.transient():
			r.retry(j, a.retryAfter)
			return
		default:
			r.warn("the collector refused a report", "host_id", h.id, "kind", req.kind, "status", a.status, "error", a.msg)
			if req.kind == protocol.KindFull {
				r.end(j, false)
				return
			}
			h.forceFull = true
			j.req = nil
		}
		j.refusals++
		if j.refusals > 3 {
			r.end(j, false)
			return
		}
	}
}

// enroll gets h a credential. It says whether that worked, and whether a failure is worth
// a retry (after retryAfter at least).
func (r *runner) enroll(h *host) (ok bool, retryAfter time.Duration, transient bool) {
	body, err := json.Marshal(protocol.EnrollRequest{EnrollSecret: r.g.opts.EnrollSecret, HostID: h.id, Hostname: h.facts.Hostname, AgentVersion: agentVersion,
		Credential: h.cred})
	if err != nil {
		return false, 0, false
	}
	a := r.g.post(r.ctx, protocol.PathEnroll, "", body, false)
	status := a.statusName()
	var resp protocol.EnrollResponse
	if a.status == http.StatusOK {
		status = StatusEnrolled
		if err := json.Unmarshal(a.data, &resp); err != nil || resp.Credential == "" || resp.HostID != h.id {
			status = StatusBadAnswer
		}
	}
	r.phase.record(KindEnroll, status, len(body), a.latency, a.status == http.StatusOK, 0)
	switch {
	case status == StatusEnrolled:
		h.cred = resp.Credential
		return true, 0, false
	case a.transient():
		return false, a.retryAfter, true
	}
	r.warn("enrollment refused", "host_id", h.id, "status", a.status, "error", a.msg)
	return false, 0, false
}

// churn applies a round's software changes to h and journals their events. It returns the
// states the report needs: the new current one, and the one the collector holds when it
// was the current one before.
func (g *Generator) churn(h *host, now time.Time) (cur, held *protocol.State) {
	heldBefore := h.accHash != "" && h.accPkgs == nil
	before := g.state(h, h.pkgs, h.times)
	if !g.change(h, now.Unix()) {
		return nil, nil
	}
	after := g.state(h, h.pkgs, h.times)
	h.journal = append(h.journal, protocol.Events(&before, &after, now)...)
	h.curHash = protocol.Hash(&after)
	if heldBefore {
		return &after, &before
	}
	return &after, nil
}

// request is a built request, kept to be sent again as it is.
type request struct {
	kind   string
	seq    uint64
	hash   string
	body   []byte
	events int
}

// build makes h's next report the way the agent does: a full report when one is due or the
// collector holds nothing of h, a heartbeat when the collector holds h's current state, a
// delta otherwise; every report carries the events the collector has not accepted yet.
// cur and held are h's current state and the one the collector holds, when the caller
// has them.
func (g *Generator) build(h *host, now time.Time, cur, held *protocol.State) (*request, error) {
	if h.curHash == "" {
		if cur == nil {
			st := g.state(h, h.pkgs, h.times)
			cur = &st
		}
		h.curHash = protocol.Hash(cur)
	}
	h.seq++
	rep := protocol.Report{HostID: h.id, Seq: h.seq, SentAt: now.UTC(), AgentVersion: agentVersion, Hash: h.curHash,
		Capacity: h.capacity(now), Events: h.journal}
	switch {
	case h.forceFull || h.accHash == "":
		if cur == nil {
			st := g.state(h, h.pkgs, h.times)
			cur = &st
		}
		rep.Kind, rep.State, rep.BaseHash = protocol.KindFull, cur, h.accHash
	case h.accHash == h.curHash:
		rep.Kind, rep.BaseHash = protocol.KindHeartbeat, h.accHash
	default:
		if cur == nil {
			st := g.state(h, h.pkgs, h.times)
			cur = &st
		}
		if held == nil {
			pkgs, times := h.held()
			st := g.state(h, pkgs, times)
			held = &st
		}
		rep.Kind, rep.BaseHash, rep.Delta = protocol.KindDelta, h.accHash, protocol.Diff(held, cur)
	}
	body, err := protocol.Marshal(&rep)
	if err != nil {
		return nil, err
	}
	return &request{kind: rep.Kind, seq: rep.Seq, hash: rep.Hash, body: body, events: len(rep.Events)}, nil
}

// commit records that the collector accepted req: it now holds h's current state.
func (h *host) commit(req *request) {
	h.accHash = req.hash
	h.accPkgs, h.accTimes = nil, nil
	h.accEvents += req.events
	h.journal = nil
	if req.kind == protocol.KindFull {
		h.forceFull = false
	}
}

// answer is the outcome of one request.
type answer struct {
	status     int // 0: no answer
	resp       protocol.ReportResponse
	data       []byte
	msg        string
	retryAfter time.Duration
	latency    time.Duration
}

func (a *answer) statusName() string {
	if a.status == 0 {
		return StatusError
	}
	return "http_" + strconv.Itoa(a.status)
}

// transient says whether the request is worth sending again as it is.
func (a *answer) transient() bool {
	return a.status == 0 || a.status == http.StatusRequestTimeout || a.status == http.StatusTooManyRequests || a.status >= 500
}

// post sends body to path and reads the answer.
func (g *Generator) post(ctx context.Context, path, cred string, body []byte, gzipped bool) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(body))
	if err != nil {
		return answer{msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", agentVersion)
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return answer{msg: err.Error(), latency: time.Since(start)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	a := answer{status: resp.StatusCode, data: data, latency: time.Since(start)}
	if err != nil {
		return answer{msg: "reading the answer: " + err.Error(), latency: a.latency}
	}
	a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	if a.status == http.StatusOK {
		if path == protocol.PathReport {
			_ = json.Unmarshal(data, &a.resp)
		}
		return a
	}
	var e protocol.ErrorResponse
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		a.msg = e.Error
	} else {
		a.msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	return a
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(min(n, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
