package probes

import (
	"os"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	got, err := Build("int x;\n", []Define{{Name: "EVTRACE_MODE_PERF", Value: "1"}, {Name: "FLAG"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "// evtrace: definitions for this run\n#define EVTRACE_MODE_PERF 1\n#define FLAG\n\nint x;\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got, _ := Build("int x;\n", nil); got != "int x;\n" {
		t.Errorf("no defines: got %q", got)
	}
	for _, d := range []Define{{Name: "1X"}, {Name: ""}, {Name: "A-B"}, {Name: "A", Value: "1\n#include </etc/passwd>"}} {
		if _, err := Build("", []Define{d}); err == nil {
			t.Errorf("Build accepted %+v", d)
		}
	}
}

// TestListenSourceIsEmbedded: the binary carries evtrace.h then listen.c,
// exactly as they are in the tree.
func TestListenSourceIsEmbedded(t *testing.T) {
	listen, err := os.ReadFile("listen.c")
	if err != nil {
		t.Fatal(err)
	}
	header, err := os.ReadFile("evtrace.h")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Listen(), string(header)+"\n"+string(listen); got != want {
		t.Errorf("Listen() is not evtrace.h, a newline and listen.c")
	}
}

// TestTutorialSteps: the six steps, in order, each the file in
// tutorial/ exactly (but the line for the Go tool), each with a summary.
func TestTutorialSteps(t *testing.T) {
	steps := Tutorial()
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
		want, err := os.ReadFile("tutorial/" + s.Name + ".c")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(want), goToolHeader) || s.Source != string(want)[len(goToolHeader):] {
			t.Errorf("step %s: source is not tutorial/%s.c without its Go tool line", s.Name, s.Name)
		}
		if s.Summary == "" {
			t.Errorf("step %s: no summary", s.Name)
		}
	}
	if strings.Join(names, " ") != "hello backlog port-ip netns perf maps" {
		t.Errorf("steps %v", names)
	}
}
