package tracer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
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

// listenOnThread makes a TCP listener on 127.0.0.1 with the given backlog
// from a locked OS thread and returns that thread's id and the port.
func listenOnThread(t *testing.T, backlog int) (tid int, port int) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return unix.Gettid(), sa.(*unix.SockaddrInet4).Port
}

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
	s, err := Open(Spec{
		Name:       "listen_tp.c",
		Source:     tracepointPerfProgram,
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
		PerfTables: []string{"calls"},
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	var tid int
	var got []string
	ok := runUntil(t, s, 10*time.Second, func() { tid, _ = listenOnThread(t, 77) }, func(done func()) Handler {
		return Handler{Sample: func(table string, b []byte) {
			if table != "calls" || len(b) < 32 {
				t.Errorf("sample from %q of %d bytes", table, len(b))
				return
			}
			pid := int(nativeU32(b[0:4]))
			if pid != os.Getpid() {
				return // another process listened
			}
			gotTid, backlog := int(nativeU32(b[4:8])), int32(nativeU32(b[12:16]))
			comm := strings.TrimRight(string(b[16:32]), "\x00")
			got = append(got, fmt.Sprintf("tid=%d backlog=%d comm=%s", gotTid, backlog, comm))
			if backlog == 77 {
				if gotTid != tid {
					t.Errorf("tid %d, want %d", gotTid, tid)
				}
				if want := commOf(t, os.Getpid()); comm != want {
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
	s, err := Open(Spec{
		Name: "listen_tp_debug.c",
		Source: `
TRACEPOINT_PROBE(syscalls, sys_enter_listen)
{
	bpf_trace_printk("evtrace-test listen backlog=%d pid=%d\n", args->backlog,
			 bpf_get_current_pid_tgid() >> 32);
	return 0;
}`,
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
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
	ok := runUntil(t, s, 10*time.Second, func() { tid, _ = listenOnThread(t, 99) }, func(done func()) Handler {
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
	_, err := Open(Spec{
		Name:       "broken.c",
		Source:     "TRACEPOINT_PROBE(syscalls, sys_enter_listen) { return undeclared_thing; }",
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
		AnyHeaders: true,
	})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want a CompileError", err)
	}
	if !strings.Contains(ce.Log, "undeclared_thing") || !strings.Contains(err.Error(), "undeclared identifier 'undeclared_thing'") {
		t.Fatalf("compile error does not carry clang's message: %q / log %q", err, ce.Log)
	}
}

func TestUnknownTracepoint(t *testing.T) {
	testenv.RequireBPF(t)
	_, err := Open(Spec{
		Name:       "x.c",
		Source:     "int f(void *ctx) { return 0; }",
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_no_such_call", Program: "f"}},
		AnyHeaders: true,
	})
	if !errors.Is(err, kernel.ErrNoTracepoint) {
		t.Fatalf("Open: %v, want kernel.ErrNoTracepoint", err)
	}
}

func TestListenWithoutKprobes(t *testing.T) {
	testenv.RequireBPF(t)
	if kernel.KprobesSupported() {
		t.Skip("this kernel has kprobes; the VM tests cover evtrace listen")
	}
	_, err := OpenListen(ListenConfig{Mode: ModePerf, Attach: AttachKprobe})
	if !errors.Is(err, kernel.ErrNoKprobes) {
		t.Fatalf("OpenListen: %v, want kernel.ErrNoKprobes", err)
	}
}

// TestListenFentry: auto never picks fentry, because whether a kernel lets
// fexit programs load is only learnt by loading one. Asked for, it either
// reports a listener (port and result at return) or fails with one clear
// line (this project's CI host has BTF and refuses them with EPERM).
func TestListenFentry(t *testing.T) {
	testenv.RequireBPF(t)
	if _, err := os.Stat(kernel.BTF); err != nil {
		t.Skipf("fentry needs BTF: %v", err)
	}
	tr, err := OpenListen(ListenConfig{Mode: ModePerf, Attach: AttachFentry, Backend: BackendBCC})
	if err != nil {
		if msg := err.Error(); !strings.HasPrefix(msg, "--attach fentry: this kernel refused the fexit program on inet_listen") || strings.Contains(msg, "\n") {
			t.Fatalf("OpenListen: %q, want one line saying the kernel refused fentry", msg)
		}
		t.Logf("this kernel refuses fentry: %v", err)
		return
	}
	defer tr.Close()
	// The event waits in the perf ring until Run reads it.
	tid, port := listenOnThread(t, 19)
	var got ListenEvent
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = tr.Run(ctx, ListenHandler{Event: func(e ListenEvent) {
		if e.Backlog == 19 && e.PID == uint32(os.Getpid()) {
			got = e
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Backlog != 19 || int(got.TID) != tid || int(got.Port) != port || !got.HasRet || got.Ret != 0 {
		t.Errorf("event %+v, want tid %d port %d ret 0", got, tid, port)
	}
}

func commOf(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSessionReleasesEverything opens and closes a perf session twice and
// checks that file descriptors and goroutines return to where they were.
func TestSessionReleasesEverything(t *testing.T) {
	testenv.RequireBPF(t)
	open := func() {
		s, err := Open(Spec{
			Name:       "listen_tp.c",
			Source:     tracepointPerfProgram,
			Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"}},
			PerfTables: []string{"calls"},
			AnyHeaders: true,
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
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
func TestLostEventsAreCounted(t *testing.T) {
	testenv.RequireBPF(t)
	const calls = 20000
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"perf", Spec{
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
		{"trace_pipe", Spec{
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
			spec := tc.spec
			spec.Probes = []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}}
			spec.AnyHeaders = true
			s, err := Open(spec)
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
			if got == 0 || lost == 0 || got+lost < calls/2 {
				t.Errorf("delivered %d, lost %d: want both, adding up to about %d", got, lost, calls)
			}
		})
	}
}
