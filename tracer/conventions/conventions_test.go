package conventions

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
)

func TestProbeForFunction(t *testing.T) {
	const x64 = "__x64_sys_"
	tests := []struct {
		name string
		want backend.Probe
		ok   bool
	}{
		{"kprobe__inet_listen", backend.Probe{Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"}, true},
		{"kprobe__sys_listen", backend.Probe{Kind: backend.Kprobe, Target: "__x64_sys_listen", Program: "kprobe__sys_listen"}, true},
		{"kprobe____x64_sys_clone", backend.Probe{Kind: backend.Kprobe, Target: "__x64_sys_clone", Program: "kprobe____x64_sys_clone"}, true},
		{"kprobe__tcp_v4_connect", backend.Probe{Kind: backend.Kprobe, Target: "tcp_v4_connect", Program: "kprobe__tcp_v4_connect"}, true},
		{"kretprobe__inet_csk_accept", backend.Probe{Kind: backend.Kretprobe, Target: "inet_csk_accept", Program: "kretprobe__inet_csk_accept"}, true},
		{"kretprobe__sys_getppid", backend.Probe{Kind: backend.Kretprobe, Target: "__x64_sys_getppid", Program: "kretprobe__sys_getppid"}, true},
		{"tracepoint__syscalls__sys_enter_getppid", backend.Probe{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}, true},
		{"tracepoint__sock__inet_sock_set_state", backend.Probe{Kind: backend.Tracepoint, Target: "sock:inet_sock_set_state", Program: "tracepoint__sock__inet_sock_set_state"}, true},
		{"raw_tracepoint__sched_switch", backend.Probe{Kind: backend.RawTracepoint, Target: "sched_switch", Program: "raw_tracepoint__sched_switch"}, true},
		{"kfunc__inet_listen", backend.Probe{Kind: backend.Fentry, Target: "inet_listen", Program: "kfunc__inet_listen"}, true},
		{"kretfunc__inet_listen", backend.Probe{Kind: backend.Fexit, Target: "inet_listen", Program: "kretfunc__inet_listen"}, true},
		{"tracepoint__nocategory", backend.Probe{}, false},
		{"kprobe__", backend.Probe{}, false},
		{"helper", backend.Probe{}, false},
		{"my_kprobe__x", backend.Probe{}, false},
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
	good := map[string]backend.Probe{
		"kprobe:inet_listen=trace":           {Kind: backend.Kprobe, Target: "inet_listen", Program: "trace"},
		"kprobe:sys_listen=t":                {Kind: backend.Kprobe, Target: "__x64_sys_listen", Program: "t"},
		"kretprobe:inet_listen=r":            {Kind: backend.Kretprobe, Target: "inet_listen", Program: "r"},
		"tracepoint:syscalls:sys_exit_bpf=e": {Kind: backend.Tracepoint, Target: "syscalls:sys_exit_bpf", Program: "e"},
		"raw_tracepoint:sched_switch=s":      {Kind: backend.RawTracepoint, Target: "sched_switch", Program: "s"},
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
	if got := PerfArrays(src); !reflect.DeepEqual(got, []string{"cycles", "misses"}) {
		t.Errorf("PerfArrays = %q, want [cycles misses]", got)
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

func TestHistograms(t *testing.T) {
	src := `
BPF_HISTOGRAM(dist);
BPF_HISTOGRAM(disk_dist, disk_key_t, 64);
// BPF_HISTOGRAM(commented);
/* BPF_TABLE("histogram", int, u64, commented2, 64); */
BPF_TABLE("histogram", int, u64, tdist, 64);
BPF_F_TABLE("histogram", struct key_t, u64, fdist, 10240, BPF_F_NO_PREALLOC);
BPF_TABLE("hash", u32, u64, counts, 10240);
BPF_HASH(start, u32);
int f(void *ctx) { bpf_trace_printk("BPF_HISTOGRAM(notamap)\n"); return 0; }
`
	want := []string{"dist", "disk_dist", "tdist", "fdist"}
	if got := Histograms(src); !reflect.DeepEqual(got, want) {
		t.Errorf("Histograms = %q, want %q", got, want)
	}
}

func TestUsesLog2(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"dist.increment(bpf_log2l(delta));", true},
		{"key.slot = bpf_log2 (bytes);", true},
		{"// bpf_log2l(x)\nkey.slot = delta / 1000;", false},
		{`bpf_trace_printk("bpf_log2l(x)");`, false},
		{"my_bpf_log2l(x);", false},
	}
	for _, tt := range tests {
		if got := UsesLog2(tt.src); got != tt.want {
			t.Errorf("UsesLog2(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestFunctionPattern(t *testing.T) {
	for _, tc := range []struct {
		target    string
		match     []string
		dontMatch []string
	}{
		{"vfs_*", []string{"vfs_read", "vfs_", "vfs_fsync_range"}, []string{"do_vfs_read", "vfsread", "xvfs_read"}},
		{"tcp_v?_connect", []string{"tcp_v4_connect", "tcp_v6_connect"}, []string{"tcp_v46_connect", "tcp_v4_connect_x"}},
		{"tcp_v[46]_connect", []string{"tcp_v4_connect", "tcp_v6_connect"}, []string{"tcp_v5_connect"}},
		{"ext[!2]_*", []string{"ext4_sync_fs"}, []string{"ext2_sync_fs"}},
		{"a.b*", []string{"a.b", "a.bc"}, []string{"axb"}},
		{"re:vfs_(read|write)", []string{"vfs_read", "vfs_write"}, []string{"vfs_readv", "do_vfs_read"}},
		{"re:.*_sendmsg", []string{"tcp_sendmsg", "udp_sendmsg"}, []string{"tcp_sendmsg_locked"}},
	} {
		pat, err := FunctionPattern(tc.target)
		if err != nil || pat == "" {
			t.Errorf("%s: %q, %v", tc.target, pat, err)
			continue
		}
		re := regexp.MustCompile(pat)
		for _, n := range tc.match {
			if !re.MatchString(n) {
				t.Errorf("%s (%s) does not match %s", tc.target, pat, n)
			}
		}
		for _, n := range tc.dontMatch {
			if re.MatchString(n) {
				t.Errorf("%s (%s) matches %s", tc.target, pat, n)
			}
		}
	}
	if pat, err := FunctionPattern("inet_listen"); pat != "" || err != nil {
		t.Errorf("a plain name: %q, %v; want no pattern", pat, err)
	}
	for _, bad := range []string{"re:", "re:vfs_(", "vfs_[abc", "x[]"} {
		if pat, err := FunctionPattern(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, pat)
		}
	}
}

func TestParseAttachSpecPattern(t *testing.T) {
	p, err := ParseAttachSpec("kretprobe:sys_*=r", "__x64_sys_")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != backend.Kretprobe || p.Target != "sys_*" || p.Pattern != "^sys_.*$" || p.Program != "r" {
		t.Errorf("got %+v: a pattern is not a syscall name to rewrite", p)
	}
	if _, err := ParseAttachSpec("kprobe:re:(=p", "__x64_sys_"); err == nil || !strings.Contains(err.Error(), "regular expression") {
		t.Errorf("a bad regular expression: %v", err)
	}
}

func TestParsePerfSpec(t *testing.T) {
	for _, c := range []struct {
		spec                      string
		typ, config, freq, period uint64
		prog                      string
	}{
		{"perf:software:cpu-clock:freq=99=on_sample", 1, 0, 99, 0, "on_sample"},
		{"perf:hardware:cpu-cycles:period=1000000=p", 0, 0, 0, 1000000, "p"},
		{"perf:hardware:instructions:freq=49=p", 0, 1, 49, 0, "p"},
		{"perf:1:3:period=1=p", 1, 3, 0, 1, "p"},
		{"perf:8:0x1a:freq=10=p", 8, 0x1a, 10, 0, "p"},
	} {
		p, err := ParseAttachSpec(c.spec, "__x64_sys_")
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		if p.Kind != backend.PerfEvent || p.PerfType != c.typ || p.PerfConfig != c.config || p.Freq != c.freq || p.Period != c.period || p.Program != c.prog {
			t.Errorf("%s = %+v", c.spec, p)
		}
	}
	for _, bad := range []string{
		"perf:software:cpu-clock=p", "perf:software:cpu-clock:freq=0=p", "perf:software:cpu-clock:freq=99",
		"perf:software:cpu-clock:rate=9=p", "perf:nosuch:cpu-clock:freq=9=p", "perf:software:nosuch:freq=9=p",
		"perf:hardware:cpu-cycles:freq=-1=p", "perf::cpu-clock:freq=9=p",
	} {
		if _, err := ParseAttachSpec(bad, "__x64_sys_"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
