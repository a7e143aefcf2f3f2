//go:build cgo

package runner

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/tables"
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

// TestRunDecodesUserStruct: evtrace run attaches a program by bcc's
// conventions, reads every table it submits to, says which it cannot
// decode, and decodes each record from the struct in the source, field by
// field.
func TestRunDecodesUserStruct(t *testing.T) {
	testenv.RequireBPF(t)
	var notes []string
	r, err := Open(realbackends.Set(), Options{
		Name:   "mixed.c",
		Source: mixedProgram,
		CFlags: []string{"-DWANT_PID=" + strconv.Itoa(os.Getpid())},
		Count:  1,
		Note:   func(s string) { notes = append(notes, s) },
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if got, want := r.StartNote(), "tracing (tracepoint syscalls:sys_enter_getppid); Ctrl-C to stop"; got != want {
		t.Errorf("start note %q, want %q", got, want)
	}
	if got := r.Tables(); !reflect.DeepEqual(got, []string{"events", "unused"}) {
		t.Errorf("perf tables %v, want [events unused]", got)
	}
	const unusedNote = "perf table unused: no struct recorded for it (perf_submit of a non-struct, or never submitted to): printing its records as hex bytes"
	if !slices.Contains(notes, unusedNote) {
		t.Errorf("notes %q, want %q", notes, unusedNote)
	}

	runtime.LockOSThread()
	tid := unix.Gettid()
	unix.Getppid()
	runtime.UnlockOSThread()
	pid := os.Getpid()

	var names []string
	var got []any
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Run(ctx, Output{Record: func(table string, fields []layout.Field, vals []any) {
		if table != "events" {
			t.Errorf("record from table %q", table)
		}
		for _, f := range fields {
			names = append(names, f.Name)
		}
		got = vals
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Events != 1 {
		t.Fatalf("%d events, want 1 (--count 1)", st.Events)
	}
	if want := []string{"small", "medium", "negative", "big", "comm", "pair"}; !reflect.DeepEqual(names, want) {
		t.Errorf("fields %q, want %q", names, want)
	}
	want := []any{uint64(250), uint64(65000), int64(-7), uint64(pid)<<32 | uint64(tid), testenv.CommOf(t, pid), []any{uint64(pid), uint64(tid)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %#v\nwant    %#v", got, want)
	}
}

// TestRunRingBuffers: a known number of getppid calls gives exactly that
// many events in each ring buffer, one written with ringbuf_output, one
// with ringbuf_reserve and ringbuf_submit, decoded from the structs
// libbcc recorded for them, in the order they were written.
func TestRunRingBuffers(t *testing.T) {
	testenv.RequireBPF(t)
	const calls = 300
	r, err := Open(realbackends.Set(), Options{
		Name: "rings.c",
		Source: `
struct out_ev { u32 pid; u32 tid; u64 n; };
struct res_ev { u64 id; s16 neg; char comm[16]; };
BPF_RINGBUF_OUTPUT(outs, 4);
BPF_RINGBUF_OUTPUT(reserved, 4);
BPF_ARRAY(seq, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != WANT_PID)
		return 0;
	int zero = 0;
	u64 *n = seq.lookup(&zero);
	if (!n)
		return 0;
	struct out_ev o = {.pid = id >> 32, .tid = (u32)id, .n = __sync_fetch_and_add(n, 1)};
	outs.ringbuf_output(&o, sizeof(o), 0);
	struct res_ev *e = reserved.ringbuf_reserve(sizeof(struct res_ev));
	if (!e)
		return 0;
	e->id = id;
	e->neg = -300;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	reserved.ringbuf_submit(e, 0);
	return 0;
}`,
		CFlags: []string{"-DWANT_PID=" + strconv.Itoa(os.Getpid())},
		Maps:   tables.Config{Select: []string{"seq"}},
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if got := r.Tables(); !reflect.DeepEqual(got, []string{"outs", "reserved"}) {
		t.Fatalf("tables %v, want [outs reserved]", got)
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	for range calls {
		unix.Getppid()
	}
	runtime.UnlockOSThread()
	pid := os.Getpid()
	comm := testenv.CommOf(t, pid)

	counts := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Run(ctx, Output{Record: func(table string, fields []layout.Field, vals []any) {
		var want []any
		switch table {
		case "outs":
			want = []any{uint64(pid), uint64(tid), uint64(counts[table])}
		case "reserved":
			want = []any{uint64(pid)<<32 | uint64(tid), int64(-300), comm}
		}
		if !reflect.DeepEqual(vals, want) {
			t.Errorf("%s record %d: %#v, want %#v", table, counts[table], vals, want)
		}
		counts[table]++
		if counts["outs"] == calls && counts["reserved"] == calls {
			cancel()
		}
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if counts["outs"] != calls || counts["reserved"] != calls || st.Events != 2*calls || st.Lost != 0 {
		t.Errorf("delivered %v (%d events, %d lost), want %d from each ring", counts, st.Events, st.Lost, calls)
	}
	if len(st.Rings) != 2 || st.Rings[0].Size != 4*os.Getpagesize() {
		t.Errorf("ring stats %+v, want two rings of 4 pages", st.Rings)
	}
}
