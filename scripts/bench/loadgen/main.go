// Command loadgen fires kernel events for evtrace's benchmarks: a cheap
// syscall (getpgid on a pid that does not exist, which the benchmark probe
// recognises by its argument) or listen() on fresh sockets, at a fixed rate
// or as fast as it can, and reports how many it fired.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// MagicPID is the getpgid argument the benchmark probe counts.
const MagicPID = 4242421

func main() {
	event := flag.String("event", "getpgid", "getpgid or listen")
	count := flag.Int("count", 100000, "events to fire")
	rate := flag.Int("rate", 0, "events per second; 0: as fast as possible")
	flag.Parse()
	if *count <= 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -count must be positive and -rate not negative")
		os.Exit(2)
	}
	var fire func() error
	switch *event {
	case "getpgid":
		fire = func() error { unix.Getpgid(MagicPID); return nil }
	case "listen":
		fire = func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Listen(fd, 1)
		}
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown -event %q\n", *event)
		os.Exit(2)
	}
	runtime.LockOSThread()
	start := time.Now()
	// Pace in batches of 1/1000 s so that the clock is not read per event.
	batch := max(*rate/1000, 1)
	fired := 0
	for fired < *count {
		n := min(batch, *count-fired)
		for i := 0; i < n; i++ {
			if err := fire(); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
				os.Exit(1)
			}
		}
		fired += n
		if *rate > 0 {
			due := start.Add(time.Duration(float64(fired) / float64(*rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
	}
	el := time.Since(start)
	fmt.Printf("fired %d in %.3fs (%.0f/s)\n", fired, el.Seconds(), float64(fired)/el.Seconds())
}
