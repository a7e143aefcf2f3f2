//go:build cgo

package listeners

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
)

// helper is testdata/sockets.py running in a network namespace.
type helper struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startHelper(t *testing.T, netns string) *helper {
	t.Helper()
	args := []string{"python3", "testdata/sockets.py"}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
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
		t.Fatal(err)
	}
	h := &helper{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(h.kill)
	return h
}

func (h *helper) pid() uint32 { return uint32(h.cmd.Process.Pid) }

func (h *helper) kill() {
	if h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

// do sends one command and returns the reply's words after "ok".
func (h *helper) do(format string, a ...any) []string {
	h.t.Helper()
	if _, err := fmt.Fprintf(h.in, format+"\n", a...); err != nil {
		h.t.Fatal(err)
	}
	if !h.out.Scan() {
		h.t.Fatalf("helper %d: no reply to %q", h.pid(), fmt.Sprintf(format, a...))
	}
	w := strings.Fields(h.out.Text())
	if len(w) == 0 || w[0] != "ok" {
		h.t.Fatalf("helper: %q", h.out.Text())
	}
	return w[1:]
}

// listener is what both evtrace and ss say of a socket.
type listener struct {
	port uint16
	addr string // "" for a wildcard
	pids string // sorted, comma-separated
}

func addNetNS(t *testing.T, name string) uint32 {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	ino, err := nsfsInode(RunNetNS + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

var (
	ssUsers = regexp.MustCompile(`pid=(\d+)`)
	ssIno   = regexp.MustCompile(`\bino:(\d+)`)
)

// ssListeners runs ss -ltnH -e -p in a namespace ("": this one).
func ssListeners(t *testing.T, netns string) map[uint64]listener {
	t.Helper()
	args := []string{"ss", "-ltnH", "-e", "-p"}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	got := map[uint64]listener{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		m := ssIno.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("ss line without ino: %q", line)
		}
		ino, _ := strconv.ParseUint(m[1], 10, 64)
		local := f[3]
		i := strings.LastIndex(local, ":")
		port, _ := strconv.ParseUint(local[i+1:], 10, 16)
		addr := strings.Trim(local[:i], "[]")
		if a, err := netip.ParseAddr(addr); addr == "*" || (err == nil && a.IsUnspecified()) {
			addr = ""
		}
		var pids []int
		for _, p := range ssUsers.FindAllStringSubmatch(line, -1) {
			n, _ := strconv.Atoi(p[1])
			pids = append(pids, n)
		}
		got[ino] = listener{port: uint16(port), addr: addr, pids: pidList(pids)}
	}
	return got
}

func pidList(pids []int) string {
	slices.Sort(pids)
	pids = slices.Compact(pids)
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

func fromSocket(s Socket) listener {
	var pids []int
	for _, o := range s.Owners {
		pids = append(pids, int(o.PID))
	}
	addr := s.Addr.String()
	if s.Addr.IsUnspecified() {
		addr = ""
	}
	return listener{port: s.Port, addr: addr, pids: pidList(pids)}
}

// TestListenersChurn: two network namespaces made for the test and this
// one; listeners opened before evtrace listeners starts (IPv4, IPv6, an
// auto-bound port, an SO_REUSEPORT pair, one inherited by a child) and
// after, some closed (close, process exit, shutdown) after it started. At
// quiescence the set rebuilt from what the Watcher reported (the snapshot,
// then every change) is, in each test namespace, exactly what ss -ltnH -e
// -p shows: inodes, ports, addresses and PIDs.
func TestListenersChurn(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireBTF(t)
	for _, tool := range []string{"ip", "ss", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, "needs "+tool)
		}
	}
	tag := strconv.Itoa(os.Getpid())
	nsA, nsB := "evtl-a-"+tag, "evtl-b-"+tag
	inoA, inoB := addNetNS(t, nsA), addNetNS(t, nsB)
	a, b, host := startHelper(t, nsA), startHelper(t, nsB), startHelper(t, "")

	// Before evtrace.
	a.do("listen a1 4 0.0.0.0 8080 16")
	a.do("listen a2 6 :: 8443 32")
	a.do("listen rp1 4 127.0.0.1 9000 8 reuseport")
	a.do("listen rp2 4 127.0.0.1 9000 8 reuseport")
	a.do("listen a3 4 - 0 5") // never bound: an automatic port
	child := a.do("fork")[0]  // holds all of a's sockets so far
	b.do("listen b1 6 ::1 7000 4")
	b.do("listen b2 4 0.0.0.0 7001 4")
	b.do("listen b3 4 0.0.0.0 7002 4")
	host.do("listen h1 4 127.0.0.1 0 3")

	w, err := Open(realbackends.Set(), Config{Listen: listen.Config{Strategy: listen.StrategyAuto, Offsets: listen.OffsetsAuto}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer w.Close()
	set := map[uint64]Socket{}
	var mu sync.Mutex
	var snapDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- w.Run(ctx, Handler{
			Snapshot: func(s Snapshot) {
				mu.Lock()
				for _, so := range s.Sockets {
					set[so.Inode] = so
				}
				mu.Unlock()
				close(snapDone)
			},
			Change: func(c Change) {
				mu.Lock()
				defer mu.Unlock()
				switch c.Kind {
				case Listen, Backlog:
					set[c.Socket.Inode] = c.Socket
				case Close:
					if _, ok := set[c.Socket.Inode]; !ok {
						t.Errorf("close of a socket never reported: %+v", c)
					}
					delete(set, c.Socket.Inode)
				}
			},
			Warn: func(err error) { t.Logf("warning: %v", err) },
		})
	}()
	// While the snapshot is taken, and after.
	a.do("listen a4 4 127.0.0.1 8081 64")
	b.do("close b2")
	<-snapDone
	a.do("listen a5 6 ::1 0 2")
	a.do("listen a6 6 :: 8444 32")
	b.do("shutdown b3")
	b.do("listen b4 4 0.0.0.0 7003 9")
	host.do("listen h2 6 ::1 0 3")
	host.do("close h2")
	c := startHelper(t, nsB)
	c.do("listen c1 4 0.0.0.0 7100 1")
	c.do("listen c2 6 :: 7101 1")
	c.kill() // process exit closes both
	time.Sleep(700 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := w.Stats()
	t.Logf("stats %+v; child %s", st, child)
	if st.Lost != 0 {
		t.Logf("lost %d events: the set was read again (%d resyncs)", st.Lost, st.Resyncs)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, ns := range []struct {
		name string
		ino  uint32
	}{{nsA, inoA}, {nsB, inoB}} {
		want := ssListeners(t, ns.name)
		got := map[uint64]listener{}
		for ino, s := range set {
			if s.NetNS == ns.ino {
				got[ino] = fromSocket(s)
			}
		}
		if len(want) == 0 {
			t.Fatalf("ss shows nothing in %s", ns.name)
		}
		for ino, l := range want {
			if g, ok := got[ino]; !ok {
				t.Errorf("%s: ss shows inode %d %+v; evtrace does not", ns.name, ino, l)
			} else if g != l {
				t.Errorf("%s: inode %d: evtrace %+v, ss %+v", ns.name, ino, g, l)
			}
		}
		for ino, g := range got {
			if _, ok := want[ino]; !ok {
				t.Errorf("%s: evtrace has inode %d %+v; ss does not", ns.name, ino, g)
			}
		}
		t.Logf("%s: %d listeners agree with ss", ns.name, len(want))
	}
	// This namespace is shared with other tests: compare the helper's only.
	hostPID := strconv.Itoa(int(host.pid()))
	var wantHost, gotHost []string
	for ino, l := range ssListeners(t, "") {
		if l.pids == hostPID {
			wantHost = append(wantHost, fmt.Sprint(ino, l))
		}
	}
	for ino, s := range set {
		if l := fromSocket(s); l.pids == hostPID {
			gotHost = append(gotHost, fmt.Sprint(ino, l))
		}
	}
	slices.Sort(wantHost)
	slices.Sort(gotHost)
	if !slices.Equal(wantHost, gotHost) || len(wantHost) != 1 {
		t.Errorf("this namespace, the helper's sockets: evtrace %v, ss %v (want 1)", gotHost, wantHost)
	}
}

// TestListenersResync: a perf ring of one page cannot hold a burst of
// listen()/close() pairs; the kernel drops events, the Watcher reads the
// set again (a resync), and the set it ends with still equals ss's for
// the helper's sockets.
func TestListenersResync(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireBTF(t)
	h := startHelper(t, "")
	w, err := Open(realbackends.Set(), Config{Listen: listen.Config{PerfPages: 1}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer w.Close()
	set := map[uint64]Socket{}
	resyncs := 0
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	snapDone := make(chan struct{})
	go func() {
		errc <- w.Run(ctx, Handler{
			Snapshot: func(s Snapshot) {
				for _, so := range s.Sockets {
					set[so.Inode] = so
				}
				close(snapDone)
			},
			Change: func(c Change) {
				switch c.Kind {
				case Resync:
					resyncs++
				case Listen, Backlog:
					set[c.Socket.Inode] = c.Socket
				case Close:
					delete(set, c.Socket.Inode)
				}
			},
		})
	}()
	<-snapDone
	h.do("listen k1 4 127.0.0.1 0 3")
	h.do("churn 3000")
	h.do("listen k2 6 ::1 0 3")
	time.Sleep(700 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := w.Stats()
	t.Logf("stats %+v", st)
	if st.Lost == 0 {
		t.Fatalf("no events lost with a one-page ring: the resync was not exercised")
	}
	if st.Resyncs == 0 || resyncs == 0 {
		t.Errorf("%d events lost but no resync reported", st.Lost)
	}
	pid := strconv.Itoa(int(h.pid()))
	var want, got []string
	for ino, l := range ssListeners(t, "") {
		if l.pids == pid {
			want = append(want, fmt.Sprint(ino, l))
		}
	}
	for ino, s := range set {
		if l := fromSocket(s); l.pids == pid {
			got = append(got, fmt.Sprint(ino, l))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) || len(want) != 2 {
		t.Errorf("after the resync: evtrace %v, ss %v (want 2)", got, want)
	}
}
