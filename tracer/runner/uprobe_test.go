package runner

import (
	"reflect"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
)

func TestUserProbes(t *testing.T) {
	up := backend.Probe{Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "readline", Program: "p"}
	tp := backend.Probe{Kind: backend.Tracepoint, Target: "a:b", Program: "t"}
	got, err := userProbes(Options{Name: "x.c", Probes: []backend.Probe{up, tp}, Pid: 42})
	if err != nil || got[0].Pid != 42 || got[1].Pid != 0 {
		t.Errorf("userProbes = %+v, %v", got, err)
	}
	if _, err := userProbes(Options{Name: "x.c", Probes: []backend.Probe{tp}, Pid: 42}); err == nil || !strings.Contains(err.Error(), "--pid 42 limits uprobes and USDT probes, and x.c has none") {
		t.Errorf("--pid without uprobes: %v", err)
	}
	if _, err := userProbes(Options{Name: "x.c", USDT: []backend.USDT{{Pid: 42, Name: "n", Program: "u"}}, Pid: 42}); err != nil {
		t.Errorf("--pid with USDT: %v", err)
	}
}

func TestDescribeProbes(t *testing.T) {
	usdt := []backend.USDT{{Target: "/bin/x", Provider: "p", Name: "n", Program: "u"}}
	got := describeProbes([]backend.Probe{
		{Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "readline", Offset: 4, Pid: 7, Program: "a"},
		{Kind: backend.Uretprobe, Target: "/bin/bash", Symbol: "readline", Program: "b"},
		{Kind: backend.Uprobe, Target: "/bin/bash", Offset: 0x10, Program: "c"},
		{Kind: backend.Uprobe, Target: "/bin/x", Offset: 0x20, Program: "u"},
		{Kind: backend.Uprobe, Target: "/bin/x", Offset: 0x30, Program: "u"},
		{Kind: backend.Tracepoint, Target: "a:b", Program: "t"},
	}, usdt)
	want := []string{
		"uprobe /bin/bash:readline+0x4 in PID 7",
		"uretprobe /bin/bash:readline",
		"uprobe /bin/bash at file offset 0x10",
		"tracepoint a:b",
		"usdt /bin/x:p:n, 2 locations",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("describeProbes = %q, want %q", got, want)
	}
}
