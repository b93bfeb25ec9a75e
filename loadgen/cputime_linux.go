package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTimer measures the CPU time of a stretch of work of the calling goroutine: it pins the
// goroutine to its thread and reads the thread's CPU clock, so that time spent waiting for a
// CPU (the collector shares them in an embedded run) does not count.
type cpuTimer struct {
	start unix.Timespec
	ok    bool
}

func startCPU() cpuTimer {
	runtime.LockOSThread()
	var t cpuTimer
	t.ok = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t.start) == nil
	return t
}

// stop returns the CPU time since startCPU (and false if the clock is not available).
func (t cpuTimer) stop() (time.Duration, bool) {
	defer runtime.UnlockOSThread()
	var end unix.Timespec
	if !t.ok || unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &end) != nil {
		return 0, false
	}
	return time.Duration(end.Nano() - t.start.Nano()), true
}
