//go:build cgo

package session

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
	"golang.org/x/sys/unix"
)

// A user program as `evtrace run` gets it: bcc's naming convention, a
// struct of mixed widths, and no Go written for it.
const mixedProgram = `
struct mixed {
	u8 small;
	u16 medium;
	s32 negative;
	u64 big;
	char comm[16];
	u32 pair[2];
};
BPF_PERF_OUTPUT(events);
BPF_PERF_OUTPUT(unused);

int tracepoint__syscalls__sys_enter_getppid(struct tracepoint__syscalls__sys_enter_getppid *args)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != WANT_PID)
		return 0;
	struct mixed m = {};
	m.small = 250;
	m.medium = 65000;
	m.negative = -7;
	m.big = id;
	bpf_get_current_comm(m.comm, sizeof(m.comm));
	m.pair[0] = id >> 32;
	m.pair[1] = (u32)id;
	events.perf_submit(args, &m, sizeof(m));
	return 0;
}

static int helper_not_a_probe(void) { return 0; }
`

func TestRunnerDecodesUserStruct(t *testing.T) {
	testenv.RequireBPF(t)
	s, err := Open(realbackends.Set(), Spec{
		Name:       "mixed.c",
		Source:     mixedProgram,
		CFlags:     []string{"-DWANT_PID=" + strconv.Itoa(os.Getpid())},
		AutoAttach: true,
		AutoPerf:   true,
		AnyHeaders: true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	want := []backend.Probe{{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}}
	if !reflect.DeepEqual(s.Probes(), want) {
		t.Errorf("probes %+v, want %+v", s.Probes(), want)
	}
	if got := s.PerfTables(); !reflect.DeepEqual(got, []string{"events", "unused"}) {
		t.Errorf("perf tables %v, want [events unused]", got)
	}
	if f := s.PerfFields("unused"); len(f) != 0 {
		t.Errorf("fields of a table never submitted to: %q", f)
	}
	fields := s.PerfFields("events")
	t.Logf("libbcc's fields: %q", fields)
	dec, err := layout.SourceDecoder(mixedProgram, fields)
	if err != nil {
		t.Fatalf("layout.SourceDecoder(%q): %v", fields, err)
	}

	runtime.LockOSThread()
	tid := unix.Gettid()
	unix.Getppid()
	runtime.UnlockOSThread()
	pid := os.Getpid()

	var got []any
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx, Handler{Sample: func(table string, b []byte) {
		if got != nil {
			return
		}
		if got, err = dec.Decode(b); err != nil {
			t.Errorf("decode: %v", err)
		}
		cancel()
	}}); err != nil {
		t.Fatal(err)
	}
	wantVals := []any{uint64(250), uint64(65000), int64(-7), uint64(pid)<<32 | uint64(tid), testenv.CommOf(t, pid), []any{uint64(pid), uint64(tid)}}
	if !reflect.DeepEqual(got, wantVals) {
		t.Errorf("decoded %#v\nwant    %#v", got, wantVals)
	}
}
