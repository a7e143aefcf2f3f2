package main

// Issue 15's proof for user-space probes: bcc's threadsnoop (a uprobe on
// libc's pthread_create) and bashreadline (a uretprobe on bash's
// readline), their C captured from the installed tools, run under
// `evtrace run` and under the Python tool side by side on a workload of
// ours; the events of our processes must be the same in both.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// runTool runs one of the two tools (the Python tool, or evtrace run with
// -o json): once it has attached it runs work, waits until done says it
// has printed what it should (the Python tool handles events as they
// come, and a SIGINT ends it at once), then interrupts it. The two run
// one after the other, each on its own run of the workload: Debian's bcc
// 0.26 Python passes libbcc's bpf_attach_uprobe no ref_ctr_offset (its
// ctypes prototype lacks the argument), so the kernel gets whatever the
// register holds, and then refuses any other uprobe at the same place
// with "ref_ctr_offset mismatch" while the Python tool is attached. The
// Python tool runs with that argument fixed (fixedRefCtr).
// fixedRefCtr runs a bcc tool (its path and arguments follow) with one
// fix to bcc 0.26's Python bindings: bpf_attach_uprobe gets its last
// argument, ref_ctr_offset, as 0. Without it the kernel gets whatever the
// register holds, and with a value that is not 0 it counts a "semaphore"
// at that offset of the binary in every process, or fails to: the tool
// then sees some processes' calls and not others', from run to run.
const fixedRefCtr = `
import ctypes, runpy, sys
import bcc
real = bcc.lib.bpf_attach_uprobe
real.argtypes = list(real.argtypes[:6]) + [ctypes.c_uint32]
bcc.lib.bpf_attach_uprobe = lambda *a: real(*(tuple(a) + (0,) * (7 - len(a))))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
`

func runTool(t *testing.T, python bool, argv []string, work func(), done func(out string) bool) string {
	t.Helper()
	name, ready := "evtrace run", func(stream, line string) bool {
		return stream == "stderr" && strings.HasPrefix(line, "evtrace: tracing")
	}
	if python {
		name, ready = "bcc "+filepath.Base(argv[0]), func(stream, _ string) bool { return stream == "stdout" }
		argv = append([]string{bccPython, "-c", fixedRefCtr}, argv...)
	} else {
		argv = append([]string{evtraceBinary(t)}, append(argv, "-o", "json")...)
	}
	p := startTool(t, name, bccEnv(t), ready, argv...)
	select {
	case <-p.ready:
	case <-p.exited:
		t.Fatalf("%s ended before it attached: %v\n%s", p.name, p.err, p)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not attach in 60 s\n%s", p.name, p)
	}
	if python {
		// The tools print their header before they open their perf
		// buffer: events before that are lost. Wait until the tool
		// polls the buffer.
		waitInPoll(t, p)
	}
	work()
	var out string
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out, _ = p.output(); done(out) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the events did not all come in 20 s\n%s", p)
		}
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit in 30 s of SIGINT\n%s", p.name, p)
	}
	if !python && p.err != nil {
		t.Fatalf("evtrace: %v\n%s", p.err, p)
	}
	out, _ = p.output()
	return out
}

// waitInPoll waits until the Python tool's main thread waits in
// poll (libbcc's perf_reader_poll, under perf_buffer_poll).
func waitInPoll(t *testing.T, p *toolProc) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/syscall", p.cmd.Process.Pid)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		nr, _, _ := strings.Cut(string(b), " ")
		switch nr {
		case strconv.Itoa(unix.SYS_POLL), strconv.Itoa(unix.SYS_PPOLL), strconv.Itoa(unix.SYS_EPOLL_WAIT), strconv.Itoa(unix.SYS_EPOLL_PWAIT):
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s not in poll after 30 s (%s: %q)\n%s", p.name, path, b, p)
		}
	}
}

// evJSON decodes evtrace's JSON lines.
func evJSON(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("evtrace printed %q: %v", l, err)
		}
		recs = append(recs, m)
	}
	return recs
}

const threadsProgram = `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

void *evtrace_thread_fn(void *arg) { return arg; }

int main(int argc, char **argv)
{
	char c;
	if (read(0, &c, 1) != 1)
		return 2;
	for (int i = 0; i < 4; i++) {
		pthread_t th;
		pthread_create(&th, NULL, evtrace_thread_fn, NULL);
		pthread_join(th, NULL);
	}
	printf("%p\n", (void *)evtrace_thread_fn);
	fflush(stdout);
	read(0, &c, 1); /* stay, for bcc to symbolize */
	return 0;
}
`

// TestBCCThreadsnoop: threadsnoop's uprobe on pthread_create sees our
// program's four threads in both tools: same PID and name, and the start
// routine the program prints (Python symbolizes it: evtrace_thread_fn).
func TestBCCThreadsnoop(t *testing.T) {
	testenv.RequireBPF(t)
	tool := bccToolPath(t, "threadsnoop")
	run, _ := testenv.CaptureBCC(t, "scripts/bcc-capture.py", bccEnv(t), tool)
	if !reflect.DeepEqual(run[len(run)-2:], []string{"--attach", "uprobe:c:pthread_create=do_entry"}) {
		t.Fatalf("threadsnoop's capture: %q", run)
	}
	dir := testenv.TrustedTempDir(t)
	os.Chmod(dir, 0o755)
	src, bin := filepath.Join(dir, "threads.c"), filepath.Join(dir, "evthreads")
	if err := os.WriteFile(src, []byte(threadsProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-O1", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	// One run of the program for each tool: four threads, and the
	// address of their start routine.
	type threads struct {
		pid   int
		start uint64
	}
	workload := func(t *testing.T) (func(), *threads) {
		cmd := exec.Command(bin)
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Wait() })
		th := &threads{pid: cmd.Process.Pid}
		return func() {
			in.Write([]byte{'\n'})
			var p uintptr
			if _, err := fmt.Fscanf(outp, "%v\n", &p); err != nil {
				t.Fatalf("threads program: %v", err)
			}
			th.start = uint64(p)
		}, th
	}
	row := regexp.MustCompile(`^\s*\d+\s+(\d+)\s+(\S+)\s+(\S+)\s*$`)
	pyRows := func(py string, pid int) (rows [][]string) {
		for _, l := range strings.Split(py, "\n") {
			if m := row.FindStringSubmatch(l); m != nil && m[1] == strconv.Itoa(pid) {
				rows = append(rows, m[1:])
			}
		}
		return rows
	}
	evRows := func(ev string, pid int) (rows []map[string]any) {
		for _, r := range evJSON(t, ev) {
			if fmt.Sprint(r["pid"]) == strconv.Itoa(pid) {
				rows = append(rows, r)
			}
		}
		return rows
	}
	work, pyTh := workload(t)
	py := runTool(t, true, []string{tool}, work, func(out string) bool { return len(pyRows(out, pyTh.pid)) >= 4 })
	work, evTh := workload(t)
	ev := runTool(t, false, run, work, func(out string) bool { return len(evRows(out, evTh.pid)) >= 4 })
	pr, er := pyRows(py, pyTh.pid), evRows(ev, evTh.pid)
	if len(pr) != 4 || len(er) != 4 {
		t.Fatalf("bcc %d threads, evtrace %d; want 4 each\n%s\n%s", len(pr), len(er), py, ev)
	}
	for i := range pr {
		// Python 3 prints threadsnoop's bytes as b'...'.
		comm, fn := strings.Trim(strings.TrimPrefix(pr[i][1], "b"), "'"), strings.Trim(strings.TrimPrefix(pr[i][2], "b"), "'")
		if comm != "evthreads" || (fn != "evtrace_thread_fn" && fn != fmt.Sprintf("0x%x", pyTh.start)) {
			t.Errorf("bcc row %q: want evthreads, evtrace_thread_fn", pr[i])
		}
		if er[i]["comm"] != "evthreads" || fmt.Sprint(er[i]["start"]) != strconv.FormatUint(evTh.start, 10) {
			t.Errorf("evtrace row %v: want comm evthreads, start %d (0x%x)", er[i], evTh.start, evTh.start)
		}
	}
	t.Logf("bcc: %q; evtrace: %v", pr, er)
}

// openPTY opens a pseudo-terminal: its master and its slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Unavailable(t, "needs /dev/ptmx: "+err.Error())
	}
	unlock := 0
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// TestBCCBashreadline: bashreadline's uretprobe on bash's readline sees
// every line typed into an interactive bash of ours, in both tools alike.
// The first line typed is not seen by either: bash was already in
// readline when the uretprobe was attached, and a uretprobe takes over a
// function's return at its entry.
func TestBCCBashreadline(t *testing.T) {
	testenv.RequireBPF(t)
	tool := bccToolPath(t, "bashreadline")
	run, _ := testenv.CaptureBCC(t, "scripts/bcc-capture.py", bccEnv(t), tool)
	if !reflect.DeepEqual(run[len(run)-2:], []string{"--attach", "uretprobe:/bin/bash:readline=printret"}) {
		t.Fatalf("bashreadline's capture: %q", run)
	}
	typed := []string{"true evtrace-unseen", "echo evtrace-one", "true evtrace-two 'with quotes'", ": evtrace-three"}
	want := typed[1:]
	row := regexp.MustCompile(`^\S+\s+(\d+)\s(.*)$`)
	pyLines := func(py string, pid int) (got []string) {
		for _, l := range strings.Split(py, "\n") {
			if m := row.FindStringSubmatch(l); m != nil && m[1] == strconv.Itoa(pid) {
				got = append(got, strings.TrimSpace(m[2]))
			}
		}
		return got
	}
	evLines := func(ev string, pid int) (got []string) {
		for _, r := range evJSON(t, ev) {
			if fmt.Sprint(r["pid"]) == strconv.Itoa(pid) {
				got = append(got, fmt.Sprint(r["str"]))
			}
		}
		return got
	}
	pyPid, pyType, pyStop := interactiveBash(t)
	py := runTool(t, true, []string{tool}, func() { pyType(typed) }, func(out string) bool { return len(pyLines(out, pyPid)) >= len(want) })
	// That bash is in readline, entered while bcc's uretprobe was
	// attached: its pending return keeps that uprobe, with the
	// ref_ctr_offset that refuses ours, in the kernel until it returns.
	pyStop()
	evPid, evType, _ := interactiveBash(t)
	ev := runTool(t, false, run, func() { evType(typed) }, func(out string) bool { return len(evLines(out, evPid)) >= len(want) })
	if got := pyLines(py, pyPid); !reflect.DeepEqual(got, want) {
		t.Errorf("bcc's bashreadline saw %q, want %q\n%s", got, want, py)
	}
	if got := evLines(ev, evPid); !reflect.DeepEqual(got, want) {
		t.Errorf("evtrace saw %q, want %q\n%s", got, want, ev)
	}
}

// interactiveBash starts bash -i on a new terminal and returns its PID
// a function that types lines into it, and one that ends it (the test's
// end does too).
func interactiveBash(t *testing.T) (int, func([]string), func()) {
	t.Helper()
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	bash := exec.Command("/bin/bash", "--norc", "--noprofile", "-i")
	bash.Stdin, bash.Stdout, bash.Stderr = slave, slave, slave
	bash.Env = []string{"TERM=dumb", "PS1=$ ", "HOME=/", "PATH=/usr/bin:/bin"}
	bash.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := bash.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	prompt := make(chan struct{})
	go func() { // drain the terminal; say when bash first prompts
		b := make([]byte, 4096)
		prompted := false
		for {
			n, err := master.Read(b)
			if err != nil {
				return
			}
			if !prompted && strings.Contains(string(b[:n]), "$ ") {
				prompted = true
				close(prompt)
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			bash.Process.Kill()
			bash.Wait()
			master.Close()
		})
	}
	t.Cleanup(stop)
	select {
	case <-prompt:
	case <-time.After(10 * time.Second):
		t.Fatal("bash did not prompt in 10 s")
	}
	return bash.Process.Pid, func(lines []string) {
		for _, l := range lines {
			master.Write([]byte(l + "\n"))
			time.Sleep(100 * time.Millisecond)
		}
	}, stop
}
