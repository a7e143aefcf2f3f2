package kernel

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// WallClock turns kernel timestamps (time since boot: bpf_ktime_get_ns,
// CLOCK_MONOTONIC) into wall clock times, by the offset between the two
// clocks when it was made. trace_pipe's default "local" clock follows the
// same time base closely but not exactly.
type WallClock struct {
	boot time.Time // wall clock time at monotonic zero
}

// NewWallClock reads the offset between the wall and monotonic clocks now.
func NewWallClock() (WallClock, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return WallClock{}, fmt.Errorf("clock_gettime: %w", err)
	}
	return WallClock{boot: time.Now().Add(-time.Duration(ts.Nano()))}, nil
}

// Wall converts a bpf_ktime_get_ns or trace_pipe timestamp.
func (w WallClock) Wall(mono time.Duration) time.Time { return w.boot.Add(mono) }

// WallClockAt is a WallClock whose monotonic zero is boot (for tests).
func WallClockAt(boot time.Time) WallClock { return WallClock{boot: boot} }
