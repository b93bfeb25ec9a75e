//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

func clockTicks() uint64 { return 100 }

// readProc needs Linux's /proc.
func readProc(pid int) (procSample, error) {
	return procSample{at: time.Now()}, errors.New("the collector's process figures (--collector-pid) need Linux's /proc")
}
