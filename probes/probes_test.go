package probes

import (
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

func TestListenSourceIsEmbedded(t *testing.T) {
	src := Listen()
	for _, want := range []string{"EVTRACE_KPROBE(inet_listen)", "EVTRACE_PERF_OUTPUT(listen_events)", "#ifdef EVTRACE_ELF", "BPF_PERF_OUTPUT(name)", "bpf_trace_printk", "FILTER_PID", "FILTER_NETNS"} {
		if !strings.Contains(src, want) {
			t.Errorf("listen.c lacks %q", want)
		}
	}
}

func TestTutorialSteps(t *testing.T) {
	steps := Tutorial()
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
		if !strings.Contains(s.Source, "kprobe__inet_listen") || s.Summary == "" {
			t.Errorf("step %s: incomplete", s.Name)
		}
	}
	if strings.Join(names, " ") != "hello backlog port-ip netns perf" {
		t.Errorf("steps %v", names)
	}
	if !strings.Contains(steps[4].Source, "BPF_PERF_OUTPUT") || !strings.Contains(steps[3].Source, "THREE arguments") {
		t.Error("perf or netns step lacks its point")
	}
}
