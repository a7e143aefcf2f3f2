package ringbuf

import (
	"testing"
	"time"
)

func TestCoalesce(t *testing.T) {
	const size = 256 << 10 // a sixteenth: 16 KiB
	for _, c := range []struct {
		n       int
		elapsed time.Duration
		want    time.Duration
	}{
		{40, 50 * time.Microsecond, MaxPause},             // 800 KB/s: 20 ms to a sixteenth, capped
		{4000, time.Millisecond, 4096 * time.Microsecond}, // 4 MB/s: 4 ms
		{16 << 10, time.Millisecond, 0},                   // a sixteenth already
		{0, time.Millisecond, 0},
	} {
		if got := coalesce(c.n, c.elapsed, size); got != c.want {
			t.Errorf("coalesce(%d, %v): %v, want %v", c.n, c.elapsed, got, c.want)
		}
	}
}
