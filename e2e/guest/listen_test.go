//go:build vmguest

// Package guest holds evtrace's end-to-end tests. They run as root against
// the real evtrace binary named by EVTRACE_BIN, in two places (the driver is
// e2e/vm_test.go): inside the Debian VM (scripts/vm/run.sh), whose kernel
// has kprobes and matching headers, and on the host, whose kernel has
// neither kprobes nor matching headers but has BTF and tracepoints.
//
// Each bcc compile is slow under emulation, so the test starts every evtrace
// process it needs at the same time (one compile each: one per attach
// strategy and offsets source the kernel supports, a filtered one and a
// debug one), then makes every listener once and checks all outputs.
package guest

import (
	"bufio"
	"bytes"
	"encoding/json"
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

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/listen"
	"golang.org/x/sys/unix"
)

// initialNetns is the test process's network namespace at start, before any
// thread joins another.
var initialNetns uint64

func TestMain(m *testing.M) {
	switch os.Getenv("EVTRACE_E2E_HELPER") {
	case "child":
		os.Exit(childMain())
	case "syscalls":
		os.Exit(syscallsMain())
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "guest tests: must run as root inside the VM")
		os.Exit(1)
	}
	link, err := os.Readlink("/proc/self/ns/net")
	if _, serr := fmt.Sscanf(link, "net:[%d]", &initialNetns); err != nil || serr != nil {
		fmt.Fprintf(os.Stderr, "guest tests: read network namespace: %v %v\n", err, serr)
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
	ret     int // inet_listen's result, for the strategies that see it
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
		if addr != "" { // "": listen without bind, the kernel picks the port
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

// relistenAndRefused makes, from one locked OS thread, the listen() calls
// that change no socket state, which the tracepoint strategy finds through
// the descriptor table: a second listen() on a listening socket (backlog
// 12, then 13), and a listen() that inet_listen refuses (a connected socket,
// backlog 14: -EINVAL). A listen() on a UDP socket never reaches
// inet_listen and must give no event at all. It returns the thread id, the
// listening port and the connected socket's local port.
func relistenAndRefused(t *testing.T) (tid, port, connectedPort int) {
	t.Helper()
	type result struct {
		tid, port, connectedPort int
		err                      error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		r.err = func() error {
			lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			if err := unix.Listen(lfd, 12); err != nil {
				return err
			}
			if err := unix.Listen(lfd, 13); err != nil {
				return fmt.Errorf("listen again: %w", err)
			}
			sa, err := unix.Getsockname(lfd)
			if err != nil {
				return err
			}
			r.port = sa.(*unix.SockaddrInet4).Port
			cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			if err := unix.Connect(cfd, sa); err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			if err := unix.Listen(cfd, 14); err != unix.EINVAL {
				return fmt.Errorf("listen on a connected socket: %v, want EINVAL", err)
			}
			csa, err := unix.Getsockname(cfd)
			if err != nil {
				return err
			}
			r.connectedPort = csa.(*unix.SockaddrInet4).Port
			ufd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			if err != nil {
				return err
			}
			if err := unix.Listen(ufd, 99); err != unix.EOPNOTSUPP {
				return fmt.Errorf("listen on a UDP socket: %v, want EOPNOTSUPP", err)
			}
			r.tid = unix.Gettid()
			return nil // the sockets stay open until the test process ends
		}()
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tid, r.port, r.connectedPort
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

// bpfProgram is one loaded BPF program, as bpftool lists it.
type bpfProgram struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// bpfPrograms lists the loaded BPF programs by id. Programs loaded by
// gobpf/elf have no name, so leaks are found by id, not by name.
func bpfPrograms(t *testing.T) map[int]bpfProgram {
	t.Helper()
	cmd := exec.Command("bpftool", "prog", "show", "-j")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bpftool prog show -j: %v\n%s", err, stderr.String())
	}
	var list []bpfProgram
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("bpftool prog show -j: %v\n%s", err, out)
	}
	progs := map[int]bpfProgram{}
	for _, p := range list {
		progs[p.ID] = p
	}
	return progs
}

// jsonRun is one evtrace listen -o json process and the strategy it must use.
type jsonRun struct {
	*evtrace
	attach  listen.Strategy
	offsets listen.OffsetSource
}

// kprobesOf is how many kprobes on inet_listen a strategy creates.
func kprobesOf(a listen.Strategy) int {
	switch a {
	case listen.StrategyKprobe:
		return 1
	case listen.StrategyKretprobe:
		return 2
	}
	return 0
}

func TestListen(t *testing.T) {
	selfComm := strings.TrimSpace(readFile(t, "/proc/self/comm"))
	hostNetns := initialNetns
	auto, features := expectedAuto(t)
	t.Logf("kernel features %+v: auto must attach with %s", features, auto)
	progsBefore := bpfPrograms(t)

	// A stale kprobe of a bcc process that died with SIGKILL on an older
	// kernel: evtrace must remove it when it starts.
	// The same for gobpf/elf's events (the ELF backend).
	const stale = "kprobes/p_inet_listen_bcc_4194000"
	const staleELF = "kprobes/r_inet_listen_gobpf_4194001"
	haveKprobeEvents := features.Kprobes
	if haveKprobeEvents {
		appendFile(t, "/sys/kernel/tracing/kprobe_events", "p:"+stale+" inet_listen\n")
		appendFile(t, "/sys/kernel/tracing/kprobe_events", "r:"+staleELF+" inet_listen\n")
	}

	// The child lives in a new network namespace and owns a socket made
	// (and bound) here, in the host's namespace.
	hostSock, hostSockPort := boundSocket(t)
	c := startChild(t, hostSock)
	childNetns := c.netns
	if childNetns == hostNetns {
		t.Fatal("child is in the host's network namespace")
	}

	// The ELF backend: one clang compile (evtrace compile) while the bcc
	// runs compile, then two processes load the object at the same time.
	// A cache only root can write: evtrace refuses one under /tmp.
	cacheDir, err := os.MkdirTemp("/run", "evtrace-e2e-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cacheDir) })
	elfArgs := []string{"-o", "json", "--cache-dir", cacheDir}
	compile := startEvtrace(t, "compile", append([]string{"compile", "listen"}, elfArgs...)...)

	// The bcc backend, explicitly: auto would also compile an ELF object
	// in the background, 8 more compiles under emulation.
	bcc := []string{"--backend", "bcc"}
	runs := []jsonRun{{startEvtrace(t, "auto", append([]string{"listen", "-o", "json", "-v"}, bcc...)...), auto, listen.OffsetsBTF}}
	if features.Kprobes {
		for _, r := range []struct {
			a listen.Strategy
			o listen.OffsetSource
		}{
			{listen.StrategyKprobe, listen.OffsetsBTF},
			{listen.StrategyKprobe, listen.OffsetsHeaders},
			{listen.StrategyKretprobe, listen.OffsetsHeaders},
			{listen.StrategyTracepoint, listen.OffsetsBTF},
			{listen.StrategyFentry, listen.OffsetsBTF},
		} {
			name := string(r.a) + "-" + string(r.o)
			runs = append(runs, jsonRun{startEvtrace(t, name, append([]string{"listen", "-o", "json", "--attach", string(r.a), "--offsets", string(r.o)}, bcc...)...), r.a, r.o})
		}
	}
	// Bad input in the real binary, beside the compiles: a kprobe on a
	// function the kernel lacks (refused before any compile) and C that
	// does not compile.
	noFunc := writeProbe(t, "nofunc.c", "int probe(struct pt_regs *ctx) { return 0; }\n")
	badNoFunc := startEvtrace(t, "no such function", "run", noFunc, "--attach", "kprobe:evtrace_no_such_function=probe")
	broken := writeProbe(t, "broken.c", "TRACEPOINT_PROBE(syscalls, sys_enter_listen) { return no_such_identifier; }\n")
	badC := startEvtrace(t, "broken C", "run", broken)
	filtered := startEvtrace(t, "filtered", append([]string{"listen", "-p", strconv.Itoa(c.pid), "-n", strconv.FormatUint(childNetns, 10), "--show-netns"}, bcc...)...)
	debug := startEvtrace(t, "debug", append([]string{"listen", "--mode", "debug"}, bcc...)...)
	all := []*evtrace{filtered, debug}
	for _, r := range runs {
		all = append(all, r.evtrace)
	}
	waitReady(t, 14*time.Minute, all...)

	select {
	case <-compile.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("evtrace compile listen still running 3 minutes after the bcc runs were ready; stderr:\n%s", compile.stderr.String())
	}
	if compile.err != nil || !strings.Contains(compile.stderr.String(), "compiled with clang") {
		t.Fatalf("evtrace compile listen: %v\nstderr:\n%s", compile.err, compile.stderr.String())
	}
	t.Logf("evtrace compile listen: %s", strings.TrimSpace(compile.stderr.String()))
	elfArgs = append([]string{"listen", "-v", "--backend", "elf"}, elfArgs...)
	elf1, elf2 := startEvtrace(t, "elf 1", elfArgs...), startEvtrace(t, "elf 2", elfArgs...)
	waitReady(t, 2*time.Minute, elf1, elf2)
	for _, e := range []*evtrace{elf1, elf2} {
		if want := "backend elf (compiled ahead of time, loaded by gobpf/elf); object "; !strings.Contains(e.stderr.String(), want) ||
			!strings.Contains(e.stderr.String(), ": hit\n") {
			t.Errorf("%s: stderr lacks %q...hit:\n%s", e.name, want, e.stderr.String())
		}
		runs = append(runs, jsonRun{e, auto, listen.OffsetsBTF})
		all = append(all, e)
	}

	for _, r := range runs {
		want := []string{"attached with " + string(r.attach) + " ", "struct offsets from the kernel headers"}
		if r.offsets == listen.OffsetsBTF {
			want[1] = "struct offsets from the running kernel's BTF"
		}
		for _, w := range want {
			if !strings.Contains(r.stderr.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", r.name, w, r.stderr.String())
			}
		}
	}
	wantKprobes := kprobesOf(auto) * 2 // filtered, debug
	for _, r := range runs {
		wantKprobes += kprobesOf(r.attach)
	}
	if haveKprobeEvents {
		// They start together: whichever checks first removes it.
		stderrs := ""
		for _, e := range all {
			stderrs += e.stderr.String()
		}
		for _, st := range []string{stale, staleELF} {
			if !strings.Contains(stderrs, "removed stale kprobe "+st) {
				t.Errorf("no evtrace reported removing %s; stderr:\n%s", st, stderrs)
			}
			if strings.Contains(kprobeEvents(t), st) {
				t.Errorf("stale kprobe %s still in kprobe_events", st)
			}
		}
		if n := kprobeCount(t, "inet_listen"); n != wantKprobes {
			t.Errorf("%d kprobes on inet_listen with every evtrace running, want %d", n, wantKprobes)
		}
	}

	// The listeners, each with a backlog of its own to tell them apart.
	pid := os.Getpid()
	var ls []listener
	tid, port := listenFromThread(t, unix.AF_INET, "127.0.0.1", 10, -1)
	ls = append(ls, listener{"IPv4 loopback", pid, tid, hostNetns, "TCPv4", 10, "127.0.0.1", port, 0})
	tid, port = listenFromThread(t, unix.AF_INET, "0.0.0.0", 77, -1)
	ls = append(ls, listener{"IPv4 any", pid, tid, hostNetns, "TCPv4", 77, "0.0.0.0", port, 0})
	tid, port = listenFromThread(t, unix.AF_INET6, "::1", 5, -1)
	ls = append(ls, listener{"IPv6 loopback", pid, tid, hostNetns, "TCPv6", 5, "::1", port, 0})
	tid, port = listenFromThread(t, unix.AF_INET, "", 31, -1)
	ls = append(ls, listener{"IPv4 auto-bound (listen without bind)", pid, tid, hostNetns, "TCPv4", 31, "0.0.0.0", port, 0})
	ans := strings.Fields(c.do(t, "listen-host 21"))
	ls = append(ls, listener{"child, host netns", c.pid, atoi(t, ans[1]), hostNetns, "TCPv4", 21, "127.0.0.1", hostSockPort, 0})
	ans = strings.Fields(c.do(t, "listen-ns 22"))
	childOwn := listener{"child, own netns", c.pid, atoi(t, ans[1]), childNetns, "TCPv4", 22, "0.0.0.0", atoi(t, ans[2]), 0}
	ls = append(ls, childOwn)
	nsFd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", c.pid), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tid, port = listenFromThread(t, unix.AF_INET, "0.0.0.0", 23, nsFd)
	unix.Close(nsFd)
	ls = append(ls, listener{"test, child's netns", pid, tid, childNetns, "TCPv4", 23, "0.0.0.0", port, 0})
	tid, port, connectedPort := relistenAndRefused(t)
	ls = append(ls,
		listener{"listen, then listen again (first)", pid, tid, hostNetns, "TCPv4", 12, "127.0.0.1", port, 0},
		listener{"listen, then listen again (second)", pid, tid, hostNetns, "TCPv4", 13, "127.0.0.1", port, 0},
		listener{"listen on a connected socket (refused)", pid, tid, hostNetns, "TCPv4", 14, "127.0.0.1", connectedPort, -int(unix.EINVAL)})

	events := map[string]map[int]map[string]any{}
	for _, r := range runs {
		t.Run("perf JSON "+r.name, func(t *testing.T) { events[r.name] = checkPerfJSON(t, r, ls, selfComm) })
	}
	t.Run("elf equals bcc", func(t *testing.T) {
		for _, name := range []string{"elf 1", "elf 2"} {
			if !reflect.DeepEqual(withoutTime(events["auto"]), withoutTime(events[name])) {
				t.Errorf("%s and the bcc run decoded different events:\n%v\n%v", name, events[name], events["auto"])
			}
		}
	})
	if features.Kprobes {
		t.Run("offsets btf equal headers", func(t *testing.T) {
			for _, pair := range [][2]string{{"kprobe-btf", "kprobe-headers"}, {"auto", "kretprobe-headers"}} {
				a, b := events[pair[0]], events[pair[1]]
				for backlog, ea := range a {
					eb := b[backlog]
					for k, v := range ea {
						if k != "time" && eb[k] != v {
							t.Errorf("backlog %d: %s has %s=%v, %s has %v", backlog, pair[0], k, v, pair[1], eb[k])
						}
					}
				}
			}
		})
	}
	t.Run("filters and show-netns", func(t *testing.T) { checkFiltered(t, filtered, childOwn, selfComm, auto.ReportsReturn()) })
	t.Run("debug", func(t *testing.T) { checkDebug(t, debug, ls, selfComm) })

	t.Run("bad input", func(t *testing.T) {
		wantNoFunc := "evtrace: kprobe evtrace_no_such_function: no such kernel function (not in /proc/kallsyms)"
		if !features.Kprobes {
			wantNoFunc = "evtrace: this kernel has no kprobe support"
		}
		checkFailure(t, badNoFunc, wantNoFunc, false)
		checkFailure(t, badC, "evtrace: compile broken.c: ", true)
		if !strings.Contains(badC.stderr.String(), "use of undeclared identifier 'no_such_identifier'") {
			t.Errorf("broken C: the compiler's message is missing:\n%s", badC.stderr.String())
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		remaining := wantKprobes
		checkKprobes := func(after string, gone int) {
			remaining -= gone
			if haveKprobeEvents {
				if n := kprobeCount(t, "inet_listen"); n != remaining {
					t.Errorf("after %s: %d kprobes on inet_listen, want %d", after, n, remaining)
				}
			}
		}
		if code := runs[0].stop(t, syscall.SIGINT); code != 0 {
			t.Errorf("auto: exit %d after SIGINT; stderr:\n%s", code, runs[0].stderr.String())
		}
		checkSummary(t, runs[0].evtrace)
		checkKprobes("SIGINT", kprobesOf(auto))
		if code := debug.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("debug: exit %d after SIGTERM; stderr:\n%s", code, debug.stderr.String())
		}
		checkSummary(t, debug)
		checkKprobes("SIGTERM", kprobesOf(auto))
		// SIGKILL: libbcc attached through perf events (the kprobe PMU,
		// tracepoint perf events), so the kernel drops every probe with
		// the process's last descriptor.
		filtered.stop(t, syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond) // the kernel frees the program after the process
		checkKprobes("SIGKILL", kprobesOf(auto))
		var killedELF *evtrace
		for _, r := range runs[1:] {
			if r.name == "elf 1" {
				// gobpf/elf creates kprobes through kprobe_events,
				// which outlive a process killed with SIGKILL.
				r.stop(t, syscall.SIGKILL)
				killedELF = r.evtrace
				checkKprobes("SIGKILL to elf 1 (its kprobe_events entries stay)", 0)
				continue
			}
			if code := r.stop(t, syscall.SIGINT); code != 0 {
				t.Errorf("%s: exit %d after SIGINT; stderr:\n%s", r.name, code, r.stderr.String())
			}
			checkKprobes("SIGINT to "+r.name, kprobesOf(r.attach))
		}
		if killedELF != nil && haveKprobeEvents {
			leftover := fmt.Sprintf("_inet_listen_gobpf_%d ", killedELF.cmd.Process.Pid)
			if !strings.Contains(kprobeEvents(t), leftover) {
				t.Errorf("after SIGKILL, kprobe_events has no %q:\n%s", leftover, kprobeEvents(t))
			}
			// The next start removes what the killed process left.
			next := startEvtrace(t, "elf 3", elfArgs...)
			waitReady(t, 2*time.Minute, next)
			if !strings.Contains(next.stderr.String(), "removed stale kprobe kprobes/") ||
				!strings.Contains(next.stderr.String(), strings.TrimSpace(leftover)) {
				t.Errorf("elf 3 did not report removing elf 1's kprobes:\n%s", next.stderr.String())
			}
			if strings.Contains(kprobeEvents(t), leftover) {
				t.Errorf("elf 1's kprobes still in kprobe_events after the next start:\n%s", kprobeEvents(t))
			}
			remaining += kprobesOf(auto)                    // elf 3's own
			checkKprobes("the next start", kprobesOf(auto)) // elf 1's removed
			if code := next.stop(t, syscall.SIGINT); code != 0 {
				t.Errorf("elf 3: exit %d after SIGINT; stderr:\n%s", code, next.stderr.String())
			}
			checkKprobes("SIGINT to elf 3", kprobesOf(auto))
		}
		if haveKprobeEvents {
			if ev := kprobeEvents(t); strings.Contains(ev, "inet_listen") {
				t.Errorf("kprobe_events still names inet_listen:\n%s", ev)
			}
		}
		time.Sleep(500 * time.Millisecond)
		for id, p := range bpfPrograms(t) {
			if _, ok := progsBefore[id]; ok {
				continue
			}
			switch p.Type {
			case "kprobe", "tracepoint", "tracing", "raw_tracepoint":
				t.Errorf("a program loaded during the test is still loaded: id %d, type %s, name %q", id, p.Type, p.Name)
			}
		}
	})
}

// withoutTime drops each event's timestamp, the one field two programs
// cannot agree on.
func withoutTime(evs map[int]map[string]any) map[int]map[string]any {
	out := map[int]map[string]any{}
	for b, e := range evs {
		c := map[string]any{}
		for k, v := range e {
			if k != "time" {
				c[k] = v
			}
		}
		out[b] = c
	}
	return out
}

// checkPerfJSON checks one JSON run's events, field by field, and returns
// them by backlog.
func checkPerfJSON(t *testing.T, r jsonRun, ls []listener, comm string) map[int]map[string]any {
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
	out, ok := r.waitOutput(time.Minute, func(out string) bool { return len(ours(out)) >= len(ls) })
	if !ok {
		t.Fatalf("%d of %d events after a minute:\n%s", len(ours(out)), len(ls), out)
	}
	evs := ours(out)
	if len(evs) != len(ls) {
		t.Errorf("%d events from our processes, want %d:\n%s", len(evs), len(ls), out)
	}
	wantKeys := []string{"addr", "backlog", "comm", "netns", "pid", "port", "proto", "tid", "time"}
	if r.attach.ReportsReturn() {
		wantKeys = append(wantKeys, "ret")
		sort.Strings(wantKeys)
	}
	byBacklog := map[int]map[string]any{}
	for _, e := range evs {
		byBacklog[int(e["backlog"].(float64))] = e
	}
	for _, l := range ls {
		got := byBacklog[l.backlog]
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
		if r.attach.ReportsReturn() {
			want["ret"] = float64(l.ret)
		} else if strings.Contains(l.name, "auto-bound") {
			// The kprobe fires before inet_listen picks the port: the
			// limitation the other strategies exist for.
			want["port"] = float64(0)
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
	return byBacklog
}

// checkFiltered: -p CHILD -n CHILDNS must report the child's listen in its
// own namespace only: not the child's listen in the host namespace (-n
// excludes it), not the test's listen in the child's namespace (-p excludes
// it), nor anything else.
func checkFiltered(t *testing.T, e *evtrace, want listener, comm string, ret bool) {
	retCol := ""
	if ret {
		retCol = fmt.Sprintf("%4d ", 0)
	}
	wantLine := fmt.Sprintf("%-7d %-15.15s %-10d %-5s %7d %s%5d %s", want.pid, comm, want.netns, want.proto, want.backlog, retCol, want.port, want.addr)
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
	for _, l := range ls {
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

// checkFailure waits for an evtrace that must fail: exit status 1, and
// stderr that starts with want (followed by the compiler's output when
// more lines are allowed, else nothing).
func checkFailure(t *testing.T, e *evtrace, want string, moreLines bool) {
	t.Helper()
	select {
	case <-e.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s: still running 3 minutes after the compiles; stderr:\n%s", e.name, e.stderr.String())
	}
	stderr := e.stderr.String()
	if code := e.cmd.ProcessState.ExitCode(); code != 1 || !strings.HasPrefix(stderr, want) ||
		(!moreLines && strings.Count(stderr, "\n") != 1) {
		t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 and %q", e.name, code, stderr, want)
	}
}

// writeProbe writes a C file for evtrace run.
func writeProbe(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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

// expectedAuto is the strategy --attach auto must choose in this guest,
// from what the test itself sees of the kernel (not from evtrace's choice):
// kretprobe where kprobes can be created (the kprobe PMU, or kprobe_events
// in tracefs), else tracepoints where the three listen tracepoints exist.
func expectedAuto(t *testing.T) (listen.Strategy, guestFeatures) {
	t.Helper()
	if _, err := kernel.MountTracing(); err != nil {
		t.Fatalf("mount tracefs: %v", err)
	}
	dir, err := kernel.TraceFS()
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	kprobes := exists("/sys/bus/event_source/devices/kprobe") || exists(filepath.Join(dir, "kprobe_events"))
	tracepoints := true
	for _, tp := range []string{"syscalls/sys_enter_listen", "syscalls/sys_exit_listen", "sock/inet_sock_set_state"} {
		tracepoints = tracepoints && exists(filepath.Join(dir, "events", tp, "id"))
	}
	features := guestFeatures{Kprobes: kprobes, ListenTracepoints: tracepoints}
	switch {
	case kprobes:
		return listen.StrategyKretprobe, features
	case tracepoints:
		return listen.StrategyTracepoint, features
	}
	t.Fatalf("kernel features %+v: nothing for listen to attach to", features)
	return "", features
}

// guestFeatures is what the test sees of the guest's kernel.
type guestFeatures struct {
	Kprobes           bool // kprobes can be created
	ListenTracepoints bool // the three listen tracepoints exist
}
