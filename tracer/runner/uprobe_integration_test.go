//go:build cgo

package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
)

const uprobeLeakProgram = `#include <uapi/linux/ptrace.h>
BPF_PERF_OUTPUT(evs);
int on_entry(struct pt_regs *ctx) { u64 v = PT_REGS_PARM1(ctx); evs.perf_submit(ctx, &v, sizeof(v)); return 0; }
int on_return(struct pt_regs *ctx) { u64 v = PT_REGS_RC(ctx); evs.perf_submit(ctx, &v, sizeof(v)); return 0; }
int on_sem(struct pt_regs *ctx) { u64 v = 0; bpf_usdt_readarg(1, ctx, &v); evs.perf_submit(ctx, &v, sizeof(v)); return 0; }
`

// fdKinds counts this process's descriptors by what they are: perf events
// (each uprobe is one), BPF programs and maps, and all.
func fdKinds(t *testing.T) map[string]int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed since
		}
		m["all"]++
		switch {
		case link == "anon_inode:[perf_event]":
			m["perf_event"]++
		case strings.HasPrefix(link, "anon_inode:bpf-prog"):
			m["bpf-prog"]++
		case strings.HasPrefix(link, "anon_inode:bpf-map"):
			m["bpf-map"]++
		}
	}
	return m
}

func readUprobeEvents(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/sys/kernel/tracing/uprobe_events", "/sys/kernel/debug/tracing/uprobe_events"} {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	t.Fatal("no uprobe_events")
	return ""
}

// TestUprobesLeaveNothing: a uprobe, a uretprobe and a USDT probe with a
// semaphore in a process are perf events while attached, and the
// semaphore is counted up; Close, and an Open that fails after it has
// attached some, leave no descriptor, no uprobe_events entry, and the
// semaphore as it was.
func TestUprobesLeaveNothing(t *testing.T) {
	testenv.RequireBPF(t)
	target := testenv.BuildUprobeTarget(t)
	proc := target.Start(t, 2)
	opts := Options{
		Name:   "leak.c",
		Source: uprobeLeakProgram,
		Probes: []backend.Probe{
			{Kind: backend.Uprobe, Target: target.Bin, Symbol: "evtrace_known", Program: "on_entry"},
			{Kind: backend.Uretprobe, Target: target.Bin, Symbol: "evtrace_known", Program: "on_return"},
		},
		USDT: []backend.USDT{{Target: target.Bin, Pid: proc.Pid, Provider: "evtrace", Name: "sem", Program: "on_sem"}},
		Pid:  proc.Pid,
	}
	before, events := fdKinds(t), readUprobeEvents(t)

	r, err := Open(realbackends.Set(), opts)
	if err != nil {
		t.Fatal(err)
	}
	during := fdKinds(t)
	if during["perf_event"] < before["perf_event"]+3 {
		t.Errorf("perf events while attached: %d, before: %d; want 3 more (uprobe, uretprobe, USDT location)", during["perf_event"], before["perf_event"])
	}
	if _, sem := proc.Round(t); sem != 1 {
		t.Errorf("semaphore %d while attached, want 1", sem)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fdKinds(t); after["all"] != before["all"] || after["perf_event"] != before["perf_event"] || after["bpf-prog"] != before["bpf-prog"] {
		t.Errorf("descriptors after Close %v, before Open %v", after, before)
	}
	if _, sem := proc.Round(t); sem != 0 {
		t.Errorf("semaphore %d after Close, want 0", sem)
	}
	if got := readUprobeEvents(t); got != events {
		t.Errorf("uprobe_events after Close:\n%s\nbefore:\n%s", got, events)
	}

	// The second uprobe's program does not exist: Open fails after the
	// first is attached and the semaphore enabled.
	opts.Probes[1].Program = "no_such_program"
	if _, err := Open(realbackends.Set(), opts); err == nil || !strings.Contains(err.Error(), "no_such_program") {
		t.Fatalf("Open with a missing program: %v", err)
	}
	if after := fdKinds(t); after["all"] != before["all"] {
		t.Errorf("descriptors after a failed Open %v, before %v", after, before)
	}
	if _, sem := proc.Round(t); sem != 0 {
		t.Errorf("semaphore %d after a failed Open, want 0", sem)
	}
	if got := readUprobeEvents(t); got != events {
		t.Errorf("uprobe_events after a failed Open:\n%s", got)
	}
}
