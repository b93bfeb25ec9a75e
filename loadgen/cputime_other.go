//go:build !linux

package loadgen

import "time"

// cpuTimer stands in for the thread CPU clock where there is none: it measures wall time.
type cpuTimer struct{ start time.Time }

func startCPU() cpuTimer { return cpuTimer{start: time.Now()} }

func (t cpuTimer) stop() (time.Duration, bool) { return time.Since(t.start), false }
