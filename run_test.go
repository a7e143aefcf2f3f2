package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evtrace/evtrace/tracer/testenv"
	"golang.org/x/sys/unix"
)

func TestFlagsFirst(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"evtrace", "run", "f.c", "-D", "X=1", "--ebpf", "-o", "json"}, []string{"evtrace", "run", "-D", "X=1", "--ebpf", "-o", "json", "f.c"}},
		{[]string{"evtrace", "run", "--count=3", "f.c", "--format", "{1} {5}"}, []string{"evtrace", "run", "--count=3", "--format", "{1} {5}", "f.c"}},
		{[]string{"evtrace", "tutorial", "hello", "--source"}, []string{"evtrace", "tutorial", "--source", "hello"}},
		{[]string{"evtrace", "listen", "-p", "1"}, []string{"evtrace", "listen", "-p", "1"}},
	}
	for _, tt := range tests {
		if got := flagsFirst(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("flagsFirst(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "p.c")
	os.WriteFile(probe, []byte("int kprobe__inet_listen(void *ctx) { return 0; }"), 0o644)
	// A sparse file one byte over the 4 MiB limit.
	big := filepath.Join(dir, "big.c")
	if err := os.WriteFile(big, []byte("// big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 4<<20+1); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.c")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "run takes one C file, got 0 arguments"},
		{[]string{"run", filepath.Join(dir, "missing.c")}, 1, "read probe: open " + filepath.Join(dir, "missing.c")},
		{[]string{"run", "/dev/zero"}, 1, "read probe /dev/zero: not a regular file (a character device); evtrace run takes a C source file"},
		{[]string{"run", dir}, 1, "not a regular file (a directory)"},
		{[]string{"run", fifo}, 1, "not a regular file (a FIFO)"},
		{[]string{"run", big}, 1, "read probe " + big + ": 4194305 bytes, more than the 4 MiB a probe source may have"},
		{[]string{"run", probe, "--attach", "kprobe:inet_listen"}, 2, `want KIND:TARGET=PROGRAM`},
		{[]string{"run", probe, "--attach", "kprobe:re:vfs_(=p"}, 2, `--attach "kprobe:re:vfs_(=p": bad regular expression`},
		{[]string{"run", probe, "--attach", "kretprobe:vfs_[ab=p"}, 2, `[ without a closing ]`},
		{[]string{"run", probe, "--probe-limit", "0"}, 2, `--probe-limit 0: want a positive number`},
		{[]string{"run", probe, "--format", "{9}"}, 2, `fields are {0} task`},
		{[]string{"run", probe, "-o", "yaml"}, 2, `unknown output format "yaml"`},
		{[]string{"run", probe, "-o", "json", "--format", "{5}"}, 2, `--format selects trace_pipe fields for text output`},
		{[]string{"run", probe, "--count", "-1"}, 2, `--count -1`},
		{[]string{"run", probe, "-D", "=1"}, 2, `-D "=1": want NAME or NAME=VALUE`},
		{[]string{"run", probe, "-D", "1ABC"}, 2, `-D "1ABC": want NAME or NAME=VALUE`},
		{[]string{"run", probe, "-D", "A-B=1"}, 2, `-D "A-B=1": want NAME`},
		{[]string{"tutorial", "sixth"}, 2, `unknown tutorial step "sixth"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(tt.args...)
		if code != tt.code || !strings.HasPrefix(stderr, "evtrace: ") || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestTutorialCLI(t *testing.T) {
	code, stdout, _ := runCLI("tutorial")
	if code != 0 || !strings.Contains(stdout, "1 hello") || !strings.Contains(stdout, "5 perf") {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI("tutorial", "netns", "--source")
	if code != 0 || !strings.HasPrefix(stdout, "// Step 4:") || !strings.Contains(stdout, "THREE arguments") || !strings.Contains(stdout, "kprobe__inet_listen") {
		t.Errorf("--source: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI("tutorial", "3", "--ebpf")
	if code != 0 || !strings.Contains(stdout, "bpf_probe_read(&lport") {
		t.Errorf("step by number: exit %d\n%s", code, stdout)
	}
}

// runWhileCalling runs the CLI with args while one thread of this process
// calls getppid every 20 ms, and returns what it printed and that thread's id.
func runWhileCalling(t *testing.T, args ...string) (code int, stdout, stderr string, tid int) {
	t.Helper()
	return runWhileCallingAs(t, "", args...)
}

// runWhileCallingAs is runWhileCalling with the calling thread named comm
// (prctl(PR_SET_NAME), as any process may name itself), when comm is set.
func runWhileCallingAs(t *testing.T, comm string, args ...string) (code int, stdout, stderr string, tid int) {
	t.Helper()
	done := make(chan struct{})
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		if comm != "" {
			// The thread ends with this goroutine, which does not
			// unlock it, unless it is the main thread: its name, the
			// process's, is put back first.
			restore, err := nameThread(comm)
			if err != nil {
				t.Errorf("%v", err)
			} else {
				defer restore()
			}
		} else {
			defer runtime.UnlockOSThread()
		}
		tids <- unix.Gettid()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				unix.Getppid()
			}
		}
	}()
	defer close(done)
	tid = <-tids
	code, stdout, stderr = runCLI(args...)
	return code, stdout, stderr, tid
}

func writeProbe(t *testing.T, src string) string {
	path := filepath.Join(t.TempDir(), "probe.c")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunTracePipe(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	if ((bpf_get_current_pid_tgid() >> 32) != WANT_PID)
		return 0;
	bpf_trace_printk("getppid from %d\n", WANT_PID);
	return 0;
}`)
	pid := strconv.Itoa(os.Getpid())
	code, stdout, stderr, _ := runWhileCalling(t, "run", probe, "-D", "WANT_PID="+pid, "--format", "{5}", "--count", "2", "--duration", "20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "getppid from " + pid + "\ngetppid from " + pid + "\n"
	if stdout != want || !strings.Contains(stderr, "evtrace: 2 events, 0 lost") {
		t.Errorf("stdout %q, want %q; stderr %q", stdout, want, stderr)
	}
}

// TestRunDecodesEveryTable runs a user's C file through evtrace run: a
// struct of mixed widths on one table, a bare u32 on another (libbcc
// records no struct for it), and checks every decoded value. The define
// with a comma must reach the compiler whole.
func TestRunDecodesEveryTable(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
struct mixed {
	u8 small;
	u16 medium;
	s32 negative;
	u64 id;
	char comm[16];
	u32 pair[2];
};
BPF_PERF_OUTPUT(mixed);
BPF_PERF_OUTPUT(pids);

int tracepoint__syscalls__sys_enter_getppid(struct tracepoint__syscalls__sys_enter_getppid *args)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != WANT_PID)
		return 0;
	struct mixed m = {.small = PICK(1, 250), .medium = 65000, .negative = -7, .id = id};
	bpf_get_current_comm(m.comm, sizeof(m.comm));
	m.pair[0] = id >> 32;
	m.pair[1] = (u32)id;
	mixed.perf_submit(args, &m, sizeof(m));
	u32 pid = id >> 32;
	pids.perf_submit(args, &pid, sizeof(pid));
	return 0;
}`)
	pid := os.Getpid()
	// A wakeup per record: events reach evtrace one call at a time, so
	// the first four hold both tables.
	code, stdout, stderr, tid := runWhileCalling(t, "run", probe, "-D", "WANT_PID="+strconv.Itoa(pid), "-D", "PICK(a,b)=(b)", "-o", "json", "--count", "4", "--duration", "20s", "--perf-wakeup", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "evtrace: perf table pids: no struct recorded for it") {
		t.Errorf("no note on the raw table in stderr:\n%s", stderr)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	mixed := fmt.Sprintf(`{"_table":"mixed","small":250,"medium":65000,"negative":-7,"id":%d,"comm":%q,"pair":[%d,%d]}`,
		uint64(pid)<<32|uint64(tid), strings.TrimSpace(string(comm)), pid, tid)
	var le [4]byte
	binary.NativeEndian.PutUint32(le[:], uint32(pid))
	raw := fmt.Sprintf(`{"_table":"pids","data":"%x"}`, le)
	var mixeds, raws int
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		switch l {
		case mixed:
			mixeds++
		case raw:
			raws++
		default:
			t.Errorf("line %q\nwant %s\n  or %s", l, mixed, raw)
		}
	}
	if mixeds == 0 || raws == 0 || mixeds+raws != 4 {
		t.Errorf("%d from mixed, %d from pids:\n%s", mixeds, raws, stdout)
	}
}

func TestRunCompileError(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return missing_thing; }\n")
	code, _, stderr := runCLI("run", probe)
	if code != 1 || !strings.HasPrefix(stderr, "evtrace: compile probe.c: ") ||
		!strings.Contains(stderr, "use of undeclared identifier 'missing_thing'") || !strings.Contains(stderr, "compiler output:\n") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestRunPackedAndBitfields: libbcc records a perf_submit struct's members
// as "name#type" only, without bitfield widths or packing; evtrace reads
// them from the struct's declaration in the file, and decodes what the
// kernel sent, not what a naturally aligned struct would hold.
func TestRunPackedAndBitfields(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
struct packed_ev { u8 a; u32 b; u8 c[3]; } __attribute__((packed));
struct bits_ev {
	u8 a:3, b:5, c:4;
};
struct wide_bits { u32 x:3; u32 y:29; u64 z:40; s16 w:5; u8 last; };
BPF_PERF_OUTPUT(packed);
BPF_PERF_OUTPUT(bits);
BPF_PERF_OUTPUT(wide);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	if ((bpf_get_current_pid_tgid() >> 32) != WANT_PID)
		return 0;
	struct packed_ev p = {.a = 0x11, .b = 0x22334455, .c = {1, 2, 3}};
	packed.perf_submit(args, &p, sizeof(p));
	struct bits_ev b = {.a = 5, .b = 7, .c = 9};
	bits.perf_submit(args, &b, sizeof(b));
	struct wide_bits w = {.x = 5, .y = 12345, .z = 0xabcdef1234, .w = -3, .last = 200};
	wide.perf_submit(args, &w, sizeof(w));
	return 0;
}`)
	code, stdout, stderr, _ := runWhileCalling(t, "run", probe, "-D", "WANT_PID="+strconv.Itoa(os.Getpid()), "-o", "json", "--count", "30", "--duration", "20s", "--perf-wakeup", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]bool{
		`{"_table":"packed","a":17,"b":573785173,"c":[1,2,3]}`:                 true,
		`{"_table":"bits","a":5,"b":7,"c":9}`:                                  true,
		`{"_table":"wide","x":5,"y":12345,"z":737894404660,"w":-3,"last":200}`: true,
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !want[l] {
			t.Errorf("line %q, want one of %v", l, want)
		}
		seen[l] = true
	}
	if len(seen) != len(want) {
		t.Errorf("saw %d of the %d tables' records:\n%s", len(seen), len(want), stdout)
	}
}

// TestRunRefusesWhatItCannotLayOut: a member evtrace cannot lay out for
// certain is one line naming the table, the struct and the member, and
// exit 1, before anything is printed.
func TestRunRefusesWhatItCannotLayOut(t *testing.T) {
	testenv.RequireBPF(t)
	for _, tt := range []struct{ decl, init, want string }{
		{"struct ev { u8 a:BITS; u8 b; };", "{.a = 1, .b = 2}", "evtrace: perf table evs: struct ev: field a: bitfield width \"BITS\" is not a number"},
		{"struct ev { struct { u32 p; } in; u8 r; };", "{.r = 2}", "evtrace: perf table evs: struct ev: field in: type \"struct (unnamed struct at"},
		{"#include <linux/net.h>\nstruct ev { u32 a; enum sock_type t; };", "{.a = 1}", "evtrace: perf table evs: struct ev: field t: enum sock_type is not defined in the C file"},
	} {
		probe := writeProbe(t, tt.decl+`
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	struct ev e = `+tt.init+`;
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`)
		code, stdout, stderr := runCLI("run", probe, "-D", "BITS=3", "--duration", "2s")
		// A warning about the kernel headers may come first.
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != 1 || stdout != "" || !strings.HasPrefix(lines[len(lines)-1], tt.want) || strings.Contains(stderr, "evtrace: tracing") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.decl, code, stdout, stderr, tt.want)
		}
	}
}

// forgedComm is a task name that tries to act on the terminal and forge
// lines: an OSC sequence (set the title), a screen clear, CR, LF, and bytes
// that are not UTF-8. 14 bytes: a COMM holds 15.
const forgedComm = "\x1b]0;X\x07\x1b[2J\r\n\xff\xfe"

// rawControl reports bytes of text output that a terminal would act on
// (all but the newline ending each line), and invalid UTF-8.
func rawControl(out string) bool {
	return !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f })
}

// TestRunForgedComm: a thread named with escape sequences, CR, LF and
// invalid UTF-8 through the real tracer: the text has no raw control byte
// and one line per event, and JSON gives the exact bytes back.
func TestRunForgedComm(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
struct ev { u32 tid; char comm[16]; };
BPF_PERF_OUTPUT(evs);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != WANT_PID)
		return 0;
	struct ev e = {.tid = (u32)id};
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	evs.perf_submit(args, &e, sizeof(e));
	return 0;
}`)
	pid := "WANT_PID=" + strconv.Itoa(os.Getpid())
	code, stdout, stderr, tid := runWhileCallingAs(t, forgedComm, "run", probe, "-D", pid, "--count", "2", "--duration", "20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	row := fmt.Sprintf("%-10d %s\n", tid, `\x1b]0;X\x07\x1b[2J\r\n\xff\xfe`)
	if rawControl(stdout) || stdout != "TID        COMM\n"+row+row {
		t.Errorf("text:\n%q\nwant rows %q", stdout, row)
	}

	code, stdout, stderr, tid = runWhileCallingAs(t, forgedComm, "run", probe, "-D", pid, "--count", "2", "--duration", "20s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, l := range lines {
		var ev struct {
			TID     int
			Comm    string
			CommB64 []byte `json:"comm_b64"` // encoding/json reads base64 into []byte
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ev.TID != tid || string(ev.CommB64) != forgedComm || ev.Comm != forgedComm[:12]+"\uFFFD\uFFFD" {
			t.Errorf("%s: tid %d, comm %q, bytes %q; want %d, %q", l, ev.TID, ev.Comm, ev.CommB64, tid, forgedComm)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d lines:\n%s", len(lines), stdout)
	}
}

// TestRunForgedCommTrace: the same through the trace pipe: task and
// message (which prints the name) escaped in text, exact in JSON. No LF in
// this name: the kernel writes trace lines as they are, and an LF would
// cut one in two before evtrace reads it.
func TestRunForgedCommTrace(t *testing.T) {
	testenv.RequireBPF(t)
	const comm = "\x1b]0;X\x07\x1b[2J\r\xff\xfe"
	probe := writeProbe(t, `
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	if ((bpf_get_current_pid_tgid() >> 32) != WANT_PID)
		return 0;
	char comm[16] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	bpf_trace_printk("comm=%s end\n", comm);
	return 0;
}`)
	pid := "WANT_PID=" + strconv.Itoa(os.Getpid())
	code, stdout, stderr, tid := runWhileCallingAs(t, comm, "run", probe, "-D", pid, "--count", "1", "--duration", "20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	escaped := `\x1b]0;X\x07\x1b[2J\r\xff\xfe`
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if rawControl(stdout) || len(lines) != 2 || !strings.Contains(lines[1], fmt.Sprintf(" %-7d ", tid)) ||
		!strings.HasSuffix(lines[1], " "+escaped+" comm="+escaped+" end") {
		t.Errorf("text:\n%q", stdout)
	}

	code, stdout, stderr, _ = runWhileCallingAs(t, comm, "run", probe, "-D", pid, "--count", "1", "--duration", "20s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var l struct {
		Task    string
		TaskB64 []byte `json:"task_b64"`
		MsgB64  []byte `json:"msg_b64"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	if string(l.TaskB64) != comm || string(l.MsgB64) != "comm="+comm+" end" {
		t.Errorf("json %s: task %q, msg %q", stdout, l.TaskB64, l.MsgB64)
	}
}

// TestRunNoOutput: a program without a perf table or bpf_trace_printk
// keeps its results in maps. evtrace says so, prints no header for lines
// that cannot come, runs attached for --duration, and says it detached.
// A program that reports only through maps: its maps are printed at exit
// (a hash of this process's calls, an array never written: no entries),
// with no trace header and no event count.
func TestRunMapsOnly(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
BPF_HASH(counts, u32, u64);
BPF_ARRAY(totals, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (pid == WANT_PID)
		counts.increment(pid);
	return 0;
}`)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // calls during the whole run: at least one after attach
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				unix.Getppid()
			}
		}
	}()
	pid := strconv.Itoa(os.Getpid())
	code, stdout, stderr := runCLI("run", probe, "--duration", "1s", "-D", "WANT_PID="+pid)
	close(stop)
	<-done
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	re := regexp.MustCompile(`^counts:\nkey +value\n` + pid + ` +[1-9][0-9]*\n\ntotals: no entries\n$`)
	if !re.MatchString(stdout) {
		t.Errorf("stdout %q, want it to match %s", stdout, re)
	}
	for _, want := range []string{
		"evtrace: tracing (tracepoint syscalls:sys_enter_getppid), running for 1s (or until Ctrl-C); maps counts, totals printed at exit\n",
		"evtrace: detached; maps printed 1 times\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "events,") {
		t.Errorf("an event count for a program that has no events:\n%s", stderr)
	}
}

// A program with no output evtrace run reads at all (no perf table, no
// bpf_trace_printk, no data map: a stack map is not one) says so, runs for
// its duration, and prints nothing.
func TestRunNoOutput(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
BPF_STACK_TRACE(stacks, 16);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	stacks.get_stackid(args, 0);
	return 0;
}`)
	start := time.Now()
	code, stdout, stderr := runCLI("run", probe, "--duration", "1s")
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if time.Since(start) < time.Second {
		t.Errorf("stopped before --duration")
	}
	for _, want := range []string{
		"evtrace: probe.c has no perf output, calls no bpf_trace_printk and has no data maps (hash, array and their per-CPU and LRU kinds): nothing it does can be printed; its maps are stacks: stack_trace\n",
		"evtrace: attached (tracepoint syscalls:sys_enter_getppid); running for 1s (or until Ctrl-C), printing nothing\n",
		"evtrace: detached; nothing was printed\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestRunNothingToAttach: a program without a function that bcc's
// conventions attach gets one line naming all six conventions.
func TestRunNothingToAttach(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, "int helper(void *ctx) { return 0; }\n")
	code, _, stderr := runCLI("run", probe)
	want := "evtrace: probe.c: nothing to attach: name a function kprobe__FUNC, kretprobe__FUNC, " +
		"tracepoint__CATEGORY__EVENT (TRACEPOINT_PROBE), raw_tracepoint__EVENT, " +
		"kfunc__FUNC (KFUNC_PROBE) or kretfunc__FUNC (KRETFUNC_PROBE), or attach one with --attach\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%q\nwant exit 1 and\n%q", code, stderr, want)
	}
}
