package ringbuf

import (
	"testing"
	"time"
)

func TestCoalesce(t *testing.T) {
	const size = 64 << 10
	for _, c := range []struct {
		n       int
		elapsed time.Duration
		want    time.Duration
	}{
		{40, 50 * time.Microsecond, 5120 * time.Microsecond}, // 800 KB/s: 80 ms to fill, a sixteenth of it
		{40, 5 * time.Microsecond, 0},                        // 8 MB/s: 8 ms to fill, too little headroom
		{40, time.Millisecond, MaxPause},                     // 40 KB/s: 1.6 s to fill, capped
		{0, time.Millisecond, 0},
	} {
		if got := coalesce(c.n, c.elapsed, size); got != c.want {
			t.Errorf("coalesce(%d, %v): %v, want %v", c.n, c.elapsed, got, c.want)
		}
	}
}
