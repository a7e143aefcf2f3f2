package tracer

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/perf"
	"github.com/evtrace/evtrace/tracer/testenv"
	"golang.org/x/sys/unix"
)

// The summary is exact: every event the program submitted is either
// delivered or counted lost, also when the kernel dropped the last ones
// (it reports a ring's drops only with the ring's next record, and at the
// end there is none), and also when Run is stopped with records still in
// the rings. These tests are not timed: they count.

// markedPID is the getpgid argument the test program counts; no process
// has it.
const markedPID = 4242421

// generate makes n marked getpgid calls from one thread pinned to CPU 0
// (rings are per CPU: one ring takes the whole load), at rate calls per
// second, or as fast as it can when rate is 0.
func generate(t *testing.T, n, rate int, call func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	start := time.Now()
	const batch = 1000
	for done := 0; done < n; {
		for i := 0; i < batch && done < n; i++ {
			call()
			done++
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(done) / float64(rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
	}
}

// exactRuns is how many runs each case makes, and calls how many events
// each run causes.
const (
	exactRuns  = 10
	exactCalls = 1_000_000
)

// exactCase is one load: calls at rate (0: as fast as one thread can),
// read through rings of pages pages.
type exactCase struct {
	name  string
	calls int
	rate  int
	pages int
}

// As fast as one thread can, through bcc's ring size (the ring
// overflows), and at a rate the reader keeps up with through the default
// rings. listen() calls cost more (a socket each, and three programs on
// the tracepoint path): their paced case makes fewer, to stay short.
var (
	exactPerfCases = []exactCase{
		{"max", exactCalls, 0, 8},
		{"paced", exactCalls, 250_000, perf.DefaultPages},
	}
	exactListenCases = []exactCase{
		{"max", exactCalls, 0, 8},
		{"paced", 200_000, 50_000, perf.DefaultPages},
	}
)

// openMarked opens a program that submits one event per marked getpgid
// call of this process, through rings of pages pages.
func openMarked(t *testing.T, pages int) *Session {
	t.Helper()
	s, err := Open(Spec{
		Name: "marked.c",
		Source: fmt.Sprintf(`
struct ev { u64 id; };
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid)
{
	if (args->pid != %d || (bpf_get_current_pid_tgid() >> 32) != %d)
		return 0;
	struct ev e = {};
	e.id = bpf_get_current_pid_tgid();
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`, markedPID, os.Getpid()),
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_getpgid", Program: "tracepoint__syscalls__sys_enter_getpgid"}},
		PerfTables: []string{"evs"},
		PerfPages:  pages,
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestPerfCountsAreExact(t *testing.T) {
	testenv.RequireBPF(t)
	for _, r := range exactPerfCases {
		t.Run(r.name, func(t *testing.T) {
			for run := 1; run <= exactRuns; run++ {
				s := openMarked(t, r.pages)
				got, lost := countWhile(t, s, func() {
					generate(t, r.calls, r.rate, func() { unix.Getpgid(markedPID) })
				})
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				t.Logf("run %d: %d received, %d lost", run, got, lost)
				if !s.LossesExact() {
					t.Fatalf("this kernel does not count drops (PERF_FORMAT_LOST, Linux >= 6.0)")
				}
				if got+lost != uint64(r.calls) {
					t.Fatalf("run %d: received %d + lost %d = %d, want exactly %d", run, got, lost, got+lost, r.calls)
				}
			}
		})
	}
}

// countWhile runs s while generate runs, stops it the moment generate
// returns, and returns what Run delivered and reported lost.
func countWhile(t *testing.T, s interface {
	Run(context.Context, Handler) error
}, generate func()) (got, lost uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.Run(ctx, Handler{
			Sample: func(string, []byte) { got++ },
			Lost:   func(_ string, n uint64) { lost += n },
		})
	}()
	generate()
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return got, lost
}

func TestListenCountsAreExact(t *testing.T) {
	testenv.RequireBPF(t)
	for _, r := range exactListenCases {
		t.Run(r.name, func(t *testing.T) {
			for run := 1; run <= exactRuns; run++ {
				// The listen() calls come from a thread in a network
				// namespace of its own, which the tracer filters on:
				// nothing else on the machine is counted.
				var (
					wg    sync.WaitGroup
					netns = make(chan uint32)
					start = make(chan struct{})
					gen   error
				)
				wg.Add(1)
				go func() {
					defer wg.Done()
					runtime.LockOSThread() // never unlocked: the thread ends with its namespace
					if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
						gen = err
						close(netns)
						return
					}
					var st unix.Stat_t
					if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st); err != nil {
						gen = err
						close(netns)
						return
					}
					netns <- uint32(st.Ino)
					<-start
					generate(t, r.calls, r.rate, func() {
						fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
						if err != nil {
							gen = err
							return
						}
						unix.Listen(fd, 1)
						unix.Close(fd)
					})
				}()
				ino, ok := <-netns
				if !ok {
					t.Fatalf("new network namespace: %v", gen)
				}
				lt, err := OpenListen(ListenConfig{Mode: ModePerf, NetNS: ino, PerfPages: r.pages, Backend: BackendBCC})
				if err != nil {
					close(start)
					wg.Wait()
					t.Fatalf("OpenListen: %v", err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() { errc <- lt.Run(ctx, ListenHandler{}) }()
				close(start)
				wg.Wait()
				cancel()
				if err := <-errc; err != nil {
					t.Fatalf("Run: %v", err)
				}
				lt.Close()
				if gen != nil {
					t.Fatalf("listen calls: %v", gen)
				}
				st := lt.Stats()
				t.Logf("run %d: %d received, %d lost", run, st.Events, st.Lost)
				if !st.LossesExact {
					t.Fatalf("this kernel does not count drops (PERF_FORMAT_LOST, Linux >= 6.0)")
				}
				if st.Events+st.Lost != uint64(r.calls) {
					t.Fatalf("run %d: received %d + lost %d = %d, want exactly %d", run, st.Events, st.Lost, st.Events+st.Lost, r.calls)
				}
			}
		})
	}
}

// Close while Run reads: Run ends, everything it read is handed over, and
// nothing is unmapped under it (run with -race).
func TestCloseDuringRun(t *testing.T) {
	testenv.RequireBPF(t)
	for i := 0; i < 5; i++ {
		s := openMarked(t, 0)
		stop := make(chan struct{})
		var gen sync.WaitGroup
		gen.Add(1)
		go func() {
			defer gen.Done()
			for {
				select {
				case <-stop:
					return
				default:
					unix.Getpgid(markedPID)
				}
			}
		}()
		errc := make(chan error, 1)
		var got uint64
		go func() {
			errc <- s.Run(context.Background(), Handler{Sample: func(string, []byte) { got++ }})
		}()
		time.Sleep(time.Duration(20+i*30) * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after Close")
		}
		close(stop)
		gen.Wait()
		if got == 0 {
			t.Errorf("iteration %d: nothing delivered", i)
		}
		if err := s.Run(context.Background(), Handler{}); err == nil {
			t.Error("Run after Close did not fail")
		}
	}
}
