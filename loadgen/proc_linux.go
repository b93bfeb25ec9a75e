package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// atClkTck is AT_CLKTCK, the auxiliary vector entry in which the kernel passes every
// process the frequency of the clock ticks /proc counts in (USER_HZ: 100 on every
// architecture Linux runs on today). glibc's sysconf(_SC_CLK_TCK) reads the same entry.
const atClkTck = 17

// defaultClockTicks is USER_HZ where the auxiliary vector cannot be read.
const defaultClockTicks = 100

var clockTicks = sync.OnceValue(func() uint64 {
	vec, err := unix.Auxv()
	if err != nil {
		return defaultClockTicks
	}
	for _, kv := range vec {
		if kv[0] == atClkTck && kv[1] > 0 {
			return uint64(kv[1])
		}
	}
	return defaultClockTicks
})

// processClock reads the CPU-time clock of process pid (user and system time of all its
// threads, in nanoseconds; what clock_getcpuclockid(3) returns: MAKE_PROCESS_CPUCLOCK(pid,
// CPUCLOCK_SCHED) of the kernel's posix-timers.h).
func processClock(pid int) (time.Duration, bool) {
	const cpuclockSched = 2
	id := int32(^uint32(pid)<<3 | cpuclockSched)
	var ts unix.Timespec
	if unix.ClockGettime(id, &ts) != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// readProc samples process pid from /proc.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("collector process %d: %w", pid, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("collector process %d: %w", pid, err)
	}
	utime, stime, err := parseStat(string(stat))
	if err != nil {
		return s, fmt.Errorf("collector process %d: %w", pid, err)
	}
	s.cpu = ticksToDuration(utime+stime, clockTicks())
	if s.rss, s.hwm, err = parseStatus(string(status)); err != nil {
		return s, fmt.Errorf("collector process %d: %w", pid, err)
	}
	s.clock, s.clockOK = processClock(pid)
	return s, nil
}
