package loadgen

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 14 and 15 (utime, stime) of a line from Linux 6.x, with the command name
	// replaced.
	line := func(comm string) string {
		return "4242 (" + comm + ") S 1 4242 4242 0 -1 4194560 93512 0 12 0 1234 567 0 0 20 0 9 0 8812 1363148800 22000 18446744073709551615 1 1 0 0 0 0 0 0 1073745400 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	}
	for _, tc := range []struct {
		name, data   string
		utime, stime uint64
		err          string
	}{
		{name: "plain", data: line("onus-collector"), utime: 1234, stime: 567},
		{name: "spaces", data: line("a b c"), utime: 1234, stime: 567},
		{name: "parentheses", data: line("x) 1 2 3 4 5 6 7 8 9 10 11 12 (y"), utime: 1234, stime: 567},
		{name: "ends with paren", data: line("))"), utime: 1234, stime: 567},
		{name: "empty name", data: line(""), utime: 1234, stime: 567},
		{name: "no paren", data: "4242 onus S 1 2 3", err: "no ')'"},
		{name: "short", data: "4242 (onus) S 1 4242 4242 0 -1 4194560 93512 0 12 0 1234", err: "fields after"},
		{name: "bad utime", data: strings.Replace(line("onus"), " 1234 ", " 12x4 ", 1), err: "utime"},
		{name: "bad stime", data: strings.Replace(line("onus"), " 567 ", " -5 ", 1), err: "stime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, s, err := parseStat(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || u != tc.utime || s != tc.stime {
				t.Fatalf("utime %d stime %d err %v, want %d %d", u, s, err, tc.utime, tc.stime)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tonus-collector\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1480000 kB\nVmSize:\t 1400000 kB\n" +
		"VmHWM:\t  250000 kB\nVmRSS:\t  200004 kB\nRssAnon:\t  150000 kB\nThreads:\t12\n"
	for _, tc := range []struct {
		name, data string
		rss, hwm   uint64
		err        string
	}{
		{name: "process", data: status, rss: 200004 << 10, hwm: 250000 << 10},
		{name: "zombie", data: "Name:\tonus-collector\nState:\tZ (zombie)\nThreads:\t1\n"},
		{name: "no unit", data: "VmRSS:\t123\n", err: "kB"},
		{name: "bad number", data: "VmHWM:\t12e3 kB\n", err: "VmHWM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rss, hwm, err := parseStatus(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || rss != tc.rss || hwm != tc.hwm {
				t.Fatalf("rss %d hwm %d err %v, want %d %d", rss, hwm, err, tc.rss, tc.hwm)
			}
		})
	}
}

func TestTicksToDuration(t *testing.T) {
	for _, tc := range []struct {
		ticks, hz uint64
		want      time.Duration
	}{
		{0, 100, 0},
		{1, 100, 10 * time.Millisecond},
		{12345, 100, 123*time.Second + 450*time.Millisecond},
		{7, 250, 28 * time.Millisecond},
		{1 << 30, 100, time.Duration(1<<30) * 10 * time.Millisecond},
	} {
		if got := ticksToDuration(tc.ticks, tc.hz); got != tc.want {
			t.Errorf("%d ticks at %d Hz: %v, want %v", tc.ticks, tc.hz, got, tc.want)
		}
	}
}

func TestLeastSquares(t *testing.T) {
	// Windows of heartbeats and deltas whose CPU is exactly 0.3 ms and 4 ms each.
	var x [][]float64
	var y []float64
	for i := range 40 {
		hb, delta := float64(180+i%7), float64(i%5)
		x = append(x, []float64{hb, delta})
		y = append(y, hb*0.0003+delta*0.004)
	}
	beta, se, err := leastSquares(x, y)
	if err != nil || math.Abs(beta[0]-0.0003) > 1e-12 || math.Abs(beta[1]-0.004) > 1e-12 || se[0] > 1e-9 || se[1] > 1e-9 {
		t.Fatalf("exact fit: beta %v, stderr %v, err %v", beta, se, err)
	}
	// Noise: the coefficients within a few standard errors, which are no longer zero.
	for i := range y {
		y[i] += 0.002 * float64(i%3-1)
	}
	beta, se, err = leastSquares(x, y)
	if err != nil || se[1] <= 0 || math.Abs(beta[1]-0.004) > 4*se[1] || math.Abs(beta[0]-0.0003) > 4*se[0] {
		t.Fatalf("noisy fit: beta %v, stderr %v, err %v", beta, se, err)
	}
	// Kinds whose answers always vary together cannot be told apart.
	for i := range x {
		x[i][1] = 2 * x[i][0]
	}
	if _, _, err := leastSquares(x, y); err == nil || !strings.Contains(err.Error(), "together") {
		t.Fatalf("collinear kinds: err %v", err)
	}
	if _, _, err := leastSquares(x[:3], y[:3]); err == nil {
		t.Fatal("3 windows for 2 kinds: no error")
	}
	if _, _, err := leastSquares(nil, nil); err == nil {
		t.Fatal("no windows: no error")
	}
}

func TestSplit(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	windows := []procWindow{
		{cpu: 0.010 + 0.0, counts: map[string]int64{"heartbeat": 20}},
		{cpu: 0.011 + 0.004, counts: map[string]int64{"heartbeat": 22, "delta": 1}},
		{cpu: 0.009 + 0.008, counts: map[string]int64{"heartbeat": 18, "delta": 2}},
		{cpu: 0.010, counts: map[string]int64{"heartbeat": 20}},
	}
	f := &ProcessFigures{Kinds: map[string]*ProcessKind{"heartbeat": {Answered: 80}, "delta": {Answered: 3}}}
	f.split(0.052, windows)
	if f.Split != "regression" || math.Abs(*f.Kinds["heartbeat"].CPUMs-0.5) > 1e-9 || math.Abs(*f.Kinds["delta"].CPUMs-4) > 1e-9 {
		t.Errorf("two kinds: %q, heartbeat %v ms, delta %v ms", f.Split, *f.Kinds["heartbeat"].CPUMs, *f.Kinds["delta"].CPUMs)
	}
	f = &ProcessFigures{Kinds: map[string]*ProcessKind{"full": {Answered: 50}}}
	f.split(2.5, nil)
	if f.Split != "single kind" || *f.Kinds["full"].CPUMs != *ms(50) {
		t.Errorf("one kind: %q, %v ms", f.Split, *f.Kinds["full"].CPUMs)
	}
	// More CPU in the windows without deltas: a negative delta cost is no answer.
	windows[0].cpu, windows[3].cpu = 0.05, 0.05
	f = &ProcessFigures{Kinds: map[string]*ProcessKind{"heartbeat": {Answered: 80}, "delta": {Answered: 3}}}
	f.split(0.13, windows)
	if !strings.HasPrefix(f.Split, "not separable") || f.Kinds["delta"].CPUMs != nil {
		t.Errorf("negative cost: %q, delta %v", f.Split, f.Kinds["delta"].CPUMs)
	}
}
