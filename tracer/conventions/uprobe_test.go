package conventions

import (
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
)

func TestParseUprobeSpec(t *testing.T) {
	good := map[string]backend.Probe{
		"uprobe:/bin/bash:readline=p":          {Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "readline", Program: "p"},
		"uretprobe:/bin/bash:readline=p":       {Kind: backend.Uretprobe, Target: "/bin/bash", Symbol: "readline", Program: "p"},
		"uprobe:c:pthread_create=do_entry":     {Kind: backend.Uprobe, Target: "c", Symbol: "pthread_create", Program: "do_entry"},
		"uprobe:/bin/bash:readline+0x10=p":     {Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "readline", Offset: 16, Program: "p"},
		"uprobe:/bin/bash:readline+4=p":        {Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "readline", Offset: 4, Program: "p"},
		"uprobe:/bin/bash:0x4a3b0=p":           {Kind: backend.Uprobe, Target: "/bin/bash", Symbol: "0x4a3b0", Program: "p"},
		"uprobe:/opt/a:b/x:_ZN3foo3barEv=p":    {Kind: backend.Uprobe, Target: "/opt/a:b/x", Symbol: "_ZN3foo3barEv", Program: "p"},
		"uretprobe:/bin/bash:readline+0=p":     {Kind: backend.Uretprobe, Target: "/bin/bash", Symbol: "readline", Program: "p"},
		"uprobe:/usr/lib/x.so:foo.cold=probe1": {Kind: backend.Uprobe, Target: "/usr/lib/x.so", Symbol: "foo.cold", Program: "probe1"},
	}
	for s, want := range good {
		got, err := ParseAttachSpec(s, "__x64_sys_")
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", s, got, err, want)
		}
	}
	if a, ok := RawAddress(good["uprobe:/bin/bash:0x4a3b0=p"]); !ok || a != 0x4a3b0 {
		t.Errorf("RawAddress = 0x%x, %v", a, ok)
	}
	if _, ok := RawAddress(good["uprobe:/bin/bash:readline=p"]); ok {
		t.Error("a symbol taken for an address")
	}
	bad := map[string]string{
		"uprobe:/bin/bash=p":               "want uprobe:TARGET:SYMBOL=PROGRAM",
		"uprobe::readline=p":               "want uprobe:TARGET:SYMBOL",
		"uprobe:/bin/bash:=p":              "want uprobe:TARGET:SYMBOL",
		"uprobe:/bin/bash:0xzz=p":          "want hexadecimal digits after 0x",
		"uprobe:/bin/bash:readline+x=p":    `offset "x"`,
		"uprobe:/bin/bash:1abc=p":          "is not a symbol name",
		"uprobe:/bin/bash:a b=p":           "is not a symbol name",
		"uretprobe:/bin/bash:0x4a3b0=p":    "name the function, not an address",
		"uretprobe:/bin/bash:readline+4=p": "no offset",
		"uprobes:/bin/bash:readline=p":     "unknown kind",
	}
	for s, want := range bad {
		if _, err := ParseAttachSpec(s, "__x64_sys_"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error with %q", s, err, want)
		}
	}
}

func TestParseUSDTSpec(t *testing.T) {
	good := []struct {
		spec string
		pid  int
		want backend.USDT
	}{
		{"/usr/bin/prog:probe=on", 0, backend.USDT{Target: "/usr/bin/prog", Name: "probe", Program: "on"}},
		{"/usr/bin/prog:prov:probe=on", 0, backend.USDT{Target: "/usr/bin/prog", Provider: "prov", Name: "probe", Program: "on"}},
		{"/usr/bin/prog:prov:probe=on", 42, backend.USDT{Target: "/usr/bin/prog", Pid: 42, Provider: "prov", Name: "probe", Program: "on"}},
		{"pid:prov:probe=on", 42, backend.USDT{Pid: 42, Provider: "prov", Name: "probe", Program: "on"}},
		{"pid:probe=on", 42, backend.USDT{Pid: 42, Name: "probe", Program: "on"}},
		{"prov:probe=on", 42, backend.USDT{Pid: 42, Provider: "prov", Name: "probe", Program: "on"}},
		{":probe=on", 42, backend.USDT{Pid: 42, Name: "probe", Program: "on"}},
		{"probe=on", 42, backend.USDT{Pid: 42, Name: "probe", Program: "on"}},
	}
	for _, g := range good {
		got, err := ParseUSDTSpec(g.spec, g.pid)
		if err != nil || got != g.want {
			t.Errorf("%s (pid %d): %+v, %v; want %+v", g.spec, g.pid, got, err, g.want)
		}
	}
	bad := map[string]string{
		"/usr/bin/prog:probe":         "want TARGET:[PROVIDER:]PROBE=PROGRAM",
		"/usr/bin/prog:probe=":        "want TARGET",
		"/usr/bin/prog:a:b:c=on":      "want TARGET",
		"/usr/bin/prog:=on":           "no probe name",
		"/usr/bin/prog::probe=on":     "empty provider",
		"prov:probe=on":               "give --pid",
		"pid:probe=on":                "give --pid",
		"/usr/bin/prog:probe=not-a-c": "want TARGET",
	}
	for s, want := range bad {
		if _, err := ParseUSDTSpec(s, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error with %q", s, err, want)
		}
	}
}
