//go:build cgo

package listen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/session"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
	"github.com/evtrace/evtrace/tracer/tracepipe"
	"golang.org/x/sys/unix"
)

// TestListenDebugKnowsItsOwnLines: in debug mode the trace pipe carries
// every program's bpf_trace_printk output. Another program printing lines
// that look like listen's, and a process whose name holds a newline, must
// neither add nor forge events: each listen() is one event with its true
// name and thread, and the other lines are counted as foreign.
func TestListenDebugKnowsItsOwnLines(t *testing.T) {
	testenv.RequireBPF(t)
	const forged = 5
	impostor, err := session.Open(realbackends.Set(), session.Spec{
		Name: "impostor.c",
		Source: `
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	bpf_trace_printk("listen4 addr=7f000001 port=1 backlog=1\n");
	return 0;
}`,
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open the impostor: %v", err)
	}
	defer impostor.Close()

	lt, err := Open(realbackends.Set(), Config{Mode: ModeDebug, PID: uint32(os.Getpid())})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer lt.Close()

	// The impostor's lines first, then the listens: the pipe is in time
	// order, so once the last listen is read the forged lines have been.
	for i := 0; i < forged; i++ {
		unix.Getppid()
	}
	var calls []namedCall
	for i, comm := range []string{"", "ev\nil", "\nx-1 [0] 2.0:"} {
		c, err := listenNamed(comm, 40+i)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}

	var got []tracepipe.Line
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = lt.Run(ctx, Handler{Trace: func(l tracepipe.Line) {
		got = append(got, l)
		if len(got) == len(calls) {
			cancel()
		}
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lt.Close()
	if len(got) != len(calls) {
		t.Fatalf("%d events, want %d (one per listen): %+v", len(got), len(calls), got)
	}
	for i, c := range calls {
		want := fmt.Sprintf("listen4 addr=7f000001 port=%d backlog=%d", c.port, c.backlog)
		if l := got[i]; l.Message != want || l.Task != c.comm || l.PID != c.tid {
			t.Errorf("event %d: task %q pid %d message %q, want task %q pid %d message %q", i, l.Task, l.PID, l.Message, c.comm, c.tid, want)
		}
	}
	st := lt.Stats()
	if st.Events != uint64(len(calls)) || st.Foreign < forged {
		t.Errorf("stats %+v: want %d events and at least %d foreign lines", st, len(calls), forged)
	}
}

type namedCall struct {
	tid, port, backlog int
	comm               string
}

// listenNamed calls listen() from a new thread named comm ("": keep the
// name), and lets the thread end. The trace pipe shows the name the kernel
// last saved for a thread id, which it saves when the thread is switched
// out: so each call has a thread of its own, which sleeps before it ends.
func listenNamed(comm string, backlog int) (namedCall, error) {
	for {
		c, err := listenNamedOnce(comm, backlog)
		if err != errMainThread {
			return c, err
		}
		// The runtime wedges the main thread once a goroutine that locked
		// it ends: the next try gets another thread.
	}
}

var errMainThread = errors.New("on the main thread")

func listenNamedOnce(comm string, backlog int) (namedCall, error) {
	c := namedCall{backlog: backlog, comm: comm}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		errc <- func() error {
			if unix.Gettid() == unix.Getpid() {
				// The main thread does not end; never rename it.
				return errMainThread
			}
			if comm != "" {
				p, err := unix.BytePtrFromString(comm)
				if err != nil {
					return err
				}
				err = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
				runtime.KeepAlive(p)
				if err != nil {
					return fmt.Errorf("PR_SET_NAME %q: %w", comm, err)
				}
			}
			c.tid = unix.Gettid()
			name, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/comm", c.tid))
			if err != nil {
				return err
			}
			c.comm = strings.TrimSuffix(string(name), "\n")
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			if err := unix.Listen(fd, backlog); err != nil {
				return err
			}
			sa, err := unix.Getsockname(fd)
			if err != nil {
				return err
			}
			c.port = sa.(*unix.SockaddrInet4).Port
			time.Sleep(20 * time.Millisecond)
			return nil
		}()
	}()
	return c, <-errc
}

// hostListenConfig is the listen probe as this host can run it whatever
// its kernel: tracepoints and BTF offsets, our own process only.
func hostListenConfig(t *testing.T, backend backend.Choice, cacheDir string) Config {
	if _, err := os.Stat(kernel.BTF); err != nil {
		t.Skip("needs the kernel's BTF for the tracepoint strategy's offsets")
	}
	return Config{
		Mode: ModePerf, Strategy: StrategyTracepoint, Offsets: OffsetsBTF,
		PID: uint32(os.Getpid()), Backend: backend, CacheDir: cacheDir,
	}
}

// collectListens runs each tracer until it has seen a listen with every
// backlog in want, and returns what each saw, by backlog.
func collectListens(t *testing.T, tracers []*Tracer, want []int32, trigger func()) []map[int32]Event {
	t.Helper()
	got := make([]map[int32]Event, len(tracers))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, tr := range tracers {
		got[i] = map[int32]Event{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, rcancel := context.WithCancel(ctx)
			defer rcancel()
			err := tr.Run(rctx, Handler{Event: func(e Event) {
				got[i][e.Backlog] = e
				for _, b := range want {
					if _, ok := got[i][b]; !ok {
						return
					}
				}
				rcancel()
			}})
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	trigger()
	wg.Wait()
	return got
}

func TestListenELFMatchesBCC(t *testing.T) {
	testenv.RequireELF(t)
	cache := testenv.TrustedTempDir(t)
	var tracers []*Tracer
	for _, b := range []backend.Choice{backend.BCC, backend.ELF} {
		tr, err := Open(realbackends.Set(), hostListenConfig(t, b, cache))
		if err != nil {
			t.Fatalf("Open(realbackends.Set(), %s): %v", b, err)
		}
		defer tr.Close()
		if got := tr.Backend().Choice; got != b {
			t.Fatalf("asked for %s, got %s", b, tr.Backend())
		}
		tracers = append(tracers, tr)
	}
	t.Logf("elf: %s", tracers[1].Backend())
	var ports []int
	got := collectListens(t, tracers, []int32{91, 92}, func() {
		for _, backlog := range []int{91, 92} {
			_, port := testenv.ListenOnThread(t, backlog)
			ports = append(ports, port)
		}
	})
	for i, backlog := range []int32{91, 92} {
		bcc, okB := got[0][backlog]
		elf, okE := got[1][backlog]
		if !okB || !okE {
			t.Fatalf("backlog %d: bcc saw it: %v, elf saw it: %v", backlog, okB, okE)
		}
		if int(bcc.Port) != ports[i] {
			t.Errorf("bcc: port %d, want %d", bcc.Port, ports[i])
		}
		// The timestamps are each program's own: compare the rest.
		bcc.Time, bcc.Mono, elf.Time, elf.Mono = time.Time{}, 0, time.Time{}, 0
		if bcc != elf {
			t.Errorf("backlog %d: the backends decoded different events:\n bcc %+v\n elf %+v", backlog, bcc, elf)
		}
	}
}

func TestELFCacheRebuildsDamagedObject(t *testing.T) {
	testenv.RequireELF(t)
	dir := testenv.TrustedTempDir(t)
	cfg := hostListenConfig(t, backend.ELF, dir)
	open := func() *Tracer {
		tr, err := Open(realbackends.Set(), cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return tr
	}
	first := open()
	if c := first.Backend().Cache; !strings.Contains(c, "compiled") {
		t.Errorf("first run: cache %q, want a compile", c)
	}
	first.Close()
	second := open()
	if c := second.Backend(); c.Cache != "hit" {
		t.Errorf("second run: cache %q, want a hit", c.Cache)
	}
	second.Close()
	objs, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	if len(objs) != 1 {
		t.Fatalf("cache holds %v, want one object", objs)
	}
	if err := os.Truncate(objs[0], 100); err != nil {
		t.Fatal(err)
	}
	third := open()
	defer third.Close()
	if c := third.Backend().Cache; !strings.Contains(c, "truncated") || !strings.Contains(c, "compiled") {
		t.Errorf("after truncation: cache %q, want the object rejected and rebuilt", c)
	}
	got := collectListens(t, []*Tracer{third}, []int32{93}, func() { testenv.ListenOnThread(t, 93) })
	if _, ok := got[0][93]; !ok {
		t.Error("the rebuilt object reported no event")
	}
}

func TestAutoBackendFillsTheCache(t *testing.T) {
	testenv.RequireELF(t)
	dir := testenv.TrustedTempDir(t)
	cfg := hostListenConfig(t, backend.Auto, dir)
	first, err := Open(realbackends.Set(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b := first.Backend(); b.Choice != backend.BCC || !strings.Contains(b.Why, "background") {
		t.Errorf("first auto run: %s, want bcc while the object compiles", b)
	}
	if err := first.sess.WaitCacheFill(); err != nil {
		t.Fatalf("background compile: %v", err)
	}
	first.Close()
	second, err := Open(realbackends.Set(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if b := second.Backend(); b.Choice != backend.ELF || b.Cache != "hit" {
		t.Errorf("second auto run: %s, want elf from the cache", b)
	}
}

func TestELFCompileErrorShowsClang(t *testing.T) {
	testenv.RequireELF(t)
	_, err := session.Open(realbackends.Set(), session.Spec{
		Name:       "broken.c",
		Source:     "EVTRACE_TRACEPOINT(syscalls, sys_enter_getppid) { return missing_thing; }\n",
		Probes:     []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
		Dialect:    true,
		Backend:    backend.ELF,
		CacheDir:   testenv.TrustedTempDir(t),
		AnyHeaders: true,
	})
	var ce *backend.CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Log, "missing_thing") || !strings.Contains(ce.Log, "broken.c") {
		t.Fatalf("error %v: want a CompileError with clang's message about broken.c", err)
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
	// BPF trampolines need the JIT, ftrace's direct calls, and the target
	// among the functions ftrace may hook (available_filter_functions,
	// which some hypervisors' kernels refuse to show, and to hook, even to
	// root): what this kernel shows says which outcome must happen.
	jit, ok := kernel.Config("CONFIG_BPF_JIT")
	direct, _ := kernel.Config("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS")
	if !ok {
		testenv.Unavailable(t, "needs the kernel's configuration (/proc/config.gz or /boot/config-RELEASE) to know whether fentry can work")
	}
	dir, err := kernel.TraceFS()
	if err != nil {
		t.Fatal(err)
	}
	hookable, affErr := os.ReadFile(filepath.Join(dir, "available_filter_functions"))
	canHook := affErr == nil && regexp.MustCompile(`(?m)^inet_listen\b`).Match(hookable)
	tr, err := Open(realbackends.Set(), Config{Mode: ModePerf, Strategy: StrategyFentry, Backend: backend.BCC})
	if jit != "y" || direct != "y" || !canHook {
		if err == nil {
			tr.Close()
			t.Fatalf("Open succeeded, but BPF_JIT %q, DYNAMIC_FTRACE_WITH_DIRECT_CALLS %q, inet_listen hookable %v (%v)", jit, direct, canHook, affErr)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "--attach fentry: this kernel refused the fexit program on inet_listen") || strings.Contains(msg, "\n") {
			t.Fatalf("Open: %q, want one line saying the kernel refused fentry", msg)
		}
		return
	}
	if err != nil {
		t.Fatalf("Open: %v (the kernel has BPF_JIT and DYNAMIC_FTRACE_WITH_DIRECT_CALLS, and ftrace may hook inet_listen)", err)
	}
	// The event waits in the perf ring until Run reads it.
	tid, port := testenv.ListenOnThread(t, 19)
	var got Event
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = tr.Run(ctx, Handler{Event: func(e Event) {
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

func TestListenWithoutKprobes(t *testing.T) {
	testenv.RequireBPF(t)
	if kernel.KprobesSupported() {
		t.Skip("this kernel has kprobes; the VM tests cover evtrace listen")
	}
	_, err := Open(realbackends.Set(), Config{Mode: ModePerf, Strategy: StrategyKprobe})
	if !errors.Is(err, kernel.ErrNoKprobes) {
		t.Fatalf("Open: %v, want kernel.ErrNoKprobes", err)
	}
}

func TestListenCountsAreExact(t *testing.T) {
	testenv.RequireBPF(t)
	for _, r := range testenv.ExactListenCases {
		t.Run(r.Name, func(t *testing.T) {
			for run := 1; run <= testenv.ExactRuns; run++ {
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
					testenv.Generate(t, r.Calls, r.Rate, func() {
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
				lt, err := Open(realbackends.Set(), Config{Mode: ModePerf, NetNS: ino, PerfPages: r.Pages, Backend: backend.BCC})
				if err != nil {
					close(start)
					wg.Wait()
					t.Fatalf("Open: %v", err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() { errc <- lt.Run(ctx, Handler{}) }()
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
				if st.Events+st.Lost != uint64(r.Calls) {
					t.Fatalf("run %d: received %d + lost %d = %d, want exactly %d", run, st.Events, st.Lost, st.Events+st.Lost, r.Calls)
				}
			}
		})
	}
}
