//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 5: production ready, with a perf buffer.
//
// A BPF_PERF_OUTPUT table carries a struct of any size to user space, to
// its own reader only (unlike the trace pipe), one ring per CPU. The
// tutorial then re-declared the struct in Python with ctypes; evtrace reads
// the members libbcc recorded when it compiled perf_submit (and bitfields
// and packing, which libbcc leaves out, from the definition below), and
// decodes and prints every field by itself. The fields are plain numbers, so the
// address prints in decimal: 2130706433 is 0x7f000001, 127.0.0.1 (evtrace
// listen prints addresses properly). netns stays 0 on a kernel built
// without CONFIG_NET_NS, which has a single network namespace.

#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <bcc/proto.h>

struct listen_evt_t {
	u64 laddr;
	u64 lport;
	u64 netns;
	u64 backlog;
};
BPF_PERF_OUTPUT(listen_evt);

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	struct sock *sk = NULL;
	bpf_probe_read(&sk, sizeof(sk), &sock->sk);
	struct inet_sock *inet = (struct inet_sock *)sk;

	u32 laddr = 0;
	u16 lport = 0;
	u32 netns = 0;
	bpf_probe_read(&laddr, sizeof(laddr), &inet->inet_rcv_saddr);
	bpf_probe_read(&lport, sizeof(lport), &inet->inet_sport);
#ifdef CONFIG_NET_NS
	struct net *net = NULL;
	bpf_probe_read(&net, sizeof(net), &sk->__sk_common.skc_net.net);
	bpf_probe_read(&netns, sizeof(netns), &net->ns.inum);
#endif

	struct listen_evt_t evt = {
		.laddr = ntohl(laddr),
		.lport = ntohs(lport),
		.netns = netns,
		.backlog = backlog,
	};
	listen_evt.perf_submit(ctx, &evt, sizeof(evt));
	return 0;
}
