package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// Bad perf specs and --stack flags are usage errors of one line.
func TestRunPerfAndStackFlags(t *testing.T) {
	probe := filepath.Join(t.TempDir(), "p.c")
	os.WriteFile(probe, []byte("int on_sample(void *ctx) { return 0; }"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--attach", "perf:software:cpu-clock=on_sample"}, "want TYPE:CONFIG:SAMPLING"},
		{[]string{"--attach", "perf:software:cpu-clock:freq=0=on_sample"}, "freq=0: want a positive number"},
		{[]string{"--attach", "perf:software:cpu-clock:often=9=on_sample"}, `unknown sampling "often"`},
		{[]string{"--attach", "perf:hardware:cpu-cyclez:freq=9=on_sample"}, `unknown hardware event "cpu-cyclez"`},
		{[]string{"--attach", "perf:firmware:1:freq=9=on_sample"}, `unknown type "firmware"`},
		{[]string{"--stack", "sid"}, "want MEMBER=kernel"},
		{[]string{"--stack", "sid=both"}, `unknown kind "both"`},
		{[]string{"--stack", "sid=user", "--stack", "sid=kernel"}, "--stack names sid twice"},
	} {
		code, _, stderr := runCLI(append([]string{"run", probe}, tt.args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "evtrace: ") || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// What only the loaded program can tell is one line and exit 1: a --stack
// member that no record or key has, a hardware event this machine lacks.
func TestRunStackAndPerfErrors(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, `
#include <uapi/linux/bpf_perf_event.h>
BPF_STACK_TRACE(stack_traces, 64);
struct key_t { u32 pid; int user_stack_id; };
BPF_HASH(counts, struct key_t);
int on_sample(struct bpf_perf_event_data *ctx)
{
	struct key_t k = {.pid = bpf_get_current_pid_tgid() >> 32};
	k.user_stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
	counts.increment(k);
	return 0;
}`)
	sw := "perf:software:cpu-clock:freq=9=on_sample"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--attach", sw, "--stack", "nosuch=user"}, "--stack nosuch: no such member in the records or the map keys printed"},
		{[]string{"--attach", sw, "--stack", "pid=user:other"}, "--stack pid: no BPF_STACK_TRACE table other (the program has stack_traces)"},
	}
	if _, err := os.Stat("/sys/bus/event_source/devices/cpu"); err != nil {
		tests = append(tests, struct {
			args []string
			want string
		}{[]string{"--attach", "perf:hardware:cpu-cycles:period=100000=on_sample"}, "this machine has no such event"})
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(append([]string{"run", probe, "--duration", "1s"}, tt.args...)...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\nevtrace: ") > 1 {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
