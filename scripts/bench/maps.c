//go:build ignore
//
// The map benchmark's probe: each getpgid(4242421) call (the load
// generator's marker) adds one entry to a hash of struct {u32 pid; char
// comm[16];} -> u64, its key numbered by a counter, so that N calls make
// N entries (loadgen calls from one thread: the counter needs no atomic).
// The same text is given to evtrace and to bcc's Python.

struct bench_key {
	u32 pid;
	char comm[16];
};
BPF_HASH(big, struct bench_key, u64, 131072);
BPF_ARRAY(next_key, u32, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_getpgid)
{
	if (args->pid != 4242421)
		return 0;
	int zero = 0;
	u32 *n = next_key.lookup(&zero);
	if (!n)
		return 0;
	struct bench_key k = {};
	k.pid = *n;
	*n = k.pid + 1;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	u64 v = k.pid;
	big.update(&k, &v);
	return 0;
}
