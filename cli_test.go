package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
	"golang.org/x/sys/unix"
)

// These tests run the real binary (evtraceBinary) and talk to it as a
// user's shell would: pipes, signals, other readers of trace_pipe.

// lockedBuffer is a bytes.Buffer that a child process writes while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// child is a running evtrace.
type child struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// startChild starts the real binary with args; stdout goes to stdout (nil:
// discarded). The child is killed when the test ends, if still running.
func startChild(t *testing.T, stdout *os.File, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(evtraceBinary(t), args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	if stdout != nil {
		c.cmd.Stdout = stdout
	}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// waitStderr waits until the child's stderr contains s; false if it exits
// or the timeout passes first.
func (c *child) waitStderr(timeout time.Duration, s string) bool {
	deadline := time.After(timeout)
	for !strings.Contains(c.stderr.String(), s) {
		select {
		case <-c.done:
			return strings.Contains(c.stderr.String(), s)
		case <-deadline:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// exited waits for the child to end, calling poke every 100 ms meanwhile
// (to cause events), and returns its exit status and how it ended.
func (c *child) exited(t *testing.T, timeout time.Duration, poke func()) (int, string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case <-c.done:
			return c.cmd.ProcessState.ExitCode(), c.cmd.ProcessState.String()
		case <-deadline:
			t.Fatalf("evtrace still running after %v; stderr:\n%s", timeout, c.stderr.String())
		case <-time.After(100 * time.Millisecond):
			if poke != nil {
				poke()
			}
		}
	}
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// listenOnce makes one listen() call on 127.0.0.1.
func listenOnce(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer unix.Close(fd)
	unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(fd, 1)
}

// readOneLineAndClose reads a line from r, then closes it: a reader such
// as head -1.
func readOneLineAndClose(t *testing.T, r *os.File, timeout time.Duration) string {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if err != nil {
		t.Fatalf("read the first line: %v", err)
	}
	return line
}

// poking calls poke every 100 ms until the test ends.
func poking(t *testing.T, poke func()) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-done
	})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				poke()
			}
		}
	}()
}

// brokenPipe runs the binary with its stdout into a pipe whose reader
// closes after one line, pokes until it exits, and checks that it stopped
// cleanly: exit 0, the summary last on stderr.
func brokenPipe(t *testing.T, poke func(), args ...string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, w, args...)
	w.Close()
	poking(t, poke)
	first := readOneLineAndClose(t, r, time.Minute)
	code, how := c.exited(t, time.Minute, nil)
	stderr := c.stderr.String()
	if code != 0 || !strings.HasPrefix(lastLine(stderr), "evtrace: ") || !strings.Contains(lastLine(stderr), " events, 0 lost") ||
		strings.Contains(stderr, "broken pipe") {
		t.Errorf("after the reader closed (first line %q): %s, stderr:\n%s\nwant exit 0 and the summary last", first, how, stderr)
	}
}

// TestListenBrokenPipe: evtrace listen | head -1 stops at the next event,
// detached, with the summary, exit 0 (it was killed by SIGPIPE, 141).
func TestListenBrokenPipe(t *testing.T) {
	testenv.RequireBPF(t)
	brokenPipe(t, func() { listenOnce(t) }, "listen", "--backend", "bcc")
}

// TestRunBrokenPipe: the same for evtrace run.
func TestRunBrokenPipe(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
struct ev { u32 pid; };
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	struct ev e = {.pid = bpf_get_current_pid_tgid() >> 32};
	if (e.pid != WANT_PID)
		return 0;
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`)
	brokenPipe(t, func() { unix.Getppid() }, "run", probe, "-D", "WANT_PID="+strconv.Itoa(os.Getpid()), "--perf-wakeup", "1")
}

// TestSignalDuringCompile: SIGINT while libbcc compiles (standard error is
// captured then) must still show the notice that the run ends once the
// probe is loaded, then the summary, exit 0.
func TestSignalDuringCompile(t *testing.T) {
	testenv.RequireBPF(t)
	// Headers make the compile last long enough to be caught in it.
	probe := writeProbe(t, `
#include <linux/sched.h>
#include <linux/fs.h>
#include <net/sock.h>
#include <net/inet_sock.h>
struct ev { u32 pid; };
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	struct ev e = {.pid = bpf_get_current_pid_tgid() >> 32};
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`)
	for attempt := 1; ; attempt++ {
		c := startChild(t, nil, "run", probe)
		if !waitCapture(c, time.Minute) {
			if attempt < 3 {
				t.Logf("attempt %d: did not see the compile; again", attempt)
				continue
			}
			t.Fatalf("never saw evtrace capture its standard error (compiling); stderr:\n%s", c.stderr.String())
		}
		c.cmd.Process.Signal(os.Interrupt)
		code, how := c.exited(t, time.Minute, nil)
		stderr := c.stderr.String()
		if code != 0 || !strings.Contains(stderr, "evtrace: stopping once the probe is loaded (a second signal ends evtrace now)\n") ||
			lastLine(stderr) != "evtrace: 0 events, 0 lost" {
			t.Errorf("SIGINT while compiling: %s, stderr:\n%s\nwant exit 0, the notice, and the summary last", how, stderr)
		}
		return
	}
}

// waitCapture waits until the child's descriptor 2 is the memory file
// that tracer captures libbcc's messages into (tracer/compile.go).
func waitCapture(c *child, timeout time.Duration) bool {
	link := "/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/fd/2"
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return false
		default:
		}
		if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, "/memfd:evtrace-stderr") {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// holdTracePipe opens the trace pipe for the test, waiting while another
// process on the machine holds it (the kernel allows one reader).
func holdTracePipe(t *testing.T) (*os.File, string) {
	t.Helper()
	dir, err := kernel.TraceFS()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "trace_pipe")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		f, err := os.Open(path)
		if err == nil {
			t.Cleanup(func() { f.Close() })
			return f, path
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			if os.Getenv("CI") == "true" {
				t.Fatal(err)
			}
			t.Skipf("cannot hold the trace pipe: %v", err)
		}
		time.Sleep(time.Second)
	}
}

// TestTracePipeBusy: with the trace pipe held by this test, listen --mode
// debug fails at once with one line naming this process.
func TestTracePipeBusy(t *testing.T) {
	testenv.RequireBPF(t)
	_, path := holdTracePipe(t)
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runAs(t, false, "listen", "--mode", "debug", "--backend", "bcc")
	want := fmt.Sprintf("evtrace: open %s: another reader holds it (the kernel allows one at a time): PID %d (%q); stop it and try again\n",
		path, os.Getpid(), strings.TrimSpace(string(comm)))
	if code != 1 || stderr != want || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%q\nwant exit 1 and\n%q", code, stdout, stderr, want)
	}
}
