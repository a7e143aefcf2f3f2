//go:build cgo

package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
)

// stackEventProgram sends this test's getppid calls with their kernel and
// user stacks.
const stackEventProgram = `
BPF_STACK_TRACE(stack_traces, 1024);
BPF_PERF_OUTPUT(events);
struct data_t { u32 pid; int kernel_stack_id; int user_stack_id; };
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	struct data_t d = {.pid = bpf_get_current_pid_tgid() >> 32};
	if (d.pid != WANT_PID)
		return 0;
	d.kernel_stack_id = stack_traces.get_stackid(args, 0);
	d.user_stack_id = stack_traces.get_stackid(args, BPF_F_USER_STACK);
	events.perf_submit(args, &d, sizeof(d));
	return 0;
}
`

const getppidC = `
#include <unistd.h>
__attribute__((noinline)) void evtrace_call_getppid(void) { getppid(); }
__attribute__((noinline)) void evtrace_caller(void) { evtrace_call_getppid(); }
int main(void)
{
	for (;;) {
		evtrace_caller();
		usleep(10000);
	}
}
`

// A kernel stack collected at a syscall tracepoint symbolizes to the
// syscall path, and the user stack of the same event names the functions
// of the program that called (one of ours: go test strips its binaries'
// symbols).
func TestStacksFromTracepoint(t *testing.T) {
	testenv.RequireBPF(t)
	bin, prog := startC(t, "getppid", getppidC)
	r, err := Open(realbackends.Set(), Options{Name: "stacks.c", Source: stackEventProgram,
		CFlags: []string{"-DWANT_PID=" + strconv.Itoa(prog.Process.Pid)}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var (
		mu   sync.Mutex
		recs [][]any
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, Output{Record: func(table string, fields []layout.Field, vals []any) {
			mu.Lock()
			recs = append(recs, append([]any(nil), vals...))
			if len(recs) >= 3 {
				cancel()
			}
			mu.Unlock()
		}})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recs) < 3 {
		t.Fatalf("%d events, want 3", len(recs))
	}
	for _, vals := range recs {
		k, ok1 := vals[1].(stacks.Stack)
		u, ok2 := vals[2].(stacks.Stack)
		if !ok1 || !ok2 {
			t.Fatalf("stack ids not resolved: %#v", vals)
		}
		kt := strings.Join(k.Lines(), "\n")
		if k.Kind != stacks.Kernel || !strings.Contains(kt, "do_syscall_64+0x") || !strings.Contains(kt, "entry_SYSCALL_64") {
			t.Errorf("kernel stack %d does not go through do_syscall_64 and entry_SYSCALL_64:\n%s", k.ID, kt)
		}
		ut := strings.Join(u.Lines(), "\n")
		if u.Kind != stacks.User || !strings.Contains(ut, "evtrace_caller+0x") || !strings.Contains(ut, "main+0x") || !strings.Contains(ut, "["+bin+"]") {
			t.Errorf("user stack %d does not name evtrace_caller and main in %s:\n%s", u.ID, bin, ut)
		}
	}
	t.Logf("kernel stack:\n%s\nuser stack:\n%s", strings.Join(recs[0][1].(stacks.Stack).Lines(), "\n"), strings.Join(recs[0][2].(stacks.Stack).Lines(), "\n"))
}

// profileProgram counts cpu-clock samples of one process by stacks, as
// bcc's profile does.
const profileProgram = `
#include <uapi/linux/bpf_perf_event.h>
BPF_STACK_TRACE(stack_traces, 1024);
struct key_t { u32 pid; int user_stack_id; int kernel_stack_id; };
BPF_HASH(counts, struct key_t);
int on_sample(struct bpf_perf_event_data *ctx)
{
	struct key_t k = {.pid = bpf_get_current_pid_tgid() >> 32};
	if (k.pid != WANT_PID)
		return 0;
	k.user_stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
	k.kernel_stack_id = stack_traces.get_stackid(ctx, 0);
	counts.increment(k);
	return 0;
}
`

const spinC = `
volatile unsigned long evtrace_sink;
__attribute__((noinline)) void evtrace_spin_here(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		evtrace_sink += i;
}
int main(void)
{
	for (;;)
		evtrace_spin_here(1000000);
}
`

// startC builds a C program of ours with frame pointers (at -O0, where
// gcc gives leaf functions a frame too) in a root-owned directory that
// only root can write, and starts it; the test kills it at its end.
func startC(t *testing.T, name, src string) (string, *exec.Cmd) {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		testenv.Unavailable(t, "needs a C compiler: "+err.Error())
	}
	dir := testenv.TrustedTempDir(t)
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command(cc, "-O0", "-fno-omit-frame-pointer", "-o", bin, c).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return bin, cmd
}

// perfFDs counts this process's perf event descriptors.
func perfFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

// A cpu-clock sampler on every CPU sees a busy loop's function by name in
// its user stacks; its kernel stack ids, sampled in user mode, are -EFAULT
// explained; and its perf events are closed with the program.
func TestPerfSamplerSeesBusyLoop(t *testing.T) {
	testenv.RequireBPF(t)
	bin, spin := startC(t, "spin", spinC)

	p, err := conventions.ParseAttachSpec("perf:software:cpu-clock:freq=99=on_sample", "")
	if err != nil {
		t.Fatal(err)
	}
	before := perfFDs(t)
	r, err := Open(realbackends.Set(), Options{Name: "profile.c", Source: profileProgram, Probes: []backend.Probe{p},
		CFlags: []string{"-DWANT_PID=" + strconv.Itoa(spin.Process.Pid)}, Duration: 2 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	cpus, _ := os.ReadFile("/sys/devices/system/cpu/online")
	if n := perfFDs(t) - before; n < 1 {
		t.Errorf("%d perf events open while sampling (CPUs online: %s)", n, strings.TrimSpace(string(cpus)))
	} else {
		t.Logf("%d perf events open while sampling (CPUs online: %s)", n, strings.TrimSpace(string(cpus)))
	}
	var snaps []tables.Snapshot
	if _, err := r.Run(context.Background(), Output{Maps: func(s []tables.Snapshot) { snaps = s }}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := perfFDs(t); n != before {
		t.Errorf("%d perf events open after Close, %d before Open", n, before)
	}
	if len(snaps) != 1 || len(snaps[0].Entries) == 0 {
		t.Fatalf("no samples of %s: %+v", bin, snaps)
	}
	var samples, named, efault uint64
	for _, e := range snaps[0].Entries {
		samples += e.Value.Uint
		for _, s := range e.Stacks {
			text := strings.Join(s.Lines(), "\n")
			switch {
			case s.Kind == stacks.User && strings.Contains(text, "evtrace_spin_here+0x") && strings.Contains(text, "main+0x") && strings.Contains(text, "["+bin+"]"):
				named += e.Value.Uint
			case s.Kind == stacks.Kernel && s.ID == -int64(syscall.EFAULT):
				if len(s.Frames) != 0 || !strings.Contains(text, "no kernel stack (EFAULT)") {
					t.Errorf("-EFAULT printed as %q", text)
				}
				efault += e.Value.Uint
			}
		}
	}
	if len(snaps[0].Entries[0].Stacks) > 0 {
		t.Logf("a stack: %q", snaps[0].Entries[0].Stacks[0].Lines())
	}
	t.Logf("%d samples in 2 s at 99 Hz; %d name evtrace_spin_here and main; %d with no kernel stack (EFAULT)", samples, named, efault)
	if samples < 50 || named < samples/2 {
		t.Errorf("%d samples, %d of them in evtrace_spin_here: want at least 50, most of them", samples, named)
	}
	if efault == 0 {
		t.Error("no sample in user mode explained as -EFAULT")
	}
}

// A hardware event on a machine without performance counters is one
// clear error, and nothing stays open.
func TestPerfHardwareEvent(t *testing.T) {
	testenv.RequireBPF(t)
	p, err := conventions.ParseAttachSpec("perf:hardware:cpu-cycles:period=1000000=on_sample", "")
	if err != nil {
		t.Fatal(err)
	}
	before := perfFDs(t)
	r, err := Open(realbackends.Set(), Options{Name: "profile.c", Source: profileProgram, Probes: []backend.Probe{p},
		CFlags: []string{"-DWANT_PID=1"}})
	_, statErr := os.Stat("/sys/bus/event_source/devices/cpu")
	switch {
	case err == nil:
		r.Close()
		if errors.Is(statErr, os.ErrNotExist) {
			t.Error("cpu-cycles attached on a machine without a cpu PMU")
		}
		t.Log("this machine has cpu-cycles")
	case statErr == nil:
		t.Errorf("cpu-cycles refused on a machine with a cpu PMU: %v", err)
	case !strings.Contains(err.Error(), "this machine has no such event") || strings.Count(err.Error(), "\n") > 0:
		t.Errorf("error = %q, want one line saying the machine has no such event", err)
	default:
		t.Logf("error: %v", err)
	}
	if n := perfFDs(t); n != before {
		t.Errorf("%d perf events open after a failed attach, %d before", n, before)
	}
}
