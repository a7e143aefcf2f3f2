package session

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
)

func listOf(names ...string) func() (kernel.Functions, error) {
	return func() (kernel.Functions, error) {
		return kernel.Functions{Names: names, From: "test list"}, nil
	}
}

func TestExpandPatterns(t *testing.T) {
	list := listOf("vfs_fsync", "vfs_fsync_range", "vfs_read", "tcp_v4_connect")
	probes := []backend.Probe{
		{Kind: backend.Tracepoint, Target: "sched:sched_switch", Program: "tp"},
		{Kind: backend.Kprobe, Target: "vfs_fsync*", Pattern: "^vfs_fsync.*$", Program: "count"},
		{Kind: backend.Kretprobe, Target: "inet_listen", Program: "ret"},
	}
	got, results, err := expandPatterns(probes, list, 0)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, p := range got {
		targets = append(targets, p.Kind.String()+":"+p.Target+"="+p.Program)
	}
	want := "tracepoint:sched:sched_switch=tp kprobe:vfs_fsync=count kprobe:vfs_fsync_range=count kretprobe:inet_listen=ret"
	if s := strings.Join(targets, " "); s != want {
		t.Errorf("expanded to %s\nwant %s", s, want)
	}
	if len(results) != 1 || results[0].Matched != 2 || results[0].From != "test list" {
		t.Errorf("results %+v", results)
	}

	// No pattern: the list is never read.
	failing := func() (kernel.Functions, error) { return kernel.Functions{}, errors.New("must not be read") }
	if got, _, err := expandPatterns(probes[:1], failing, 0); err != nil || len(got) != 1 {
		t.Errorf("without patterns: %v, %v", got, err)
	}
	if _, _, err := expandPatterns(probes[1:2], failing, 0); err == nil || !strings.Contains(err.Error(), "must not be read") {
		t.Errorf("the list's error: %v", err)
	}
}

func TestExpandPatternsRefuses(t *testing.T) {
	list := listOf("a1", "a2", "a3", "b1")
	none := []backend.Probe{{Kind: backend.Kprobe, Target: "zz_*", Pattern: "^zz_.*$", Program: "p"}}
	if _, _, err := expandPatterns(none, list, 0); err == nil || !strings.Contains(err.Error(), "kprobe zz_*: no traceable kernel function matches (4 functions in test list") {
		t.Errorf("a pattern that matches nothing: %v", err)
	}
	many := []backend.Probe{
		{Kind: backend.Kprobe, Target: "a*", Pattern: "^a.*$", Program: "p"},
		{Kind: backend.Kretprobe, Target: "re:.1", Pattern: "^(?:.1)$", Program: "r"},
	}
	if _, _, err := expandPatterns(many, list, 4); err == nil || !strings.Contains(err.Error(), "match 5 functions, more than the limit of 4") {
		t.Errorf("over the limit: %v", err)
	}
	if got, _, err := expandPatterns(many, list, 5); err != nil || len(got) != 5 {
		t.Errorf("at the limit: %d probes, %v", len(got), err)
	}
}

// fakeProgram refuses to attach to the functions in refuse.
type fakeProgram struct {
	backend.Program
	refuse   map[string]bool
	attached []string
}

func (f *fakeProgram) Attach(p backend.Probe) error {
	if f.refuse[p.Target] {
		return fmt.Errorf("attach %s %s: invalid argument", p.Kind, p.Target)
	}
	f.attached = append(f.attached, p.Target)
	return nil
}

// TestAttachPatternSkipsUnprobeable: as bcc's attach_kprobe(event_re=...),
// a matched function the kernel will not probe is skipped and named; the
// pattern fails only when none could be probed, and a plain probe's
// failure is an error.
func TestAttachPatternSkipsUnprobeable(t *testing.T) {
	pat := backend.Probe{Kind: backend.Kprobe, Target: "f*", Pattern: "^f.*$", Program: "p"}
	probes, results, err := expandPatterns([]backend.Probe{pat}, listOf("f1", "f2", "f3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	prog := &fakeProgram{refuse: map[string]bool{"f2": true}}
	s := &Session{spec: Spec{Name: "x.c", Probes: probes}, prog: prog, patterns: results}
	if err := s.attach(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(prog.attached, " "); got != "f1 f3" || len(s.Probes()) != 2 {
		t.Errorf("attached %s, probes %v", got, s.Probes())
	}
	r := s.Patterns()[0]
	if want := "kprobe f*: p attached to 2 functions (of test list); 1 could not be probed: f2 (attach kprobe f2: invalid argument)"; r.String() != want {
		t.Errorf("%s\nwant %s", r, want)
	}

	prog = &fakeProgram{refuse: map[string]bool{"f1": true, "f2": true, "f3": true}}
	probes, results, _ = expandPatterns([]backend.Probe{pat}, listOf("f1", "f2", "f3"), 0)
	s = &Session{spec: Spec{Name: "x.c", Probes: probes}, prog: prog, patterns: results}
	if err := s.attach(); err == nil || !strings.Contains(err.Error(), "kprobe f*: none of the 3 functions it matches could be probed: attach kprobe f1: invalid argument") {
		t.Errorf("no function probeable: %v", err)
	}

	plain := backend.Probe{Kind: backend.Kprobe, Target: "f2", Program: "p"}
	s = &Session{spec: Spec{Name: "x.c", Probes: []backend.Probe{plain}}, prog: &fakeProgram{refuse: map[string]bool{"f2": true}}}
	if err := s.attach(); err == nil {
		t.Error("a plain probe's failure was ignored")
	}
}
