//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 2: the backlog.
//
// bcc passes the probed function's arguments to ours: backlog is
// listen()'s second argument, the number of pending connections that may
// wait for accept(). nc says 1; nginx or redis say 511 or more.

#include <net/inet_sock.h>

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	bpf_trace_printk("Listening with up to %d pending connections!\n", backlog);
	return 0;
}
