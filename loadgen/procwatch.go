package loadgen

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"
)

// DefaultProcessWindow is how often the collector's process is sampled during a phase.
const DefaultProcessWindow = time.Second

// ProcessFigures are what /proc showed of the collector's own process during one phase
// (Options.CollectorPID): its CPU, without the generator's, and its memory.
type ProcessFigures struct {
	PID     int     `json:"pid"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the growth of utime+stime (/proc/PID/stat, clock ticks of USER_HZ,
	// 10 ms at 100 Hz); ClockCPUSeconds that of the process's CPU-time clock (ns), which
	// the per-kind split uses when it is there.
	CPUSeconds      float64 `json:"cpu_seconds"`
	ClockCPUSeconds float64 `json:"cpu_clock_seconds,omitempty"`
	Cores           float64 `json:"cores"`
	// Answered counts the requests answered 200 (reports and enrollments), CPUMsPerAnswer
	// the collector's CPU per answer, background work included.
	Answered       int64   `json:"answered"`
	CPUMsPerAnswer float64 `json:"cpu_ms_per_answer"`
	// Kinds are the figures by request kind (enroll, full, delta, heartbeat).
	Kinds map[string]*ProcessKind `json:"kinds,omitempty"`
	// Split says how the CPU per kind was found: "single kind" (the phase's CPU over its
	// one kind), "regression" (least squares over the sampling windows, CPU = Σ
	// ms_per_kind × answers of the kind, no constant term: background work is shared out
	// among the kinds), or why it could not be.
	Split   string `json:"split"`
	Windows int    `json:"windows"`
	// RSS at the start and the end, its highest sample, and VmHWM (the process's peak since
	// it started) at the end.
	RSSStartBytes uint64 `json:"rss_start_bytes"`
	RSSEndBytes   uint64 `json:"rss_end_bytes"`
	RSSMaxBytes   uint64 `json:"rss_max_bytes"`
	// HWMEndBytes is VmHWM at the end, or the highest sampled RSS when that is higher: the
	// kernel updates its high-water mark lazily, so a sample can be above it for a while.
	HWMEndBytes uint64 `json:"hwm_end_bytes"`
	Error       string `json:"error,omitempty"`
}

// ProcessKind are the collector's figures for one kind of request in a phase.
type ProcessKind struct {
	Answered  int64   `json:"answered"`
	PerSecond float64 `json:"per_second"`
	// CPUMs is the collector's CPU per answer of this kind (nil: not separable), with its
	// standard error for a regression.
	CPUMs       *float64 `json:"cpu_ms,omitempty"`
	CPUMsStdErr float64  `json:"cpu_ms_stderr,omitempty"`
	P50         float64  `json:"p50_seconds"`
	P99         float64  `json:"p99_seconds"`
}

// procWindow is one sampling window: the collector's CPU and the answers by kind.
type procWindow struct {
	cpu    float64
	counts map[string]int64
}

// procWatch samples the collector's process through one phase.
type procWatch struct {
	pid         int
	phase       *PhaseStats
	useClock    bool
	first, last procSample
	maxRSS      uint64
	windows     []procWindow
	err         error
	stop, done  chan struct{}
}

// CheckProcess reads process pid's figures once: whether Options.CollectorPID can work.
func CheckProcess(pid int) error {
	_, err := readProc(pid)
	return err
}

func startProcWatch(pid int, p *PhaseStats, every time.Duration) *procWatch {
	w := &procWatch{pid: pid, phase: p, stop: make(chan struct{}), done: make(chan struct{})}
	s, err := readProc(pid)
	p.takeWindow()
	if err != nil {
		w.err = err
		close(w.done)
		return w
	}
	w.first, w.last, w.maxRSS, w.useClock = s, s, s.rss, s.clockOK
	go w.loop(every)
	return w
}

func (w *procWatch) loop(every time.Duration) {
	defer close(w.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.sample()
			return
		case <-t.C:
			w.sample()
		}
	}
}

func (w *procWatch) cpuOf(s procSample) time.Duration {
	if w.useClock {
		return s.clock
	}
	return s.cpu
}

func (w *procWatch) sample() {
	if w.err != nil {
		return
	}
	s, err := readProc(w.pid)
	counts := w.phase.takeWindow()
	if err == nil && w.useClock && !s.clockOK {
		err = fmt.Errorf("collector process %d: its CPU clock can no longer be read", w.pid)
	}
	if err != nil {
		w.err = err
		return
	}
	w.windows = append(w.windows, procWindow{cpu: (w.cpuOf(s) - w.cpuOf(w.last)).Seconds(), counts: counts})
	w.last = s
	w.maxRSS = max(w.maxRSS, s.rss)
}

// end stops the sampling, with a last sample.
func (w *procWatch) end() {
	select {
	case <-w.done:
	default:
		close(w.stop)
		<-w.done
	}
}

// figures sums the phase up; p's latencies must be final (after p.finish).
func (w *procWatch) figures(p *PhaseStats) *ProcessFigures {
	f := &ProcessFigures{PID: w.pid, Windows: len(w.windows), RSSStartBytes: w.first.rss, RSSEndBytes: w.last.rss,
		RSSMaxBytes: w.maxRSS, HWMEndBytes: max(w.last.hwm, w.maxRSS), Kinds: map[string]*ProcessKind{}}
	if w.err != nil {
		f.Error = w.err.Error()
	}
	if w.first.at.IsZero() {
		return f
	}
	f.Seconds = w.last.at.Sub(w.first.at).Seconds()
	f.CPUSeconds = (w.last.cpu - w.first.cpu).Seconds()
	if w.useClock {
		f.ClockCPUSeconds = (w.last.clock - w.first.clock).Seconds()
	}
	cpu := (w.cpuOf(w.last) - w.cpuOf(w.first)).Seconds()
	if f.Seconds > 0 {
		f.Cores = cpu / f.Seconds
	}
	for kind, k := range p.Kinds {
		if k.Latency.Count == 0 {
			continue
		}
		pk := &ProcessKind{Answered: k.Latency.Count, P50: k.Latency.P50, P99: k.Latency.P99}
		if f.Seconds > 0 {
			pk.PerSecond = float64(pk.Answered) / f.Seconds
		}
		f.Kinds[kind] = pk
		f.Answered += pk.Answered
	}
	if f.Answered > 0 {
		f.CPUMsPerAnswer = cpu * 1e3 / float64(f.Answered)
	}
	f.split(cpu, w.windows)
	return f
}

// split shares the phase's CPU out among its kinds.
func (f *ProcessFigures) split(cpu float64, windows []procWindow) {
	kinds := slices.Sorted(maps.Keys(f.Kinds))
	switch {
	case len(kinds) == 0:
		f.Split = "no answers"
		return
	case len(kinds) == 1:
		ms := cpu * 1e3 / float64(f.Kinds[kinds[0]].Answered)
		f.Kinds[kinds[0]].CPUMs = &ms
		f.Split = "single kind"
		return
	}
	x := make([][]float64, len(windows))
	y := make([]float64, len(windows))
	for i, win := range windows {
		x[i] = make([]float64, len(kinds))
		for j, k := range kinds {
			x[i][j] = float64(win.counts[k])
		}
		y[i] = win.cpu
	}
	coef, stderr, err := leastSquares(x, y)
	if err == nil {
		for j, c := range coef {
			if c < 0 {
				err = fmt.Errorf("a negative CPU time for %s", kinds[j])
			}
		}
	}
	if err != nil {
		f.Split = "not separable: " + err.Error()
		return
	}
	f.Split = "regression"
	for j, k := range kinds {
		ms := coef[j] * 1e3
		f.Kinds[k].CPUMs, f.Kinds[k].CPUMsStdErr = &ms, stderr[j]*1e3
	}
}

// leastSquares fits y ≈ x·β without a constant term (the normal equations, solved by
// Gauss-Jordan elimination with partial pivoting), and returns β with the standard error
// of each coefficient.
func leastSquares(x [][]float64, y []float64) (beta, stderr []float64, err error) {
	n := len(y)
	if n == 0 {
		return nil, nil, fmt.Errorf("no windows")
	}
	p := len(x[0])
	if n < p+2 {
		return nil, nil, fmt.Errorf("%d windows for %d kinds", n, p)
	}
	// a = [XᵀX | I | Xᵀy], reduced to [I | (XᵀX)⁻¹ | β].
	a := make([][]float64, p)
	for r := range p {
		a[r] = make([]float64, 2*p+1)
		a[r][p+r] = 1
		for i := range n {
			for c := range p {
				a[r][c] += x[i][r] * x[i][c]
			}
			a[r][2*p] += x[i][r] * y[i]
		}
	}
	for c := range p {
		piv := c
		for r := c + 1; r < p; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[piv][c]) {
				piv = r
			}
		}
		if math.Abs(a[piv][c]) < 1e-9 {
			return nil, nil, fmt.Errorf("the kinds' answers vary together")
		}
		a[c], a[piv] = a[piv], a[c]
		div := a[c][c]
		for k := range a[c] {
			a[c][k] /= div
		}
		for r := range p {
			if r != c && a[r][c] != 0 {
				m := a[r][c]
				for k := range a[r] {
					a[r][k] -= m * a[c][k]
				}
			}
		}
	}
	beta = make([]float64, p)
	for r := range p {
		beta[r] = a[r][2*p]
	}
	var rss float64
	for i := range n {
		fit := 0.0
		for c := range p {
			fit += x[i][c] * beta[c]
		}
		rss += (y[i] - fit) * (y[i] - fit)
	}
	s2 := rss / float64(n-p)
	stderr = make([]float64, p)
	for r := range p {
		stderr[r] = math.Sqrt(s2 * a[r][p+r])
	}
	return beta, stderr, nil
}

// watchIdle samples the collector's process for d while nothing is sent.
func watchIdle(ctx context.Context, pid int, d time.Duration) *ProcessFigures {
	p := newPhase("idle")
	w := startProcWatch(pid, p, DefaultProcessWindow)
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	w.end()
	p.finish()
	f := w.figures(p)
	f.Split = ""
	return f
}

// writeProcess writes phase p's figures of the collector's process, and after the full
// reports those of the idle collector.
func (r *Result) writeProcess(w io.Writer, p *PhaseStats) {
	if f := p.Process; f != nil {
		f.writeText(w, p.Name)
	}
	if p.Name == PhaseRampUp && r.CollectorIdle != nil {
		fmt.Fprintf(w, "\n== idle (nothing sent): %.1fs\n", r.CollectorIdle.Seconds)
		r.CollectorIdle.writeText(w, "idle")
	}
}

func (f *ProcessFigures) writeText(w io.Writer, name string) {
	clock := ""
	if f.ClockCPUSeconds > 0 {
		clock = fmt.Sprintf(" (CPU clock %.2fs)", f.ClockCPUSeconds)
	}
	fmt.Fprintf(w, "   collector process %d (/proc): CPU %.2fs%s over %.2fs = %.2f cores; RSS %s -> %s (max sampled %s, peak VmHWM %s)\n",
		f.PID, f.CPUSeconds, clock, f.Seconds, f.Cores, bytesText(int64(f.RSSStartBytes)), bytesText(int64(f.RSSEndBytes)),
		bytesText(int64(f.RSSMaxBytes)), bytesText(int64(f.HWMEndBytes)))
	if f.Error != "" {
		fmt.Fprintf(w, "   collector process: %s\n", f.Error)
	}
	if name == "idle" {
		return
	}
	if f.Answered > 0 {
		fmt.Fprintf(w, "   collector CPU per answer %.3f ms (%d answers, background included); by kind (%s over %d windows):\n",
			f.CPUMsPerAnswer, f.Answered, f.Split, f.Windows)
	}
	for _, kind := range []string{KindEnroll, "full", "delta", "heartbeat"} {
		k := f.Kinds[kind]
		if k == nil {
			continue
		}
		ms := "-"
		if k.CPUMs != nil {
			ms = fmt.Sprintf("%.3f ms", *k.CPUMs)
			if k.CPUMsStdErr > 0 {
				ms += fmt.Sprintf(" ± %.3f", k.CPUMsStdErr)
			}
		}
		fmt.Fprintf(w, "     %-10s %8d answered, %8.1f/s, CPU %s each, latency p50 %s p99 %s\n", kind, k.Answered, k.PerSecond,
			ms, secs(k.P50), secs(k.P99))
	}
}
