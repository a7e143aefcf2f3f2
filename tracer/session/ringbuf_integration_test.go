//go:build cgo

package session

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
	"golang.org/x/sys/unix"
)

// ringBase is the first getpgid argument the ring buffer program counts:
// call i passes ringBase+i (no process has such a PID).
const ringBase = 5_000_000

// ringProgram sends every marked getpgid call of this process to two ring
// buffers: out through ringbuf_output, res through ringbuf_reserve and
// ringbuf_submit, but for every tenth call, which it reserves and
// discards. It also sends each call to the perf table perfevs, so both
// kinds of table are read in one session. Each ring holds 4 MiB: 262,144
// records of 16 bytes (8 of header), more than a test writes.
func ringProgram(n int) string {
	return fmt.Sprintf(`
struct rec { u32 seq; u32 tid; };
struct prec { u32 seq; u32 pad; };
BPF_RINGBUF_OUTPUT(out, 1024);
BPF_RINGBUF_OUTPUT(res, 1024);
BPF_PERF_OUTPUT(perfevs);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 seq = args->pid - %d;
	if ((id >> 32) != %d || args->pid < %d || seq >= %d)
		return 0;
	struct rec r = {};
	r.seq = seq;
	r.tid = (u32)id;
	out.ringbuf_output(&r, sizeof(r), 0);
	struct rec *p = res.ringbuf_reserve(sizeof(struct rec));
	if (!p)
		return 0;
	p->seq = seq;
	p->tid = (u32)id;
	if (seq %% 10 == 0)
		res.ringbuf_discard(p, 0);
	else
		res.ringbuf_submit(p, 0);
	struct prec e = {};
	e.seq = seq;
	perfevs.perf_submit(args, &e, sizeof(e));
	return 0;
}`, ringBase, os.Getpid(), ringBase, n)
}

func openRings(t *testing.T, n int) *Session {
	t.Helper()
	s, err := Open(realbackends.Set(), Spec{
		Name:       "rings.c",
		Source:     ringProgram(n),
		AutoAttach: true,
		AutoPerf:   true,
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestRingBuffersExact: records waiting in the rings before Run starts,
// and records written while it runs up to the moment it is stopped (while
// the handler holds the loop, so that they wait in the rings), are all
// delivered, once each, in the order they were written (one thread
// writes them: a ring buffer keeps the order across CPUs), through
// ringbuf_output and through reserve/submit, with discarded records left
// out; the perf table beside them gets its records too.
func TestRingBuffersExact(t *testing.T) {
	testenv.RequireBPF(t)
	const before, during = 5_000, 200_000
	const n = before + during
	s := openRings(t, n)
	defer s.Close()
	if got := s.RingTables(); !reflect.DeepEqual(got, []string{"out", "res"}) {
		t.Fatalf("ring tables %v, want [out res]", got)
	}
	if got := s.PerfTables(); !reflect.DeepEqual(got, []string{"perfevs"}) {
		t.Fatalf("perf tables %v, want [perfevs]", got)
	}
	for _, table := range []string{"out", "res"} {
		if f := s.PerfFields(table); !reflect.DeepEqual(f, []string{"seq#u32", "tid#u32"}) {
			t.Errorf("fields libbcc recorded for ring buffer %s: %q, want [seq#u32 tid#u32]", table, f)
		}
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := uint32(unix.Gettid())
	call := 0
	calls := func(k int) {
		for range k {
			unix.Getpgid(ringBase + call)
			call++
		}
	}
	calls(before) // wait in the rings: Run must find them

	// The handler holds the loop at the first record until the calls are
	// made and Run is told to stop: the readers fill the channels and
	// stop there, the rest waits in the rings, and all of it must come
	// out through the drain and Finish.
	gate, held := make(chan struct{}), false
	next := map[string]uint32{}
	seen := map[string]int{}
	perfLost := 0
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- s.Run(ctx, Handler{
			Sample: func(table string, data []byte) {
				if !held {
					held = true
					<-gate
				}
				seq := binary.NativeEndian.Uint32(data)
				seen[table]++
				if table == "perfevs" {
					return // per-CPU rings: no order across them
				}
				if len(data) != 8 {
					t.Errorf("%s: record of %d bytes, want 8", table, len(data))
				}
				if got := binary.NativeEndian.Uint32(data[4:]); got != tid {
					t.Errorf("%s: tid %d, want %d", table, got, tid)
				}
				want := next[table]
				if table == "res" && want%10 == 0 {
					want++
				}
				if seq != want {
					t.Errorf("%s: record %d, want %d (in order, once each)", table, seq, want)
				}
				next[table] = seq + 1
			},
			Lost: func(source string, n uint64) {
				if source != "perfevs" {
					t.Errorf("%s: %d lost", source, n)
				}
				perfLost += int(n)
			},
		})
	}()
	calls(during)
	cancel() // at once: the records still in the rings are Finish's
	close(gate)
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("perf table: %d delivered, %d lost", seen["perfevs"], perfLost)
	seen["perfevs"] += perfLost // the perf rings are smaller: what they drop is counted
	want := map[string]int{"out": n, "res": n - n/10, "perfevs": n}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("records delivered %v, want %v", seen, want)
	}
	for _, st := range s.RingStats() {
		t.Logf("ring buffer %s: %d bytes, fullest seen %d", st.Table, st.Size, st.Peak)
		if st.Size != 1024*os.Getpagesize() || st.Peak < before*16*9/10 || st.Peak > st.Size {
			t.Errorf("ring buffer %s: size %d, peak %d: want %d, and a peak of at least the %d records written before Run", st.Table, st.Size, st.Peak, 1024*os.Getpagesize(), before)
		}
	}
}

// TestRingBufferReleasesEverything: a session with ring buffers, run and
// closed (also while its readers wait, and with Close during Run), leaves
// no descriptor, mapping or goroutine behind.
func TestRingBufferReleasesEverything(t *testing.T) {
	testenv.RequireBPF(t)
	mapped := 0
	cycle := func(closeDuring bool) {
		s := openRings(t, 10)
		mapped = countRingMappings(t)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, Handler{}) }()
		if closeDuring {
			time.Sleep(20 * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	cycle(false) // the first run starts gobpf's long-lived compiler goroutine
	fds, goroutines, maps := countFDs(t), runtime.NumGoroutine(), countRingMappings(t)
	cycle(false)
	cycle(true)
	if got := countFDs(t); got != fds {
		t.Errorf("open file descriptors: %d after Close, %d before Open", got, fds)
	}
	if mapped < maps+2 {
		t.Errorf("ring buffer mappings: %d while open, %d before: want two more a ring (cilium's and the positions)", mapped, maps)
	}
	if got := countRingMappings(t); got != maps {
		t.Errorf("ring buffer mappings: %d after Close, %d before", got, maps)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("goroutines: %d after Close, %d before Open", got, goroutines)
	}
}

// countRingMappings counts this process's mappings of BPF maps.
func countRingMappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "bpf-map") {
			n++
		}
	}
	return n
}
