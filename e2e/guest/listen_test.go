//go:build vmguest

// Package guest holds evtrace's end-to-end tests. They run as root inside
// the Debian VM (scripts/vm/run.sh), whose kernel has kprobes and matching
// headers, against the real evtrace binary named by EVTRACE_BIN; the driver
// is e2e/vm_test.go on the host.
//
// Under TCG one bcc compile takes a minute or two, so the test starts the
// three evtrace processes it needs at the same time (one compile each), then
// makes every listener once and checks all three outputs.
package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer"
)

func TestMain(m *testing.M) {
	if os.Getenv("EVTRACE_E2E_HELPER") == "child" {
		os.Exit(childMain())
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "guest tests: must run as root inside the VM")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// listener is one listen() the test made, and the event it must produce.
type listener struct {
	name    string
	pid     int
	tid     int
	netns   uint64
	proto   string
	backlog int
	addr    string
	port    int
}

// listenFromThread makes a socket of family, binds it to addr:0 and listens,
// all from one locked OS thread, and returns its tid and port. When netnsFd
// is not -1 the thread first joins that network namespace; it is then left
// locked so that Go discards it instead of reusing a thread in the wrong
// namespace.
func listenFromThread(t *testing.T, family int, addr string, backlog int, netnsFd int) (tid, port int) {
	t.Helper()
	type result struct {
		tid, port int
		err       error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if netnsFd == -1 {
			defer runtime.UnlockOSThread()
		} else if err := unix.Setns(netnsFd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		ip := netip.MustParseAddr(addr)
		var sa unix.Sockaddr
		if family == unix.AF_INET6 {
			sa = &unix.SockaddrInet6{Addr: ip.As16()}
		} else {
			sa = &unix.SockaddrInet4{Addr: ip.As4()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			ch <- result{err: fmt.Errorf("bind %s: %w", addr, err)}
			return
		}
		if err := unix.Listen(fd, backlog); err != nil {
			ch <- result{err: err}
			return
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			ch <- result{err: err}
			return
		}
		r := result{tid: unix.Gettid()}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			r.port = a.Port
		case *unix.SockaddrInet6:
			r.port = a.Port
		}
		ch <- r // the socket stays open until the test process ends
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen on %s: %v", addr, r.err)
	}
	return r.tid, r.port
}

func netnsOf(t *testing.T, pid string) uint64 {
	t.Helper()
	link, err := os.Readlink(filepath.Join("/proc", pid, "ns/net"))
	if err != nil {
		t.Fatal(err)
	}
	// "net:[4026531840]"
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", link, err)
	}
	return n
}

func kprobeCount(t *testing.T, function string) int {
	t.Helper()
	data, err := os.ReadFile("/sys/kernel/debug/kprobes/list")
	if err != nil {
		t.Fatalf("read kprobes list: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, " "+function+"+") {
			n++
		}
	}
	return n
}

func kprobeEvents(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/sys/kernel/tracing/kprobe_events")
	if err != nil {
		t.Fatalf("read kprobe_events: %v", err)
	}
	return string(data)
}

func bpfPrograms(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool prog show: %v\n%s", err, out)
	}
	return string(out)
}

func TestListen(t *testing.T) {
	selfComm := strings.TrimSpace(readFile(t, "/proc/self/comm"))
	hostNetns := netnsOf(t, "self")

	// A stale kprobe of a bcc process that died with SIGKILL on an older
	// kernel: evtrace must remove it when it starts.
	const stale = "kprobes/p_inet_listen_bcc_4194000"
	appendFile(t, "/sys/kernel/tracing/kprobe_events", "p:"+stale+" inet_listen\n")

	// The child lives in a new network namespace and owns a socket made
	// (and bound) here, in the host's namespace.
	hostSock, hostSockPort := boundSocket(t)
	c := startChild(t, hostSock)
	childNetns := c.netns
	if childNetns == hostNetns {
		t.Fatal("child is in the host's network namespace")
	}

	perf := startEvtrace(t, "perf", "listen", "-o", "json", "-v")
	filtered := startEvtrace(t, "filtered", "listen", "-p", strconv.Itoa(c.pid), "-n", strconv.FormatUint(childNetns, 10), "--show-netns")
	debug := startEvtrace(t, "debug", "listen", "--mode", "debug")
	waitReady(t, 12*time.Minute, perf, filtered, debug)

	// The three start together: whichever checks first removes it.
	if all := perf.stderr.String() + filtered.stderr.String() + debug.stderr.String(); !strings.Contains(all, "removed stale kprobe "+stale) {
		t.Errorf("no evtrace reported removing %s; stderr:\n%s", stale, all)
	}
	if strings.Contains(kprobeEvents(t), stale) {
		t.Errorf("stale kprobe %s still in kprobe_events", stale)
	}
	if n := kprobeCount(t, "inet_listen"); n != 3 {
		t.Errorf("%d kprobes on inet_listen with three evtrace processes running, want 3", n)
	}

	// The listeners, each with a backlog of its own to tell them apart.
	pid := os.Getpid()
	var ls []listener
	tid, port := listenFromThread(t, unix.AF_INET, "127.0.0.1", 10, -1)
	ls = append(ls, listener{"IPv4 loopback", pid, tid, hostNetns, "TCPv4", 10, "127.0.0.1", port})
	tid, port = listenFromThread(t, unix.AF_INET, "0.0.0.0", 77, -1)
	ls = append(ls, listener{"IPv4 any", pid, tid, hostNetns, "TCPv4", 77, "0.0.0.0", port})
	tid, port = listenFromThread(t, unix.AF_INET6, "::1", 5, -1)
	ls = append(ls, listener{"IPv6 loopback", pid, tid, hostNetns, "TCPv6", 5, "::1", port})
	ans := strings.Fields(c.do(t, "listen-host 21"))
	ls = append(ls, listener{"child, host netns", c.pid, atoi(t, ans[1]), hostNetns, "TCPv4", 21, "127.0.0.1", hostSockPort})
	ans = strings.Fields(c.do(t, "listen-ns 22"))
	ls = append(ls, listener{"child, own netns", c.pid, atoi(t, ans[1]), childNetns, "TCPv4", 22, "0.0.0.0", atoi(t, ans[2])})
	nsFd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", c.pid), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tid, port = listenFromThread(t, unix.AF_INET, "0.0.0.0", 23, nsFd)
	unix.Close(nsFd)
	ls = append(ls, listener{"test, child's netns", pid, tid, childNetns, "TCPv4", 23, "0.0.0.0", port})

	t.Run("perf JSON", func(t *testing.T) { checkPerfJSON(t, perf, ls, selfComm) })
	t.Run("filters and show-netns", func(t *testing.T) { checkFiltered(t, filtered, ls[4], selfComm) })
	t.Run("debug", func(t *testing.T) { checkDebug(t, debug, ls, selfComm) })

	// Bad input, through the tracer package (after the evtrace processes
	// started: its Open would remove the stale kprobe first).
	t.Run("bad input", func(t *testing.T) {
		if err := checkBadInput(); err != nil {
			t.Error(err)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		if code := perf.stop(t, syscall.SIGINT); code != 0 {
			t.Errorf("perf: exit %d after SIGINT; stderr:\n%s", code, perf.stderr.String())
		}
		checkSummary(t, perf)
		if n := kprobeCount(t, "inet_listen"); n != 2 {
			t.Errorf("after SIGINT: %d kprobes on inet_listen, want 2", n)
		}
		if code := debug.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("debug: exit %d after SIGTERM; stderr:\n%s", code, debug.stderr.String())
		}
		checkSummary(t, debug)
		if n := kprobeCount(t, "inet_listen"); n != 1 {
			t.Errorf("after SIGTERM: %d kprobes on inet_listen, want 1", n)
		}
		// SIGKILL: libbcc attached through the perf kprobe PMU, so the
		// kernel drops the probe with the process's last descriptor.
		filtered.stop(t, syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond) // the kernel frees the program after the process
		if n := kprobeCount(t, "inet_listen"); n != 0 {
			t.Errorf("after SIGKILL: %d kprobes on inet_listen, want 0", n)
		}
		if ev := kprobeEvents(t); strings.Contains(ev, "inet_listen") {
			t.Errorf("kprobe_events still names inet_listen:\n%s", ev)
		}
		if progs := bpfPrograms(t); strings.Contains(progs, "kprobe__inet_l") {
			t.Errorf("an evtrace program is still loaded:\n%s", progs)
		}
	})
}

func checkPerfJSON(t *testing.T, perf *evtrace, ls []listener, comm string) {
	ours := func(out string) []map[string]any {
		var evs []map[string]any
		for _, line := range strings.Split(out, "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			p := int(m["pid"].(float64))
			for _, l := range ls {
				if p == l.pid {
					evs = append(evs, m)
					break
				}
			}
		}
		return evs
	}
	out, ok := perf.waitOutput(time.Minute, func(out string) bool { return len(ours(out)) >= len(ls) })
	if !ok {
		t.Fatalf("perf: %d of %d events after a minute:\n%s", len(ours(out)), len(ls), out)
	}
	evs := ours(out)
	if len(evs) != len(ls) {
		t.Errorf("perf: %d events from our processes, want %d:\n%s", len(evs), len(ls), out)
	}
	wantKeys := []string{"addr", "backlog", "comm", "netns", "pid", "port", "proto", "tid", "time"}
	for _, l := range ls {
		var got map[string]any
		for _, e := range evs {
			if int(e["backlog"].(float64)) == l.backlog {
				got = e
			}
		}
		if got == nil {
			t.Errorf("%s: no event with backlog %d", l.name, l.backlog)
			continue
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("%s: JSON keys %v, want %v", l.name, keys, wantKeys)
		}
		want := map[string]any{
			"pid": float64(l.pid), "tid": float64(l.tid), "comm": comm, "netns": float64(l.netns),
			"proto": l.proto, "backlog": float64(l.backlog), "addr": l.addr, "port": float64(l.port),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", l.name, k, got[k], v)
			}
		}
		ts, err := time.Parse(time.RFC3339Nano, got["time"].(string))
		if err != nil || time.Since(ts) > 10*time.Minute || time.Until(ts) > time.Minute {
			t.Errorf("%s: time %v (%v), want about now", l.name, got["time"], err)
		}
	}
}

// checkFiltered: -p CHILD -n CHILDNS must report the child's listen in its
// own namespace only: not the child's listen in the host namespace (-n
// excludes it), not the test's listen in the child's namespace (-p excludes
// it), nor anything else.
func checkFiltered(t *testing.T, e *evtrace, want listener, comm string) {
	wantLine := fmt.Sprintf("%-7d %-15.15s %-10d %-5s %7d %5d %s", want.pid, comm, want.netns, want.proto, want.backlog, want.port, want.addr)
	out, ok := e.waitOutput(30*time.Second, func(out string) bool { return strings.Contains(out, wantLine) })
	if !ok {
		t.Fatalf("filtered run: no line %q in:\n%s", wantLine, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME     PID     COMM            NETNS") {
		t.Errorf("filtered run printed more than the header and one event:\n%s", out)
	}
}

func checkDebug(t *testing.T, e *evtrace, ls []listener, comm string) {
	for _, l := range ls[:3] {
		var msg string
		switch l.addr {
		case "127.0.0.1":
			msg = fmt.Sprintf("listen4 addr=7f000001 port=%d backlog=%d", l.port, l.backlog)
		case "0.0.0.0":
			msg = fmt.Sprintf("listen4 addr=0 port=%d backlog=%d", l.port, l.backlog)
		default:
			msg = fmt.Sprintf("listen6 port=%d backlog=%d", l.port, l.backlog)
		}
		out, ok := e.waitOutput(30*time.Second, func(out string) bool { return strings.Contains(out, msg) })
		if !ok {
			t.Errorf("%s: no trace line %q in:\n%s", l.name, msg, out)
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasSuffix(line, msg) {
				continue
			}
			f := strings.Fields(line)
			// TIME TID CPU COMM MESSAGE...; the kernel may not know the comm ("<...>").
			if len(f) < 5 || f[1] != strconv.Itoa(l.tid) || (f[3] != comm && f[3] != "<...>") {
				t.Errorf("%s: trace line %q, want tid %d comm %s", l.name, line, l.tid, comm)
			}
		}
	}
}

func checkSummary(t *testing.T, e *evtrace) {
	lines := strings.Split(strings.TrimSpace(e.stderr.String()), "\n")
	last := lines[len(lines)-1]
	var events, lost int
	if _, err := fmt.Sscanf(last, "evtrace: %d events, %d lost", &events, &lost); err != nil || events == 0 {
		t.Errorf("%s: last stderr line %q, want a summary with events", e.name, last)
	}
}

// checkBadInput runs the tracer package against the real kernel: a kprobe on
// a function that does not exist, and C that does not compile.
func checkBadInput() error {
	_, err := tracer.Open(tracer.Spec{
		Name:   "nofunc.c",
		Source: "int kprobe__evtrace_no_such_function(void *ctx) { return 0; }",
		Probes: []tracer.Probe{{Kind: tracer.Kprobe, Target: "evtrace_no_such_function", Program: "kprobe__evtrace_no_such_function"}},
	})
	if !errors.Is(err, tracer.ErrNoFunction) {
		return fmt.Errorf("kprobe on a missing function: %v, want ErrNoFunction", err)
	}
	_, err = tracer.Open(tracer.Spec{
		Name:   "broken.c",
		Source: "int kprobe__inet_listen(void *ctx) { return no_such_identifier; }",
		Probes: []tracer.Probe{{Kind: tracer.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"}},
	})
	var ce *tracer.CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no_such_identifier") {
		return fmt.Errorf("C that does not compile: %v, want a CompileError naming no_such_identifier", err)
	}
	return nil
}

// boundSocket makes a TCP socket bound to 127.0.0.1:0 in this namespace.
func boundSocket(t *testing.T) (*os.File, int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "host-socket"), sa.(*unix.SockaddrInet4).Port
}

func startChild(t *testing.T, sock *os.File) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "EVTRACE_E2E_HELPER=child")
	cmd.ExtraFiles = []*os.File{sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child in a new network namespace: %v", err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	c := &child{cmd: cmd, in: in.(*os.File), out: bufio.NewScanner(out), pid: cmd.Process.Pid}
	c.netns = netnsOf(t, strconv.Itoa(c.pid))
	return c
}

// childMain is the helper process. Fd 3 is a socket bound in the parent's
// namespace. Commands on stdin: "listen-host BACKLOG" listens on it,
// "listen-ns BACKLOG" makes, binds (0.0.0.0:0) and listens on a socket in the
// child's own namespace. Each answers "ok TID PORT".
func childMain() int {
	runtime.LockOSThread()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			fmt.Fprintf(os.Stderr, "child: bad command %q\n", sc.Text())
			return 1
		}
		backlog, _ := strconv.Atoi(f[1])
		fd := 3
		if f[0] == "listen-ns" {
			var err error
			if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err == nil {
				err = unix.Bind(fd, &unix.SockaddrInet4{})
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "child: %v\n", err)
				return 1
			}
		}
		if err := unix.Listen(fd, backlog); err != nil {
			fmt.Fprintf(os.Stderr, "child: listen: %v\n", err)
			return 1
		}
		sa, _ := unix.Getsockname(fd)
		fmt.Printf("ok %d %d\n", unix.Gettid(), sa.(*unix.SockaddrInet4).Port)
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatalf("write %q to %s: %v", s, path, err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
