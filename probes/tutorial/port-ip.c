//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 3: the port and the address.
//
// An IPv4 or IPv6 socket's struct sock is the first member of a larger
// struct inet_sock, so the pointer can be cast to it (what the kernel's
// inet_sk() does); inet_sock holds the bound address and port, in network
// byte order. Kernel memory must be read with
// bpf_probe_read (the tutorial's "R1 invalid mem access 'inv'" came from a
// plain dereference the verifier could not prove safe). Variables start at
// 0 to give them "life" on the BPF stack.
//
// The pitfall, on demand: `evtrace tutorial port-ip -D DIRECT_READ` loads
// a plain load of sock->sk instead. Today's bcc would hide it: its
// rewriter turns `sock->sk` into a bpf_probe_read by itself, because sock
// is an argument of the probed function, a pointer it knows is the
// kernel's. It does not follow a pointer through an integer, so that is
// how the plain load is written here. The verifier then says, as it did in
// 2016 ('inv' became 'scalar' in Linux 5.18):
//
//   R1 invalid mem access 'scalar'
//
// To the verifier, what a kprobe's registers hold is a number, not a
// pointer it may read through: a program that dereferenced any number
// could read (and, with the address wrong, fault on) any memory.
// bpf_probe_read copies through a checked path that returns an error
// instead of faulting.

#include <net/sock.h>
#include <net/inet_sock.h>
#include <bcc/proto.h>

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
#ifdef DIRECT_READ
	u64 addr = (u64)sock; // out of sight of bcc's rewriter
	struct sock *sk = *(struct sock **)(addr + offsetof(struct socket, sk));
#else
	struct sock *sk = NULL;
	bpf_probe_read(&sk, sizeof(sk), &sock->sk);
#endif
	struct inet_sock *inet = (struct inet_sock *)sk; // what inet_sk() does

	u32 laddr = 0;
	u16 lport = 0;
	bpf_probe_read(&laddr, sizeof(laddr), &inet->inet_rcv_saddr);
	bpf_probe_read(&lport, sizeof(lport), &inet->inet_sport);

	// The address in hex: pretty printing is for user space.
	bpf_trace_printk("Listening on %x %d with %d pending connections\n",
			 ntohl(laddr), ntohs(lport), backlog);
	return 0;
}
