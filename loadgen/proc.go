package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// procSample is what /proc shows of a process at one moment.
type procSample struct {
	at time.Time
	// cpu is utime+stime from /proc/PID/stat, converted from clock ticks.
	cpu time.Duration
	// clock is the process's CPU clock (clock_gettime of the process's CPU-time clock,
	// nanoseconds); clockOK says whether it could be read.
	clock   time.Duration
	clockOK bool
	// rss and hwm are VmRSS and VmHWM (the peak RSS) from /proc/PID/status, in bytes.
	rss, hwm uint64
}

// parseStat reads utime and stime (fields 14 and 15, in clock ticks) from the contents of
// /proc/PID/stat. The second field, the command name in parentheses, may hold spaces and
// parentheses of its own, so the fields are counted after the last ')'.
func parseStat(data string) (utime, stime uint64, err error) {
	i := strings.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc stat: no ')' after the command name")
	}
	// After the name: state (field 3), ppid (4), ... utime (14), stime (15).
	fields := strings.Fields(data[i+1:])
	const utimeAt, stimeAt = 14 - 3, 15 - 3
	if len(fields) <= stimeAt {
		return 0, 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least %d", len(fields), stimeAt+1)
	}
	if utime, err = strconv.ParseUint(fields[utimeAt], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc stat: utime: %w", err)
	}
	if stime, err = strconv.ParseUint(fields[stimeAt], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc stat: stime: %w", err)
	}
	return utime, stime, nil
}

// parseStatus reads VmRSS and VmHWM ("VmRSS:   123456 kB") from the contents of
// /proc/PID/status, in bytes. A process without memory (a zombie) has neither: zeros.
func parseStatus(data string) (rss, hwm uint64, err error) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: %q, want a number of kB", k, strings.TrimSpace(v))
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status: %s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm, sc.Err()
}

// ticksToDuration converts clock ticks of hz per second to a duration, exactly.
func ticksToDuration(ticks, hz uint64) time.Duration {
	return time.Duration(ticks/hz)*time.Second + time.Duration(ticks%hz)*time.Second/time.Duration(hz)
}
