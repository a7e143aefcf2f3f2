//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 6: maps and statistics, where the tutorial points to go further.
//
// Steps 1 to 5 send one message per listen() to user space. For a
// question like "who calls listen(), and with which backlogs?", the kernel
// can keep the answer itself, in maps: key/value tables that the program
// updates and user space reads when it wants (here: at exit, and every
// interval with -i).
//
//   BPF_HASH(listens, struct key_t, u64)  a hash table: for each key (a
//       process: its PID and name), a count. Keys are whole structs,
//       compared byte by byte, so the key starts zeroed ({}): padding
//       holes with garbage would make the same process many keys.
//   BPF_HISTOGRAM(backlogs)  an array whose key is a slot: bpf_log2l(n)
//       is the power of two n falls in, so slot 7 counts backlogs 128 to
//       255. evtrace prints it as bcc's print_log2_hist does.
//   increment(key)  adds one to key's value, creating it at 0 the first
//       time: one atomic add in the kernel, no message.
//
// Why in the kernel: a server that listens a thousand times a second costs
// a thousand events (copies, wakeups, decoding, printing) when every call
// is sent, and two map updates each when it is counted; user space reads
// one small table when it asks. The same holds for every high-rate event
// (block I/O latency, scheduler run queues): bcc's biolatency and runqlat
// are this step with a timestamp.
//
//   sudo evtrace tutorial maps -i 5s --hist-label backlogs=backlog

#include <uapi/linux/ptrace.h>
#include <linux/sched.h>
#include <net/sock.h>

struct key_t {
	u32 pid;
	char comm[TASK_COMM_LEN];
};

BPF_HASH(listens, struct key_t, u64);
BPF_HISTOGRAM(backlogs);

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	struct key_t key = {};
	key.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	listens.increment(key);
	backlogs.increment(bpf_log2l(backlog));
	return 0;
}
