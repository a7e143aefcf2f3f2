package testenv

// VerifierLogTails are ends of real verifier logs, with the verdict
// backend.VerifierVerdict finds in each. The 6.18 ones are this project's host,
// loading the programs of TestLoadRefusedByVerifier at log level 1|4 (and 4
// alone); the 6.1 ones are in that kernel's format (insn and state on one
// line, "_w" marks, source lines without "@ file:line", no states after
// "infinite loop detected", and level 1 alone, as gobpf/elf and libbcc ask
// for it: no verification time); 5.x as an issue reported it.
var VerifierLogTails = []struct {
	Name, Log, Verdict string
}{
	{
		Name: "6.18 complexity limit, level 1|4",
		Log: `; for (volatile u64 i = 0; i < n; i++) @ main.c:21
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
		Verdict: "BPF program is too large. Processed 1000001 insn (verification time 941756 usec, processed 1000001 insns, limit 1000000)",
	},
	{
		Name: "6.18 complexity limit, level 4",
		Log: `BPF program is too large. Processed 1000001 insn
verification time 200469 usec
stack depth 16
processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0
`,
		Verdict: "BPF program is too large. Processed 1000001 insn (verification time 200469 usec, processed 1000001 insns, limit 1000000)",
	},
	{
		Name: "6.18 infinite loop, states after the message",
		Log: `2: (63) *(u32 *)(r10 -4) = r1         ; R1=0 R10=fp0 fp-8=0000????
3: (05) goto pc-2
infinite loop detected at insn 2
cur state: R1=0 R10=fp0 fp-8=0000????
old state: R1=P0 R10=fp0 fp-8=0000????
verification time 67 usec
stack depth 8
processed 11 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0
`,
		Verdict: "infinite loop detected at insn 2 (verification time 67 usec, processed 11 insns, limit 1000000)",
	},
	{
		Name: "6.18 map value not checked for NULL",
		Log: `; ({ char _fmt[] = "%llu\n"; bpf_trace_printk_(_fmt, sizeof(_fmt), *v); }); @ main.c:22
8: (6b) *(u16 *)(r10 -8) = r1         ; R1=10 R10=fp0 fp-8=0000??10
9: (b7) r1 = 1970039845               ; R1=0x756c6c25
10: (63) *(u32 *)(r10 -12) = r1       ; R1=0x756c6c25 R10=fp0 fp-16=mmmm????
11: (79) r3 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
verification time 103 usec
stack depth 16
processed 11 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
`,
		Verdict: "R0 invalid mem access 'map_value_or_null' (verification time 103 usec, processed 11 insns, limit 1000000)",
	},
	{
		Name: "6.1 complexity limit, level 1",
		Log: `; for (volatile u64 i = 0; i < n; i++)
7: (79) r2 = *(u64 *)(r10 -16)        ; R2_w=scalar() R10=fp0 fp-16=mmmmmmmm
8: (07) r2 += 1                       ; R2_w=scalar()
9: (7b) *(u64 *)(r10 -16) = r2        ; R2_w=scalar() R10=fp0 fp-16_w=mmmmmmmm
; sum += i;
10: (0f) r3 += r1
BPF program is too large. Processed 1000001 insn
processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10012 peak_states 10012 mark_read 3
`,
		Verdict: "BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)",
	},
	{
		Name: "6.1 infinite loop",
		Log: `3: (16) if w1 == 0x0 goto pc+1        ; R1_w=scalar(umax=4294967295,var_off=(0x0; 0xffffffff))
4: (05) goto pc-1
4: (05) goto pc-1
4: (05) goto pc-1
infinite loop detected at insn 4
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1
`,
		Verdict: "infinite loop detected at insn 4 (processed 7 insns, limit 1000000)",
	},
	{
		Name: "5.x complexity limit, only the end",
		Log: `BPF program is too large. Processed 1000001 insn
processed 1000001 insns (limit 1000000) max_states_per_insn 63 total_states 13181 peak_states 2810 mark_read 5`,
		Verdict: "BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)",
	},
	{
		Name: "a message of two lines",
		Log: `12: (61) r0 = *(u32 *)(r0 +8)
invalid access to map value, value_size=8 off=8 size=4
R0 min value is outside of the allowed memory range
processed 13 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1`,
		Verdict: "invalid access to map value, value_size=8 off=8 size=4; R0 min value is outside of the allowed memory range (processed 13 insns, limit 1000000)",
	},
	{
		Name:    "before bounded loops (4.x), no statistics",
		Log:     "back-edge from insn 7 to 3\n",
		Verdict: "back-edge from insn 7 to 3",
	},
	{
		Name: "the start of a log that did not fit (before 6.4)",
		Log: `0: R1=ctx(off=0,imm=0) R10=fp0
; u64 n = bpf_ktime_get_ns();
0: (85) call bpf_ktime_get_ns#5       ; R0_w=scalar()
1: (b7) r3 = 0                        ; R3_w=0
2: (7b) *(u64 *)(r10 -16) = r3        ; R3_w=0 R10=fp0 fp-16_w=00000`,
		Verdict: "",
	},
	{Name: "empty", Log: "", Verdict: ""},
}
