package tracer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// Ends of real verifier logs. The 6.18 ones are this project's host,
// loading the programs of TestLoadRefusedByVerifier at log level 1|4 (and 4
// alone); the 6.1 ones are in that kernel's format (insn and state on one
// line, "_w" marks, source lines without "@ file:line", no states after
// "infinite loop detected", and level 1 alone, as gobpf/elf and libbcc ask
// for it: no verification time); 5.x as an issue reported it.
var verifierLogTails = []struct {
	name, log, verdict string
}{
	{
		name: "6.18 complexity limit, level 1|4",
		log: `; for (volatile u64 i = 0; i < n; i++) @ main.c:21
11: (79) r2 = *(u64 *)(r10 -16)       ; R2=0x1b204 R10=fp0 fp-16=0x1b204
12: (bf) r1 = r3                      ; R1=0x16fe7ef06 R3=0x16fe7ef06
13: (2d) if r0 > r2 goto pc-8         ; R0=scalar(umin=0x1b205) R1=0x16fe7ef06 R2=0x1b204 R3=0x16fe7ef06 R10=fp0 fp-16=0x1b204
; sum += i; @ main.c:22
6: (79) r3 = *(u64 *)(r10 -16)        ; R3=0x1b204 R10=fp0 fp-16=0x1b204
; for (volatile u64 i = 0; i < n; i++) @ main.c:21
7: (79) r2 = *(u64 *)(r10 -16)        ; R2=0x1b204 R10=fp0 fp-16=0x1b204
8: (07) r2 += 1                       ; R2=0x1b205
9: (7b) *(u64 *)(r10 -16) = r2        ; R2=0x1b205 R10=fp0 fp-16=0x1b205
; sum += i; @ main.c:22
10: (0f) r3 += r1
BPF program is too large. Processed 1000001 insn
verification time 941756 usec
stack depth 16
processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0
`,
		verdict: "BPF program is too large. Processed 1000001 insn (verification time 941756 usec, processed 1000001 insns, limit 1000000)",
	},
	{
		name: "6.18 complexity limit, level 4",
		log: `BPF program is too large. Processed 1000001 insn
verification time 200469 usec
stack depth 16
processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0
`,
		verdict: "BPF program is too large. Processed 1000001 insn (verification time 200469 usec, processed 1000001 insns, limit 1000000)",
	},
	{
		name: "6.18 infinite loop, states after the message",
		log: `2: (63) *(u32 *)(r10 -4) = r1         ; R1=0 R10=fp0 fp-8=0000????
3: (05) goto pc-2
infinite loop detected at insn 2
cur state: R1=0 R10=fp0 fp-8=0000????
old state: R1=P0 R10=fp0 fp-8=0000????
verification time 67 usec
stack depth 8
processed 11 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0
`,
		verdict: "infinite loop detected at insn 2 (verification time 67 usec, processed 11 insns, limit 1000000)",
	},
	{
		name: "6.18 map value not checked for NULL",
		log: `; ({ char _fmt[] = "%llu\n"; bpf_trace_printk_(_fmt, sizeof(_fmt), *v); }); @ main.c:22
8: (6b) *(u16 *)(r10 -8) = r1         ; R1=10 R10=fp0 fp-8=0000??10
9: (b7) r1 = 1970039845               ; R1=0x756c6c25
10: (63) *(u32 *)(r10 -12) = r1       ; R1=0x756c6c25 R10=fp0 fp-16=mmmm????
11: (79) r3 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
verification time 103 usec
stack depth 16
processed 11 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
`,
		verdict: "R0 invalid mem access 'map_value_or_null' (verification time 103 usec, processed 11 insns, limit 1000000)",
	},
	{
		name: "6.1 complexity limit, level 1",
		log: `; for (volatile u64 i = 0; i < n; i++)
7: (79) r2 = *(u64 *)(r10 -16)        ; R2_w=scalar() R10=fp0 fp-16=mmmmmmmm
8: (07) r2 += 1                       ; R2_w=scalar()
9: (7b) *(u64 *)(r10 -16) = r2        ; R2_w=scalar() R10=fp0 fp-16_w=mmmmmmmm
; sum += i;
10: (0f) r3 += r1
BPF program is too large. Processed 1000001 insn
processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10012 peak_states 10012 mark_read 3
`,
		verdict: "BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)",
	},
	{
		name: "6.1 infinite loop",
		log: `3: (16) if w1 == 0x0 goto pc+1        ; R1_w=scalar(umax=4294967295,var_off=(0x0; 0xffffffff))
4: (05) goto pc-1
4: (05) goto pc-1
4: (05) goto pc-1
infinite loop detected at insn 4
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1
`,
		verdict: "infinite loop detected at insn 4 (processed 7 insns, limit 1000000)",
	},
	{
		name: "5.x complexity limit, only the end",
		log: `BPF program is too large. Processed 1000001 insn
processed 1000001 insns (limit 1000000) max_states_per_insn 63 total_states 13181 peak_states 2810 mark_read 5`,
		verdict: "BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)",
	},
	{
		name: "a message of two lines",
		log: `12: (61) r0 = *(u32 *)(r0 +8)
invalid access to map value, value_size=8 off=8 size=4
R0 min value is outside of the allowed memory range
processed 13 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1`,
		verdict: "invalid access to map value, value_size=8 off=8 size=4; R0 min value is outside of the allowed memory range (processed 13 insns, limit 1000000)",
	},
	{
		name:    "before bounded loops (4.x), no statistics",
		log:     "back-edge from insn 7 to 3\n",
		verdict: "back-edge from insn 7 to 3",
	},
	{
		name: "the start of a log that did not fit (before 6.4)",
		log: `0: R1=ctx(off=0,imm=0) R10=fp0
; u64 n = bpf_ktime_get_ns();
0: (85) call bpf_ktime_get_ns#5       ; R0_w=scalar()
1: (b7) r3 = 0                        ; R3_w=0
2: (7b) *(u64 *)(r10 -16) = r3        ; R3_w=0 R10=fp0 fp-16_w=00000`,
		verdict: "",
	},
	{name: "empty", log: "", verdict: ""},
}

func TestVerifierVerdict(t *testing.T) {
	for _, c := range verifierLogTails {
		if got := verifierVerdict(c.log); got != c.verdict {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.verdict)
		}
	}
}

// TestVerifierLogFallsBack: a log that does not fit is read at its end when
// the kernel keeps the end (6.4 and later), and reloaded at BPF_LOG_STATS
// alone when the kernel kept the start.
func TestVerifierLogFallsBack(t *testing.T) {
	defer func(size int) { verifierLogSize = size }(verifierLogSize)
	verifierLogSize = 4096
	trace := strings.Repeat("13: (2d) if r0 > r2 goto pc-8         ; R0=scalar(umin=0x1b205) R2=0x1b204\n", 200)
	end := "BPF program is too large. Processed 1000001 insn\nverification time 200469 usec\nstack depth 16\nprocessed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0\n"
	// fill writes log into buf as the kernel would: the start (keepEnd
	// false) or the end of it, NUL-terminated.
	fill := func(buf []byte, log string, keepEnd bool) string {
		if len(log) >= len(buf) {
			if keepEnd {
				log = log[len(log)-len(buf)+1:]
			} else {
				log = log[:len(buf)-1]
			}
		}
		copy(buf, log)
		buf[len(log)] = 0
		return log
	}
	for _, keepEnd := range []bool{true, false} {
		var levels []uint
		log := verifierLog(func(level uint, buf []byte) string {
			levels = append(levels, level)
			if level&1 == 0 {
				return fill(buf, end, keepEnd)
			}
			return fill(buf, trace+end, keepEnd)
		})
		verdict := verifierVerdict(log)
		if !strings.HasPrefix(verdict, "BPF program is too large. Processed 1000001 insn (") {
			t.Errorf("keepEnd %v: verdict %q", keepEnd, verdict)
		}
		if keepEnd {
			// The first whole line follows the note.
			lines := strings.SplitN(log, "\n", 3)
			if fmt.Sprint(levels) != "[5]" || !strings.HasPrefix(lines[0], "... (the start of the verifier's log left out") ||
				!strings.HasPrefix(lines[1], "13: (2d) if r0 > r2") {
				t.Errorf("kernel keeps the end: loads at levels %v, log %q", levels, log[:200])
			}
		} else if fmt.Sprint(levels) != "[5 4]" || log != strings.TrimSpace(end) {
			t.Errorf("kernel keeps the start: loads at levels %v, log %q", levels, log)
		}
	}
	// A log that fits is the log.
	small := "11: (79) r3 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 11 insns (limit 1000000)\n"
	if log := verifierLog(func(level uint, buf []byte) string { return fill(buf, small, false) }); log != strings.TrimSpace(small) {
		t.Errorf("small log: %q", log)
	}
}

func TestLogTail(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%d: insn\n", i)
	}
	b.WriteString("R1 invalid mem access\n")
	e := &LoadError{Log: b.String()}
	lines := strings.Split(e.LogTail(40), "\n")
	if len(lines) != 41 || lines[0] != "... (61 lines before these left out)" || lines[1] != "61: insn" || lines[40] != "R1 invalid mem access" {
		t.Errorf("LogTail(40):\n%s", strings.Join(lines, "\n"))
	}
	if got := e.LogTail(200); got != strings.TrimSpace(b.String()) {
		t.Errorf("LogTail(200) of 101 lines: %q", got)
	}
}

// TestELFLoadError: gobpf/elf's error (its whole log buffer, NULs and all)
// says what the bcc backend's does.
func TestELFLoadError(t *testing.T) {
	log := verifierLogTails[0].log
	err := elfLoadError(errors.New("error while loading \"tracepoint/syscalls/sys_enter_getppid\" (argument list too long):\n" + log + strings.Repeat("\x00", 4096)))
	want := "load program tracepoint/syscalls/sys_enter_getppid: the verifier refused it: " + verifierLogTails[0].verdict
	if err.Error() != want || err.Log != strings.TrimSpace(log) {
		t.Errorf("got %q (log %q), want %q", err, err.Log, want)
	}
	err = elfLoadError(errors.New("error while loading \"kprobe/inet_listen\" (operation not permitted):\n\x00\x00"))
	if got := err.Error(); got != "load program kprobe/inet_listen: operation not permitted" {
		t.Errorf("no verifier log: %q", got)
	}
	err = elfLoadError(errors.New(`error while loading map "maps/calls": invalid argument`))
	if got := err.Error(); got != `load program (ELF object): gobpf/elf could not load it: error while loading map "maps/calls": invalid argument` {
		t.Errorf("not a program: %q", got)
	}
}

// TestLoadRefusedByVerifier loads programs that the verifier refuses: the
// error is one line that names the program and gives the verifier's own
// verdict, and LoadError.Log is the verifier's log. The loop reaches the
// complexity limit, for which the kernel returns E2BIG and libbcc says
// "Program  too large (25 insns), at most 4096 insns" (no name, and not
// the reason) without reading the log.
func TestLoadRefusedByVerifier(t *testing.T) {
	testenv.RequireBPF(t)
	const prefix = "load program tracepoint__syscalls__sys_enter_getppid: the verifier refused it: "
	for _, c := range []struct {
		name, source string
		verdict      *regexp.Regexp
	}{
		{
			name: "loop bound unknown",
			source: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u64 n = bpf_ktime_get_ns();
	u64 sum = 0;
	for (volatile u64 i = 0; i < n; i++)
		sum += i;
	bpf_trace_printk("sum %llu\n", sum);
	return 0;
}`,
			// Since Linux 5.2, whose limit is 1,000,000 instructions.
			verdict: regexp.MustCompile(`^BPF program is too large\. Processed 1000001 insn \(verification time \d+ usec, processed 1000001 insns, limit 1000000\)$`),
		},
		{
			name: "infinite loop",
			source: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	volatile int x = 0;
	while (1)
		x = 0;
	return 0;
}`,
			// "back-edge" before Linux 5.3 (no loops at all).
			verdict: regexp.MustCompile(`^(infinite loop detected at insn \d+|back-edge from insn \d+ to \d+) \(verification time \d+ usec, processed \d+ insns, limit \d+\)$`),
		},
		{
			name: "map value not checked for NULL",
			source: `BPF_HASH(h, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u32 k = 0;
	u64 *v = h.lookup(&k);
	bpf_trace_printk("%llu\n", *v);
	return 0;
}`,
			verdict: regexp.MustCompile(`^R0 invalid mem access 'map_value_or_null' \(verification time \d+ usec, processed \d+ insns, limit 1000000\)$`),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(Spec{
				Name:       "refused.c",
				Source:     c.source,
				Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
				AnyHeaders: true,
			})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Open: %v, want a LoadError", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) || !c.verdict.MatchString(msg[len(prefix):]) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q\nwant %q and a verdict matching %s", msg, prefix, c.verdict)
			}
			first, _, _ := strings.Cut(le.Verdict, " (")
			if !strings.Contains(le.Log, "\n"+first+"\n") || !endsWithStats(strings.Split(le.Log, "\nHINT: ")[0]) {
				t.Errorf("LoadError.Log is not the verifier's log:\n%s", le.LogTail(20))
			}
		})
	}
}
