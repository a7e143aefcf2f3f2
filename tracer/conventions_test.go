package tracer

import (
	"reflect"
	"testing"
)

func TestProbeForFunction(t *testing.T) {
	const x64 = "__x64_sys_"
	tests := []struct {
		name string
		want Probe
		ok   bool
	}{
		{"kprobe__inet_listen", Probe{Kprobe, "inet_listen", "kprobe__inet_listen"}, true},
		{"kprobe__sys_listen", Probe{Kprobe, "__x64_sys_listen", "kprobe__sys_listen"}, true},
		{"kprobe____x64_sys_clone", Probe{Kprobe, "__x64_sys_clone", "kprobe____x64_sys_clone"}, true},
		{"kprobe__tcp_v4_connect", Probe{Kprobe, "tcp_v4_connect", "kprobe__tcp_v4_connect"}, true},
		{"kretprobe__inet_csk_accept", Probe{Kretprobe, "inet_csk_accept", "kretprobe__inet_csk_accept"}, true},
		{"kretprobe__sys_getppid", Probe{Kretprobe, "__x64_sys_getppid", "kretprobe__sys_getppid"}, true},
		{"tracepoint__syscalls__sys_enter_getppid", Probe{Tracepoint, "syscalls:sys_enter_getppid", "tracepoint__syscalls__sys_enter_getppid"}, true},
		{"tracepoint__sock__inet_sock_set_state", Probe{Tracepoint, "sock:inet_sock_set_state", "tracepoint__sock__inet_sock_set_state"}, true},
		{"raw_tracepoint__sched_switch", Probe{RawTracepoint, "sched_switch", "raw_tracepoint__sched_switch"}, true},
		{"kfunc__inet_listen", Probe{Fentry, "inet_listen", "kfunc__inet_listen"}, true},
		{"kretfunc__inet_listen", Probe{Fexit, "inet_listen", "kretfunc__inet_listen"}, true},
		{"tracepoint__nocategory", Probe{}, false},
		{"kprobe__", Probe{}, false},
		{"helper", Probe{}, false},
		{"my_kprobe__x", Probe{}, false},
	}
	for _, tt := range tests {
		got, ok := ProbeForFunction(tt.name, x64)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if got, _ := ProbeForFunction("kprobe__sys_listen", "sys_"); got.Target != "sys_listen" {
		t.Errorf("old kernel prefix: %+v", got)
	}
}

func TestSyscallPrefix(t *testing.T) {
	for syms, want := range map[string]string{"__x64_sys_bpf": "__x64_sys_", "__arm64_sys_bpf": "__arm64_sys_", "sys_bpf": "sys_", "": "sys_"} {
		has := func(s string) bool { return s == syms }
		if got := SyscallPrefix(has); got != want {
			t.Errorf("kernel with %q: %q, want %q", syms, got, want)
		}
	}
}

func TestParseAttachSpec(t *testing.T) {
	good := map[string]Probe{
		"kprobe:inet_listen=trace":           {Kprobe, "inet_listen", "trace"},
		"kprobe:sys_listen=t":                {Kprobe, "__x64_sys_listen", "t"},
		"kretprobe:inet_listen=r":            {Kretprobe, "inet_listen", "r"},
		"tracepoint:syscalls:sys_exit_bpf=e": {Tracepoint, "syscalls:sys_exit_bpf", "e"},
		"raw_tracepoint:sched_switch=s":      {RawTracepoint, "sched_switch", "s"},
	}
	for s, want := range good {
		got, err := ParseAttachSpec(s, "__x64_sys_")
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"inet_listen", "kprobe:inet_listen", "kprobe:=p", "uprobe:x=y", "tracepoint:nocat=p"} {
		if _, err := ParseAttachSpec(s, "__x64_sys_"); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestPerfArrays(t *testing.T) {
	src := "BPF_PERF_OUTPUT(events);\nBPF_PERF_ARRAY(cycles, 32);\n// BPF_PERF_ARRAY(old, 2);\nBPF_PERF_ARRAY( misses ,32);\n"
	if got := perfArrays(src); !reflect.DeepEqual(got, []string{"cycles", "misses"}) {
		t.Errorf("perfArrays = %q, want [cycles misses]", got)
	}
}

func TestCallsTracePrintk(t *testing.T) {
	for src, want := range map[string]bool{
		`int f(void *ctx) { bpf_trace_printk("hi\n"); return 0; }`:                     true,
		"int f(void *ctx) {\n\tbpf_trace_printk(\"a\"); // done\n}":                    true,
		"// bpf_trace_printk(\"old way\");\nint f(void *ctx) { return 0; }":            false,
		"/* we used to call\n bpf_trace_printk here */ int f(void *ctx) { return 0; }": false,
		`int f(void *ctx) { char s[] = "bpf_trace_printk"; return 0; }`:                false,
		`int f(void *ctx) { char c = '"'; bpf_trace_printk("x"); return 0; }`:          true,
		`int f(void *ctx) { char s[] = "say \"bpf_trace_printk\" /*"; return s[0]; }`:  false,
		"int f(void *ctx) { /* unterminated":                                           false,
		`int f(void *ctx) { events.perf_submit(ctx, &e, sizeof(e)); return 0; }`:       false,
		"int f(void *ctx) { return 0; } // bpf_trace_printk at the end, no newline":    false,
	} {
		if got := CallsTracePrintk(src); got != want {
			t.Errorf("CallsTracePrintk(%q) = %v, want %v", src, got, want)
		}
	}
}
