//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source;
// it is a plain comment to the C compiler.)
//
// listen.c: report every TCP listen() on the machine.
//
// This is the probe of the tutorial "How to turn any syscall into an event"
// (2016), grown up: a kprobe on inet_listen(struct socket *sock, int backlog),
// the kernel function behind listen(2) on AF_INET and AF_INET6 stream sockets.
//
// evtrace compiles this text at run time with libbcc. It prepends a block of
// #define lines that select the output path and the filters:
//
//   EVTRACE_MODE_PERF    one struct listen_event per call, through a perf
//                        buffer (BPF_PERF_OUTPUT); the production path.
//   EVTRACE_MODE_DEBUG   one bpf_trace_printk line per call, read back from
//                        trace_pipe; the tutorial's first path. printk takes
//                        at most three arguments, so it prints what fits.
//   FILTER_PID  N        only calls made by process N (its TGID).
//   FILTER_NETNS N       only sockets of the network namespace with inode N.
//
// Every kernel memory read is an explicit bpf_probe_read_kernel, as the
// tutorial found it needs, so that the source does not depend on bcc's
// automatic rewriting of pointer dereferences.

#include <uapi/linux/ptrace.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <bcc/proto.h>

#if !defined(EVTRACE_MODE_PERF) && !defined(EVTRACE_MODE_DEBUG)
#error "define EVTRACE_MODE_PERF or EVTRACE_MODE_DEBUG"
#endif

// struct listen_event is decoded by tracer/listen.go: keep them in step.
// Fields are ordered so that the layout has no hidden padding (64 bytes).
struct listen_event {
	u64 ts_ns;     // bpf_ktime_get_ns(): CLOCK_MONOTONIC
	u32 pid;       // process id (TGID)
	u32 tid;       // thread id
	u32 netns;     // inode of the socket's network namespace
	s32 backlog;   // as passed to listen(2)
	u16 family;    // AF_INET or AF_INET6
	u16 lport;     // local port, host byte order
	u8 laddr[16];  // local address: 4 bytes for IPv4, 16 for IPv6
	char comm[TASK_COMM_LEN];
	s32 ret;       // reserved for probes that see the return value
};

#ifdef EVTRACE_MODE_PERF
BPF_PERF_OUTPUT(listen_events);
#endif

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 pid = pid_tgid >> 32;

#ifdef FILTER_PID
	if (pid != FILTER_PID)
		return 0;
#endif

	struct sock *sk = NULL;
	bpf_probe_read_kernel(&sk, sizeof(sk), &sock->sk);
	if (sk == NULL)
		return 0;

	u32 netns = 0;
#ifdef CONFIG_NET_NS
	struct net *net = NULL;
	bpf_probe_read_kernel(&net, sizeof(net), &sk->__sk_common.skc_net.net);
	bpf_probe_read_kernel(&netns, sizeof(netns), &net->ns.inum);
#endif
#ifdef FILTER_NETNS
	if (netns != FILTER_NETNS)
		return 0;
#endif

	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), &sk->__sk_common.skc_family);

	// inet_sock starts with struct sock: the cast is what inet_sk() does.
	struct inet_sock *inet = (struct inet_sock *)sk;
	u16 sport = 0;
	bpf_probe_read_kernel(&sport, sizeof(sport), &inet->inet_sport);

#ifdef EVTRACE_MODE_PERF
	struct listen_event ev = {};
	ev.ts_ns = bpf_ktime_get_ns();
	ev.pid = pid;
	ev.tid = (u32)pid_tgid;
	ev.netns = netns;
	ev.backlog = backlog;
	ev.family = family;
	ev.lport = ntohs(sport);
	if (family == AF_INET) {
		bpf_probe_read_kernel(ev.laddr, 4, &inet->inet_rcv_saddr);
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(ev.laddr, 16,
				      &sk->__sk_common.skc_v6_rcv_saddr);
	}
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	listen_events.perf_submit(ctx, &ev, sizeof(ev));
#else
	// Three arguments at most: the address fits for IPv4 only.
	if (family == AF_INET) {
		u32 laddr = 0;
		bpf_probe_read_kernel(&laddr, sizeof(laddr), &inet->inet_rcv_saddr);
		bpf_trace_printk("listen4 addr=%x port=%d backlog=%d\n",
				 ntohl(laddr), ntohs(sport), backlog);
	} else {
		bpf_trace_printk("listen%d port=%d backlog=%d\n",
				 family == AF_INET6 ? 6 : family, ntohs(sport), backlog);
	}
#endif
	return 0;
}
