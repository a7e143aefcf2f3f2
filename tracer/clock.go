package tracer

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// monoClock turns CLOCK_MONOTONIC readings (bpf_ktime_get_ns) into wall
// clock times, by the offset between the two clocks when it was made.
type monoClock struct {
	boot time.Time // wall clock time at monotonic zero
}

func newMonoClock() (monoClock, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return monoClock{}, fmt.Errorf("clock_gettime: %w", err)
	}
	now := time.Now()
	return monoClock{boot: now.Add(-time.Duration(ts.Nano()))}, nil
}

func (c monoClock) wall(mono time.Duration) time.Time { return c.boot.Add(mono) }

// WallTime converts a trace_pipe or bpf_ktime_get_ns timestamp (time since
// boot, CLOCK_MONOTONIC) to the wall clock. trace_pipe's default "local"
// clock follows the same time base closely but not exactly.
func (t *ListenTracer) WallTime(mono time.Duration) time.Time { return t.clock.wall(mono) }

// WallClock converts kernel timestamps (time since boot) to wall time.
type WallClock struct{ c monoClock }

// NewWallClock reads the offset between the wall and monotonic clocks now.
func NewWallClock() (WallClock, error) {
	c, err := newMonoClock()
	return WallClock{c}, err
}

// Wall converts a bpf_ktime_get_ns or trace_pipe timestamp.
func (w WallClock) Wall(mono time.Duration) time.Time { return w.c.wall(mono) }
