//go:build vmguest

package guest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// evtrace is one running evtrace process.
type evtrace struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error
}

func evtraceBin(t *testing.T) string {
	bin := os.Getenv("EVTRACE_BIN")
	if bin == "" {
		t.Fatal("EVTRACE_BIN is not set: the VM driver (e2e/vm_test.go) sets it")
	}
	return bin
}

func startEvtrace(t *testing.T, name string, args ...string) *evtrace {
	t.Helper()
	return startProcess(t, name, nil, evtraceBin(t), args...)
}

// startProcess starts any command as an evtrace is started (output kept,
// killed at the test's end if still running); env nil is ours.
func startProcess(t *testing.T, name string, env []string, path string, args ...string) *evtrace {
	t.Helper()
	e := &evtrace{name: name, done: make(chan struct{})}
	e.cmd = exec.Command(path, args...)
	e.cmd.Env = env
	e.cmd.Stdout = &e.stdout
	e.cmd.Stderr = &e.stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		e.err = e.cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() {
		select {
		case <-e.done:
		default:
			e.cmd.Process.Kill()
			<-e.done
		}
	})
	return e
}

// readyLine starts the line evtrace prints once its probes are attached.
const readyLine = "evtrace: tracing"

// waitReady waits until every e says it is attached; under TCG each bcc
// compile takes a minute or two, and they run at the same time.
func waitReady(t *testing.T, timeout time.Duration, es ...*evtrace) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for _, e := range es {
		for !strings.Contains(e.stderr.String(), readyLine) {
			select {
			case <-e.done:
				t.Fatalf("evtrace %s exited before it was ready: %v\nstderr:\n%s", e.name, e.err, e.stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("evtrace %s not ready after %v\nstderr:\n%s", e.name, timeout, e.stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("%d evtrace processes ready after %v", len(es), time.Since(start).Round(time.Second))
}

// stop sends sig and waits for the exit; it returns the exit status.
func (e *evtrace) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := e.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", e.name, err)
	}
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("evtrace %s still running 30s after %v", e.name, sig)
	}
	return e.cmd.ProcessState.ExitCode()
}

// waitOutput polls stdout until ok accepts it or the timeout passes.
func (e *evtrace) waitOutput(timeout time.Duration, ok func(string) bool) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out := e.stdout.String()
		if ok(out) {
			return out, true
		}
		if time.Now().After(deadline) {
			return out, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// child is a helper process in a new network namespace, driven line by line.
type child struct {
	cmd   *exec.Cmd
	in    *os.File
	out   *bufio.Scanner
	pid   int
	netns uint64
}

func (c *child) do(t *testing.T, command string) string {
	t.Helper()
	if _, err := fmt.Fprintln(c.in, command); err != nil {
		t.Fatalf("child %s: %v", command, err)
	}
	if !c.out.Scan() {
		t.Fatalf("child %s: no answer: %v", command, c.out.Err())
	}
	return c.out.Text()
}
