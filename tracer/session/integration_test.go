//go:build cgo

package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
	"github.com/evtrace/evtrace/tracer/tracepipe"
	"golang.org/x/sys/unix"
)

// These tests load real BPF programs into the running kernel. They need root,
// tracepoints and a kernel headers tree for libbcc: the running kernel's, or
// any installed release's (the programs read no kernel structs, so the
// headers' layouts do not matter; Spec.AnyHeaders). Kprobes are not needed:
// the programs attach to syscall tracepoints, so they run on kernels without
// kprobes too. Outside CI they skip, saying why, when the machine cannot run
// them; with CI=true they fail instead.

const tracepointPerfProgram = `
struct listen_call {
	u32 pid;
	u32 tid;
	s32 fd;
	s32 backlog;
	char comm[16];
};
BPF_PERF_OUTPUT(calls);

TRACEPOINT_PROBE(syscalls, sys_enter_listen)
{
	u64 id = bpf_get_current_pid_tgid();
	struct listen_call c = {};
	c.pid = id >> 32;
	c.tid = (u32)id;
	c.fd = args->fd;
	c.backlog = args->backlog;
	bpf_get_current_comm(c.comm, sizeof(c.comm));
	calls.perf_submit(args, &c, sizeof(c));
	return 0;
}
`

// openTracepointPerf opens tracepointPerfProgram, which submits every
// listen() call to the perf table "calls".
func openTracepointPerf(t *testing.T) *Session {
	t.Helper()
	s, err := Open(realbackends.Set(), Spec{
		Name:       "listen_tp.c",
		Source:     tracepointPerfProgram,
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
		PerfTables: []string{"calls"},
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// runUntil causes events with trigger, then runs s until the handler calls
// done or the timeout passes, and returns whether done was called. Events
// caused before Run starts wait in the kernel (perf rings exist from Open,
// trace_pipe keeps its lines), so trigger runs first and the handler may
// read what trigger wrote without a race.
func runUntil(t *testing.T, s *Session, timeout time.Duration, trigger func(), h func(done func()) Handler) bool {
	t.Helper()
	trigger()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	matched := false
	if err := s.Run(ctx, h(func() { matched = true; cancel() })); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return matched
}

func TestTracepointPerf(t *testing.T) {
	testenv.RequireBPF(t)
	s := openTracepointPerf(t)
	defer s.Close()

	var tid int
	var got []string
	ok := runUntil(t, s, 10*time.Second, func() { tid, _ = testenv.ListenOnThread(t, 77) }, func(done func()) Handler {
		return Handler{Sample: func(table string, b []byte) {
			if table != "calls" || len(b) < 32 {
				t.Errorf("sample from %q of %d bytes", table, len(b))
				return
			}
			pid := int(binary.NativeEndian.Uint32(b[0:4]))
			if pid != os.Getpid() {
				return // another process listened
			}
			gotTid, backlog := int(binary.NativeEndian.Uint32(b[4:8])), int32(binary.NativeEndian.Uint32(b[12:16]))
			comm := strings.TrimRight(string(b[16:32]), "\x00")
			got = append(got, fmt.Sprintf("tid=%d backlog=%d comm=%s", gotTid, backlog, comm))
			if backlog == 77 {
				if gotTid != tid {
					t.Errorf("tid %d, want %d", gotTid, tid)
				}
				if want := testenv.CommOf(t, os.Getpid()); comm != want {
					t.Errorf("comm %q, want %q", comm, want)
				}
				done()
			}
		}}
	})
	if !ok {
		t.Fatalf("no event for our listen(backlog=77); got %v", got)
	}
}

func TestTracepointDebug(t *testing.T) {
	testenv.RequireBPF(t)
	s, err := Open(realbackends.Set(), Spec{
		Name: "listen_tp_debug.c",
		Source: `
TRACEPOINT_PROBE(syscalls, sys_enter_listen)
{
	bpf_trace_printk("evtrace-test listen backlog=%d pid=%d\n", args->backlog,
			 bpf_get_current_pid_tgid() >> 32);
	return 0;
}`,
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
		TracePipe:  true,
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	var tid int
	want := fmt.Sprintf("evtrace-test listen backlog=99 pid=%d", os.Getpid())
	var seen []tracepipe.Line
	ok := runUntil(t, s, 10*time.Second, func() { tid, _ = testenv.ListenOnThread(t, 99) }, func(done func()) Handler {
		return Handler{Trace: func(l tracepipe.Line) {
			seen = append(seen, l)
			if l.Message != want {
				return
			}
			if l.PID != tid {
				t.Errorf("trace line pid %d, want thread %d: %+v", l.PID, tid, l)
			}
			if l.CPU < 0 || l.CPU >= runtime.NumCPU() || l.Time <= 0 {
				t.Errorf("trace line fields: %+v", l)
			}
			done()
		}}
	})
	if !ok {
		t.Fatalf("no trace line %q; saw %+v", want, seen)
	}
}

func TestCompileErrorCarriesCompilerMessage(t *testing.T) {
	testenv.RequireBPF(t)
	_, err := Open(realbackends.Set(), Spec{
		Name:       "broken.c",
		Source:     "TRACEPOINT_PROBE(syscalls, sys_enter_listen) { return undeclared_thing; }",
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
		AnyHeaders: true,
	})
	var ce *backend.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want a CompileError", err)
	}
	if !strings.Contains(ce.Log, "undeclared_thing") || !strings.Contains(err.Error(), "undeclared identifier 'undeclared_thing'") {
		t.Fatalf("compile error does not carry clang's message: %q / log %q", err, ce.Log)
	}
}

func TestUnknownTracepoint(t *testing.T) {
	testenv.RequireBPF(t)
	_, err := Open(realbackends.Set(), Spec{
		Name:       "x.c",
		Source:     "int f(void *ctx) { return 0; }",
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_no_such_call", Program: "f"}},
		AnyHeaders: true,
	})
	if !errors.Is(err, kernel.ErrNoTracepoint) {
		t.Fatalf("Open: %v, want kernel.ErrNoTracepoint", err)
	}
}

// TestSessionReleasesEverything opens and closes a perf session twice and
// checks that file descriptors and goroutines return to where they were.
func TestSessionReleasesEverything(t *testing.T) {
	testenv.RequireBPF(t)
	open := func() {
		s := openTracepointPerf(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Run(ctx, Handler{}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	open() // the first run starts gobpf's long-lived compiler goroutine
	fds, goroutines := countFDs(t), runtime.NumGoroutine()
	open()
	if got := countFDs(t); got != fds {
		t.Errorf("open file descriptors: %d after Close, %d before Open", got, fds)
	}
	// Goroutines end shortly after Close returns; give them a moment.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("goroutines: %d after Close, %d before Open", got, goroutines)
	}
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestLostEventsAreCounted overflows a one-page perf ring and the trace
// buffer before reading them, and checks that the losses are reported.
//
// The trace buffer is 7 KiB per CPU at boot and grows to its configured
// size (buffer_size_kb, 1408 KiB by default) the first time anything uses
// tracing; the trace_pipe case makes enough lines to overflow either.
func TestLostEventsAreCounted(t *testing.T) {
	testenv.RequireBPF(t)
	for _, tc := range []struct {
		name  string
		calls int
		spec  Spec
	}{
		{"perf", 20000, Spec{
			Name: "lost_perf.c",
			Source: `
struct ev { u64 a, b, c, d, e, f, g, h; };
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	struct ev e = {};
	e.a = bpf_get_current_pid_tgid();
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`,
			PerfTables: []string{"evs"},
			PerfPages:  1,
		}},
		{"trace_pipe", 200000, Spec{
			Name: "lost_printk.c",
			Source: `
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	bpf_trace_printk("evtrace-test lost %d\n", bpf_get_current_pid_tgid() >> 32);
	return 0;
}`,
			TracePipe: true,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, calls := tc.spec, tc.calls
			spec.Probes = []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}}
			spec.AnyHeaders = true
			s, err := Open(realbackends.Set(), spec)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			// Rings are per CPU: make every event on CPU 0.
			onCPU0 := func(n int) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var set, old unix.CPUSet
				if err := unix.SchedGetaffinity(0, &old); err != nil {
					t.Error(err)
					return
				}
				set.Set(0)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					t.Error(err)
					return
				}
				defer unix.SchedSetaffinity(0, &old)
				for i := 0; i < n; i++ {
					unix.Getppid()
				}
			}
			onCPU0(calls)
			var got, lost uint64
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			// The kernel writes a perf ring's loss record only with the
			// next record that fits: make a few once reading has begun.
			go func() {
				time.Sleep(500 * time.Millisecond)
				onCPU0(10)
			}()
			err = s.Run(ctx, Handler{
				Sample: func(string, []byte) { got++ },
				Trace:  func(tracepipe.Line) { got++ },
				Lost:   func(_ string, n uint64) { lost += n },
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			t.Logf("%d delivered, %d reported lost, of at least %d", got, lost, calls)
			if got == 0 || lost == 0 || got+lost < uint64(calls/2) {
				t.Errorf("delivered %d, lost %d: want both, adding up to about %d", got, lost, calls)
			}
		})
	}
}

// The summary is exact: every event the program submitted is either
// delivered or counted lost, also when the kernel dropped the last ones
// (it reports a ring's drops only with the ring's next record, and at the
// end there is none), and also when Run is stopped with records still in
// the rings. These tests are not timed: they count.

// markedPID is the getpgid argument the test program counts; no process
// has it.
const markedPID = 4242421

// openMarked opens a program that submits one event per marked getpgid
// call of this process, through rings of pages pages.
func openMarked(t *testing.T, pages int) *Session {
	t.Helper()
	s, err := Open(realbackends.Set(), Spec{
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
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getpgid", Program: "tracepoint__syscalls__sys_enter_getpgid"}},
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
	for _, r := range testenv.ExactPerfCases {
		t.Run(r.Name, func(t *testing.T) {
			for run := 1; run <= testenv.ExactRuns; run++ {
				s := openMarked(t, r.Pages)
				got, lost := countWhile(t, s, func() {
					testenv.Generate(t, r.Calls, r.Rate, func() { unix.Getpgid(markedPID) })
				})
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				t.Logf("run %d: %d received, %d lost", run, got, lost)
				if !s.LossesExact() {
					t.Fatalf("this kernel does not count drops (PERF_FORMAT_LOST, Linux >= 6.0)")
				}
				if got+lost != uint64(r.Calls) {
					t.Fatalf("run %d: received %d + lost %d = %d, want exactly %d", run, got, lost, got+lost, r.Calls)
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

// TestLoadRefusedByVerifier loads programs that the verifier refuses: the
// error is one line that names the program and gives the verifier's own
// verdict, and LoadError.Log is the verifier's log. The loop reaches the
// complexity limit, for which the kernel returns E2BIG and libbcc says
// "Program  too large (25 insns), at most 4096 insns" (no name, and not
// the reason) without reading the log.
func TestLoadRefusedByVerifier(t *testing.T) {
	testenv.RequireBPF(t)
	const prefix = "load program tracepoint__syscalls__sys_enter_getppid: the verifier refused it: "
	for _, c := range []struct {
		name, source string
		verdict      *regexp.Regexp
	}{
		{
			name: "loop bound unknown",
			source: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u64 n = bpf_ktime_get_ns();
	u64 sum = 0;
	for (volatile u64 i = 0; i < n; i++)
		sum += i;
	bpf_trace_printk("sum %llu\n", sum);
	return 0;
}`,
			// Since Linux 5.2, whose limit is 1,000,000 instructions.
			verdict: regexp.MustCompile(`^BPF program is too large\. Processed 1000001 insn \(verification time \d+ usec, processed 1000001 insns, limit 1000000\)$`),
		},
		{
			name: "infinite loop",
			source: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	volatile int x = 0;
	while (1)
		x = 0;
	return 0;
}`,
			// "back-edge" before Linux 5.3 (no loops at all).
			verdict: regexp.MustCompile(`^(infinite loop detected at insn \d+|back-edge from insn \d+ to \d+) \(verification time \d+ usec, processed \d+ insns, limit \d+\)$`),
		},
		{
			name: "map value not checked for NULL",
			source: `BPF_HASH(h, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u32 k = 0;
	u64 *v = h.lookup(&k);
	bpf_trace_printk("%llu\n", *v);
	return 0;
}`,
			verdict: regexp.MustCompile(`^R0 invalid mem access 'map_value_or_null' \(verification time \d+ usec, processed \d+ insns, limit 1000000\)$`),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(realbackends.Set(), Spec{
				Name:       "refused.c",
				Source:     c.source,
				Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
				AnyHeaders: true,
			})
			var le *backend.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Open: %v, want a LoadError", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) || !c.verdict.MatchString(msg[len(prefix):]) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q\nwant %q and a verdict matching %s", msg, prefix, c.verdict)
			}
			first, _, _ := strings.Cut(le.Verdict, " (")
			if !strings.Contains(le.Log, "\n"+first+"\n") || !backend.EndsWithStats(strings.Split(le.Log, "\nHINT: ")[0]) {
				t.Errorf("LoadError.Log is not the verifier's log:\n%s", le.LogTail(20))
			}
		})
	}
}

// conventionsProgram is attached and read by bcc's conventions alone: a
// function named for a tracepoint, a helper that is no probe, a table it
// submits to, one it never does, and a BPF_PERF_ARRAY (hardware counters,
// not output).
const conventionsProgram = `
struct ev { u32 pid; };
BPF_PERF_OUTPUT(events);
BPF_PERF_OUTPUT(unused);
BPF_PERF_ARRAY(cycles, 1);

int tracepoint__syscalls__sys_enter_getppid(struct tracepoint__syscalls__sys_enter_getppid *args)
{
	struct ev e = {};
	e.pid = bpf_get_current_pid_tgid() >> 32;
	events.perf_submit(args, &e, sizeof(e));
	return 0;
}

static int helper_not_a_probe(void) { return 0; }
`

// With AutoAttach and AutoPerf, Open attaches every function named by
// bcc's conventions and nothing else, and reads every perf table but the
// counter arrays; libbcc records a struct only for the table submitted to.
func TestAutoAttachAndAutoPerf(t *testing.T) {
	testenv.RequireBPF(t)
	s, err := Open(realbackends.Set(), Spec{
		Name:       "conventions.c",
		Source:     conventionsProgram,
		AutoAttach: true,
		AutoPerf:   true,
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	want := []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}}
	if !reflect.DeepEqual(s.Probes(), want) {
		t.Errorf("probes %+v, want %+v", s.Probes(), want)
	}
	if got := s.PerfTables(); !reflect.DeepEqual(got, []string{"events", "unused"}) {
		t.Errorf("perf tables %v, want [events unused]", got)
	}
	if f := s.PerfFields("unused"); len(f) != 0 {
		t.Errorf("fields of a table never submitted to: %q", f)
	}
	if f := s.PerfFields("events"); !reflect.DeepEqual(f, []string{"pid#u32"}) {
		t.Errorf("fields of events: %q, want [pid#u32]", f)
	}
}
