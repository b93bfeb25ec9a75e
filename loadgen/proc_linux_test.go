package loadgen

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProcSelf reads this process's /proc entries and checks them against what the kernel
// tells the process itself: getrusage for the CPU time, CLOCK_PROCESS_CPUTIME_ID for the
// process clock, the command name /proc/self/stat starts with.
func TestProcSelf(t *testing.T) {
	if hz := clockTicks(); hz != 100 {
		t.Logf("USER_HZ %d", hz) // not an error: the auxiliary vector says so
	}
	spin(t, 200*time.Millisecond)
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	var own unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &own); err != nil {
		t.Fatal(err)
	}
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	rusage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// /proc counts in ticks and is read a moment later: within a few ticks either way.
	if d := s.cpu - rusage; s.cpu < 200*time.Millisecond || d < -30*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("/proc/self/stat: CPU %v, getrusage %v", s.cpu, rusage)
	}
	if d := s.clock - time.Duration(own.Nano()); !s.clockOK || d < 0 || d > 100*time.Millisecond {
		t.Errorf("process CPU clock %v (ok %v), CLOCK_PROCESS_CPUTIME_ID %v", s.clock, s.clockOK, time.Duration(own.Nano()))
	}
	maxrss := uint64(ru.Maxrss) << 10 // kB on Linux
	if s.rss == 0 || s.hwm < s.rss || s.hwm < maxrss*9/10 {
		t.Errorf("VmRSS %d, VmHWM %d, getrusage maxrss %d", s.rss, s.hwm, maxrss)
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if pid := strconv.Itoa(os.Getpid()) + " ("; !strings.HasPrefix(string(stat), pid) {
		t.Errorf("/proc/self/stat starts %q, want %q", stat[:20], pid)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("a process that does not exist: no error")
	}
}

// TestProcChild reads another process's CPU and memory: a shell busy for a while.
func TestProcChild(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	first, err := readProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	last, err := readProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// On a busy machine the shell may get little of a CPU, but some.
	cpu, clock := last.cpu-first.cpu, last.clock-first.clock
	if cpu <= 0 || !last.clockOK || clock <= 0 || clock > 500*time.Millisecond || last.rss == 0 || last.hwm < last.rss {
		t.Errorf("child: CPU %v, CPU clock %v (ok %v), VmRSS %d, VmHWM %d", cpu, clock, last.clockOK, last.rss, last.hwm)
	}
	if d := cpu - clock; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("child: /proc CPU %v and CPU clock %v differ by %v", cpu, clock, d)
	}
}

// spin burns d of this process's CPU time.
func spin(t *testing.T, d time.Duration) {
	t.Helper()
	now := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ts.Nano())
	}
	x, end := 0, now()+d
	for now() < end {
		for i := range 100000 {
			x ^= i
		}
	}
	_ = x
}
