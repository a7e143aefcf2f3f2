//go:build ignore
//
// The benchmark probe: one 32-byte event per getpgid(4242421) call (the
// load generator's marker), through a perf buffer, a ring buffer of
// RB_PAGES pages (-D BENCH_RINGBUF), or a trace_pipe line.
// The same text is given to evtrace and to bcc's Python.

struct bench_event {
	u64 ts;
	u32 pid;
	u32 tid;
	char comm[16];
};
#ifdef BENCH_RINGBUF
BPF_RINGBUF_OUTPUT(bench_events, RB_PAGES);
#else
BPF_PERF_OUTPUT(bench_events);
#endif

TRACEPOINT_PROBE(syscalls, sys_enter_getpgid)
{
	if (args->pid != 4242421)
		return 0;
#ifdef BENCH_PRINTK
	bpf_trace_printk("bench %d\n", args->pid);
#else
	struct bench_event e = {};
	u64 id = bpf_get_current_pid_tgid();
	e.ts = bpf_ktime_get_ns();
	e.pid = id >> 32;
	e.tid = (u32)id;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
#ifdef BENCH_RINGBUF
	bench_events.ringbuf_output(&e, sizeof(e), 0);
#else
	bench_events.perf_submit(args, &e, sizeof(e));
#endif
#endif
	return 0;
}
