//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 4: the network namespace, and the limit of bpf_trace_printk.
//
// A container is, network-wise, a network namespace; its inode number is
// what /proc/PID/ns/net shows (net:[4026531840]). The kernel knows it from
// the socket: sk->__sk_common.skc_net.net->ns.inum.
//
// The tutorial's next move fails: bpf_trace_printk takes a format and at
// most THREE arguments (the BPF helper has five parameters: format, its
// size, and three values). Address, port, backlog and namespace are four:
//
//   bpf_trace_printk("... %x %d %d %u\n", laddr, lport, backlog, netns);
//
// Try it: `evtrace tutorial netns -D FOUR_ARGS` compiles that call. clang
// warns "cannot use more than 3 conversion specifiers", then LLVM's BPF
// back end gives up with the tutorial's very message:
//
//   error: ... in function kprobe__inet_listen ...:
//   too many args to 0x...: i64 = Constant<6>
//
// (6: the helper call would need six registers; BPF has five for
// arguments.) So this step prints two lines per listen. The real fix is
// step 5. Without CONFIG_NET_NS the kernel has one namespace and the
// number stays 0.

#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <bcc/proto.h>

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

#ifdef FOUR_ARGS
	bpf_trace_printk("Listening on %x %d with %d pending connections in %u\n",
			 ntohl(laddr), ntohs(lport), backlog, netns);
#else
	bpf_trace_printk("Listening on %x %d with %d pending connections\n",
			 ntohl(laddr), ntohs(lport), backlog);
	bpf_trace_printk("... in network namespace %u\n", netns);
#endif
	return 0;
}
