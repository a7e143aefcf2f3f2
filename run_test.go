package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer"
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

// requireBPF skips (fails in CI) where BPF programs cannot be loaded.
func requireBPF(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if _, err := tracer.TraceFS(); err != nil {
		why = err.Error()
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}

// runWhileCalling runs the CLI with args while one thread of this process
// calls getppid every 20 ms, and returns what it printed and that thread's id.
func runWhileCalling(t *testing.T, args ...string) (code int, stdout, stderr string, tid int) {
	t.Helper()
	done := make(chan struct{})
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
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
	requireBPF(t)
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
	requireBPF(t)
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
	requireBPF(t)
	probe := writeProbe(t, "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return missing_thing; }\n")
	code, _, stderr := runCLI("run", probe)
	if code != 1 || !strings.HasPrefix(stderr, "evtrace: compile probe.c: ") ||
		!strings.Contains(stderr, "use of undeclared identifier 'missing_thing'") || !strings.Contains(stderr, "compiler output:\n") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestRunNothingToAttach: a program without a function that bcc's
// conventions attach gets one line naming all six conventions.
func TestRunNothingToAttach(t *testing.T) {
	requireBPF(t)
	probe := writeProbe(t, "int helper(void *ctx) { return 0; }\n")
	code, _, stderr := runCLI("run", probe)
	want := "evtrace: probe.c: nothing to attach: name a function kprobe__FUNC, kretprobe__FUNC, " +
		"tracepoint__CATEGORY__EVENT (TRACEPOINT_PROBE), raw_tracepoint__EVENT, " +
		"kfunc__FUNC (KFUNC_PROBE) or kretfunc__FUNC (KRETFUNC_PROBE), or attach one with --attach\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%q\nwant exit 1 and\n%q", code, stderr, want)
	}
}
