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
	"unsafe"

	"github.com/evtrace/evtrace/tracer/testenv"
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
	impostor, err := Open(Spec{
		Name: "impostor.c",
		Source: `
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	bpf_trace_printk("listen4 addr=7f000001 port=1 backlog=1\n");
	return 0;
}`,
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open the impostor: %v", err)
	}
	defer impostor.Close()

	lt, err := OpenListen(ListenConfig{Mode: ModeDebug, PID: uint32(os.Getpid())})
	if err != nil {
		t.Fatalf("OpenListen: %v", err)
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
	err = lt.Run(ctx, ListenHandler{Trace: func(l tracepipe.Line) {
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
