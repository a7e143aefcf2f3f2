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

#include <net/sock.h>
#include <net/inet_sock.h>
#include <bcc/proto.h>

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	struct sock *sk = NULL;
	bpf_probe_read(&sk, sizeof(sk), &sock->sk);
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
