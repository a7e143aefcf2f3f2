//go:build ignore
//
// (The line above keeps the Go tool from taking this file for cgo source.)
//
// Step 1 of "How to turn any syscall into an event": hello.
//
// listen(2) on an AF_INET or AF_INET6 stream socket ends in the kernel
// function inet_listen. A function named kprobe__inet_listen is attached to
// its entry by bcc's naming convention (evtrace run does the same); the
// same function could be attached by hand: --attach kprobe:inet_listen=NAME.
//
// bpf_trace_printk writes to the kernel's trace pipe
// (/sys/kernel/tracing/trace_pipe), which evtrace reads back. Handy for
// debugging; one reader for the whole machine, so not for production.

#include <net/inet_sock.h>

int kprobe__inet_listen(struct pt_regs *ctx, struct socket *sock, int backlog)
{
	bpf_trace_printk("Hello World!\n");
	return 0;
}
