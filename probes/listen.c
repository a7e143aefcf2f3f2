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
// It is written in evtrace's probe dialect (evtrace.h, README.md here), so
// that it compiles both with libbcc at run time (the bcc backend) and with
// clang ahead of time (the ELF backend). evtrace prepends a block of
// #define lines that select the output path and the filters:
//
//   EVTRACE_MODE_PERF    one struct listen_event per call, through a perf
//                        buffer (BPF_PERF_OUTPUT); the production path.
//   EVTRACE_MODE_DEBUG   one bpf_trace_printk line per call, read back from
//                        trace_pipe; the tutorial's first path. printk takes
//                        at most three arguments, so it prints what fits.
//   EVTRACE_TOKEN "..."  debug mode: starts every line, so that evtrace
//                        tells its own lines from other programs' (a new
//                        random token for each run).
//   FILTER_PID  N        only calls made by process N (its TGID).
//   FILTER_NETNS N       only sockets of the network namespace with inode N.
//   EVTRACE_TRACK_CLOSE  also report, as kind LISTEN_EVENT_CLOSE, every TCP
//                        socket that stops listening (close, exit,
//                        shutdown): sock:inet_sock_set_state from
//                        TCP_LISTEN, attached whatever the strategy (evtrace
//                        listeners). FILTER_PID does not apply to them.
//
// and how the probe attaches (one of):
//
//   EVTRACE_ATTACH_KPROBE      the tutorial's way: the entry of inet_listen.
//                              A socket that was never bound gets its port
//                              inside inet_listen, so the entry sees port 0.
//   EVTRACE_ATTACH_KRETPROBE   entry and return of inet_listen: the return
//                              sees the port actually bound and the result.
//   EVTRACE_ATTACH_FENTRY      a BPF trampoline (fexit) on inet_listen, which
//                              sees the arguments and the result at return;
//                              needs BTF and a kernel that allows it.
//   EVTRACE_ATTACH_TRACEPOINT  no kprobes at all: syscalls:sys_enter_listen
//                              (backlog), sock:inet_sock_set_state (family,
//                              address; it fires before an automatic port is
//                              chosen) and syscalls:sys_exit_listen (result,
//                              and the port, read from the socket by then).
//                              A listen() that changes no state (a second
//                              one, or one refused) is found through the
//                              task's descriptor table instead.
//
// With EVTRACE_OFFSETS_BTF, the byte offsets of the kernel members read
// (OFF_*) come from the running kernel's BTF instead of the headers that bcc
// compiles against, which may belong to another kernel.
//
// Every kernel memory read is an explicit bpf_probe_read_kernel, as the
// tutorial found it needs, so that the source does not depend on bcc's
// automatic rewriting of pointer dereferences.

#include <uapi/linux/ptrace.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>

#if !defined(EVTRACE_MODE_PERF) && !defined(EVTRACE_MODE_DEBUG)
#error "define EVTRACE_MODE_PERF or EVTRACE_MODE_DEBUG"
#endif
#if defined(EVTRACE_MODE_DEBUG) && !defined(EVTRACE_TOKEN)
#error "debug mode needs EVTRACE_TOKEN"
#endif
#if !defined(EVTRACE_ATTACH_KPROBE) && !defined(EVTRACE_ATTACH_KRETPROBE) && \
	!defined(EVTRACE_ATTACH_TRACEPOINT) && !defined(EVTRACE_ATTACH_FENTRY)
#error "define EVTRACE_ATTACH_KPROBE, _KRETPROBE, _TRACEPOINT or _FENTRY"
#endif

// READ_MEMBER copies ptr->member into dst: at the BTF offset when there is
// one, else where the headers put it.
#ifdef EVTRACE_OFFSETS_BTF
#define READ_MEMBER(dst, ptr, type, member, off) \
	bpf_probe_read_kernel(&(dst), sizeof(dst), (const char *)(ptr) + (off))
#else
#define READ_MEMBER(dst, ptr, type, member, off) \
	bpf_probe_read_kernel(&(dst), sizeof(dst), &((type *)(ptr))->member)
#endif

#if defined(EVTRACE_OFFSETS_BTF) ? defined(OFF_SOCK_NET) && defined(OFF_NET_INUM) : defined(CONFIG_NET_NS)
#define EVTRACE_HAVE_NETNS 1
#endif
#if defined(EVTRACE_OFFSETS_BTF) ? defined(OFF_SOCK_V6_RCV_SADDR) : IS_ENABLED(CONFIG_IPV6)
#define EVTRACE_HAVE_IPV6 1
#endif
#ifdef EVTRACE_ATTACH_TRACEPOINT
#ifdef EVTRACE_OFFSETS_BTF
#if defined(OFF_TASK_FILES) && defined(OFF_FILES_FDT) && defined(OFF_FDTABLE_MAX_FDS) && \
	defined(OFF_FDTABLE_FD) && defined(OFF_FILE_PRIVATE_DATA) && defined(OFF_SOCKET_FILE) && \
	defined(OFF_SOCKET_TYPE) && defined(OFF_SOCK_PROTOCOL)
#define EVTRACE_HAVE_FD_LOOKUP 1
#endif
#else // the structs of the descriptor-table walk, from the headers
#include <linux/version.h>
#include <linux/sched.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0) // sk_protocol: no longer a bitfield
#define EVTRACE_HAVE_FD_LOOKUP 1
#endif
#endif
#endif

#define EVTRACE_AF_INET 2
#define EVTRACE_AF_INET6 10
#define EVTRACE_TCP_LISTEN 10
#define EVTRACE_IPPROTO_TCP 6
#define EVTRACE_SOCK_STREAM 1
#define EVTRACE_EINVAL 22

#define LISTEN_EVENT_LISTEN 0
#define LISTEN_EVENT_CLOSE 1

// struct listen_event is decoded by tracer/listen (event.go, eventLayout):
// the asserts below pin its layout, and a Go test checks them against
// eventLayout, so neither side can drift alone.
// Fields are ordered so that the layout has no hidden padding (80 bytes).
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
	s32 ret;       // inet_listen's result (kretprobe, tracepoint)
	u64 ino;       // inode of the socket, as /proc/PID/fd and sock_diag show it (0: unknown)
	u32 kind;      // LISTEN_EVENT_LISTEN, or LISTEN_EVENT_CLOSE (EVTRACE_TRACK_CLOSE)
	u32 max_backlog; // sk_max_ack_backlog once set (BTF offsets, strategies that see the return); 0: unknown
};
_Static_assert(__builtin_offsetof(struct listen_event, ts_ns) == 0, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, pid) == 8, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, tid) == 12, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, netns) == 16, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, backlog) == 20, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, family) == 24, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, lport) == 26, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, laddr) == 28, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, comm) == 44, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, ret) == 60, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, ino) == 64, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, kind) == 72, "listen_event layout");
_Static_assert(__builtin_offsetof(struct listen_event, max_backlog) == 76, "listen_event layout");
_Static_assert(sizeof(struct listen_event) == 80, "listen_event layout");

#ifdef EVTRACE_MODE_PERF
EVTRACE_PERF_OUTPUT(listen_events);

static __always_inline void submit_event(void *ctx, struct listen_event *ev)
{
#ifdef EVTRACE_ELF
	bpf_perf_event_output(ctx, &listen_events, BPF_F_CURRENT_CPU, ev, sizeof(*ev));
#else
	listen_events.perf_submit(ctx, ev, sizeof(*ev));
#endif
}
#endif

#if defined(EVTRACE_ATTACH_KRETPROBE) || defined(EVTRACE_ATTACH_TRACEPOINT)
// What the entry saw, for the exit to complete, keyed by thread id.
struct listen_start {
	u64 sk;        // struct sock *, once known
	s32 backlog;
	u16 family;    // from the tracepoint
	u16 sport;     // from the tracepoint, host byte order (0 if not bound yet)
	u8 laddr[16];  // from the tracepoint
	s32 fd;        // listen()'s descriptor (tracepoint strategy)
};
EVTRACE_HASH(listen_starts, u32, struct listen_start, 10240);

// The map's accessors, in both spellings (evtrace.h says why).
static __always_inline struct listen_start *starts_lookup(u32 tid)
{
#ifdef EVTRACE_ELF
	return bpf_map_lookup_elem(&listen_starts, &tid);
#else
	return listen_starts.lookup(&tid);
#endif
}

static __always_inline void starts_update(u32 tid, struct listen_start *st)
{
#ifdef EVTRACE_ELF
	bpf_map_update_elem(&listen_starts, &tid, st, BPF_ANY);
#else
	listen_starts.update(&tid, st);
#endif
}

static __always_inline void starts_delete(u32 tid)
{
#ifdef EVTRACE_ELF
	bpf_map_delete_elem(&listen_starts, &tid);
#else
	listen_starts.delete(&tid);
#endif
}
#endif

static __always_inline u32 sock_netns(void *sk)
{
	u32 netns = 0;
#ifdef EVTRACE_HAVE_NETNS
	void *net = NULL;
	READ_MEMBER(net, sk, struct sock, __sk_common.skc_net.net, OFF_SOCK_NET);
	if (net)
		READ_MEMBER(netns, net, struct net, ns.inum, OFF_NET_INUM);
#endif
	return netns;
}

// sock_ino is the inode number of the socket that owns sk (sock_i_ino):
// struct socket is the first member of struct socket_alloc, whose
// vfs_inode follows it. 0 for a socket without a file (a kernel socket).
static __always_inline u64 sock_ino(void *sk)
{
	void *sock = NULL;
	unsigned long ino = 0;
#if defined(EVTRACE_OFFSETS_BTF) ? defined(OFF_SOCK_SOCKET) && defined(OFF_SOCKET_INO) : 1
	READ_MEMBER(sock, sk, struct sock, sk_socket, OFF_SOCK_SOCKET);
	if (sock)
		READ_MEMBER(ino, sock, struct socket_alloc, vfs_inode.i_ino, OFF_SOCKET_INO);
#endif
	return ino;
}

// fill_from_sock completes ev from the socket: family, port, address,
// inode, and the backlog the kernel keeps.
static __always_inline void fill_from_sock(struct listen_event *ev, void *sk)
{
	ev->ino = sock_ino(sk);
#if defined(EVTRACE_OFFSETS_BTF) && defined(OFF_SOCK_MAX_ACK_BACKLOG)
	READ_MEMBER(ev->max_backlog, sk, struct sock, sk_max_ack_backlog, OFF_SOCK_MAX_ACK_BACKLOG);
#endif

	u16 family = 0, sport = 0;
	READ_MEMBER(family, sk, struct sock, __sk_common.skc_family, OFF_SOCK_FAMILY);
	// inet_sock starts with struct sock: the cast is what inet_sk() does.
	READ_MEMBER(sport, sk, struct inet_sock, inet_sport, OFF_INET_SPORT);
	ev->family = family;
	ev->lport = ntohs(sport);
	if (family == EVTRACE_AF_INET) {
		u32 a = 0;
		READ_MEMBER(a, sk, struct sock, __sk_common.skc_rcv_saddr, OFF_SOCK_RCV_SADDR);
		__builtin_memcpy(ev->laddr, &a, 4);
	}
#ifdef EVTRACE_HAVE_IPV6
	else if (family == EVTRACE_AF_INET6) {
		READ_MEMBER(ev->laddr, sk, struct sock, __sk_common.skc_v6_rcv_saddr, OFF_SOCK_V6_RCV_SADDR);
	}
#endif
}

// emit sends a completed event: a perf record, or a trace_pipe line.
static __always_inline int emit(void *ctx, struct listen_event *ev)
{
#ifdef FILTER_NETNS
	if (ev->netns != FILTER_NETNS)
		return 0;
#endif
#ifdef EVTRACE_MODE_PERF
	ev->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	submit_event(ctx, ev);
#else
	// Three arguments at most: the address fits for IPv4 only.
	if (ev->family == EVTRACE_AF_INET) {
		u32 a = 0;
		__builtin_memcpy(&a, ev->laddr, 4);
		bpf_trace_printk(EVTRACE_TOKEN " listen4 addr=%x port=%d backlog=%d\n",
				 ntohl(a), ev->lport, ev->backlog);
	} else {
		bpf_trace_printk(EVTRACE_TOKEN " listen%d port=%d backlog=%d\n",
				 ev->family == EVTRACE_AF_INET6 ? 6 : ev->family,
				 ev->lport, ev->backlog);
	}
#endif
	return 0;
}

// start_event fills the process fields; it returns 0 for a process that
// FILTER_PID excludes.
static __always_inline int start_event(struct listen_event *ev)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	ev->pid = pid_tgid >> 32;
	ev->tid = (u32)pid_tgid;
#ifdef FILTER_PID
	if (ev->pid != FILTER_PID)
		return 0;
#endif
	return 1;
}

// report_socket completes ev from a struct socket that went to inet_listen
// and sends it: for the strategies that see the socket and backlog
// directly, and the tracepoint strategy's descriptor-table path.
static __always_inline int report_socket(void *ctx, struct listen_event *ev,
					 void *sock, int backlog)
{
	void *sk = NULL;
	READ_MEMBER(sk, sock, struct socket, sk, OFF_SOCKET_SK);
	if (sk == NULL)
		return 0;
	ev->backlog = backlog;
	ev->netns = sock_netns(sk);
	fill_from_sock(ev, sk);
	return emit(ctx, ev);
}

#ifdef EVTRACE_TRACK_CLOSE
// report_close sends a LISTEN_EVENT_CLOSE for a TCP socket leaving
// TCP_LISTEN (to TCP_CLOSE: close, exit, shutdown(SHUT_RD), tcp_abort).
// The socket is still attached to its file here (sock_orphan comes later).
static __always_inline int report_close(void *ctx, void *sk, u16 family, u16 sport,
					 const u8 *saddr, const u8 *saddr_v6)
{
	struct listen_event ev = {};
	u64 pid_tgid = bpf_get_current_pid_tgid();
	ev.pid = pid_tgid >> 32;
	ev.tid = (u32)pid_tgid;
	ev.kind = LISTEN_EVENT_CLOSE;
	ev.family = family;
	ev.lport = sport;
	if (family == EVTRACE_AF_INET)
		__builtin_memcpy(ev.laddr, saddr, 4);
	else
		__builtin_memcpy(ev.laddr, saddr_v6, 16);
	ev.netns = sock_netns(sk);
	ev.ino = sock_ino(sk);
	return emit(ctx, &ev);
}
#endif

#if defined(EVTRACE_TRACK_CLOSE) && !defined(EVTRACE_ATTACH_TRACEPOINT)
// The other strategies attach this tracepoint for the closes alone.
EVTRACE_TRACEPOINT(sock, inet_sock_set_state)
{
	if (args->oldstate != EVTRACE_TCP_LISTEN || args->protocol != EVTRACE_IPPROTO_TCP)
		return 0;
	return report_close(args, (void *)args->skaddr, args->family, args->sport,
			    args->saddr, args->saddr_v6);
}
#endif

#if defined(EVTRACE_ATTACH_KPROBE)

EVTRACE_KPROBE(inet_listen)
{
	void *sock = (void *)PT_REGS_PARM1(ctx);
	int backlog = (int)PT_REGS_PARM2(ctx);
	struct listen_event ev = {};
	if (!start_event(&ev))
		return 0;
	return report_socket(ctx, &ev, sock, backlog);
}

#elif defined(EVTRACE_ATTACH_KRETPROBE)

EVTRACE_KPROBE(inet_listen)
{
	void *sock = (void *)PT_REGS_PARM1(ctx);
	int backlog = (int)PT_REGS_PARM2(ctx);
	struct listen_event ev = {};
	if (!start_event(&ev))
		return 0;
	struct listen_start st = {};
	READ_MEMBER(st.sk, sock, struct socket, sk, OFF_SOCKET_SK);
	st.backlog = backlog;
	starts_update(ev.tid, &st);
	return 0;
}

EVTRACE_KRETPROBE(inet_listen)
{
	struct listen_event ev = {};
	start_event(&ev);
	struct listen_start *st = starts_lookup(ev.tid);
	if (st == NULL)
		return 0;
	void *sk = (void *)st->sk;
	ev.backlog = st->backlog;
	starts_delete(ev.tid);
	if (sk == NULL)
		return 0;
	ev.ret = PT_REGS_RC(ctx);
	ev.netns = sock_netns(sk);
	fill_from_sock(&ev, sk);
	return emit(ctx, &ev);
}

#elif defined(EVTRACE_ATTACH_FENTRY)

#ifdef EVTRACE_ELF
#error "fentry needs the bcc backend: gobpf/elf cannot load tracing programs"
#endif

KRETFUNC_PROBE(inet_listen, struct socket *sock, int backlog, int ret)
{
	struct listen_event ev = {};
	if (!start_event(&ev))
		return 0;
	ev.ret = ret;
	return report_socket(ctx, &ev, sock, backlog);
}

#else // EVTRACE_ATTACH_TRACEPOINT

EVTRACE_TRACEPOINT(syscalls, sys_enter_listen)
{
	struct listen_event ev = {};
	if (!start_event(&ev))
		return 0;
	struct listen_start st = {};
	st.backlog = args->backlog;
	st.fd = args->fd;
	starts_update(ev.tid, &st);
	return 0;
}

#ifdef EVTRACE_HAVE_FD_LOOKUP
// tcp_socket_of_fd returns the struct socket behind the current task's
// descriptor fd when it is a TCP stream socket (one whose listen() goes to
// inet_listen), else NULL.
static __always_inline void *tcp_socket_of_fd(int fd)
{
	void *task = (void *)bpf_get_current_task();
	void *files = NULL, *fdt = NULL, *fds = NULL, *file = NULL;
	void *sock = NULL, *back = NULL, *sk = NULL;
	unsigned int max_fds = 0;
	short type = 0;
	u16 protocol = 0;

	READ_MEMBER(files, task, struct task_struct, files, OFF_TASK_FILES);
	if (files == NULL)
		return NULL;
	READ_MEMBER(fdt, files, struct files_struct, fdt, OFF_FILES_FDT);
	if (fdt == NULL)
		return NULL;
	READ_MEMBER(max_fds, fdt, struct fdtable, max_fds, OFF_FDTABLE_MAX_FDS);
	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	READ_MEMBER(fds, fdt, struct fdtable, fd, OFF_FDTABLE_FD);
	if (fds == NULL)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), (void **)fds + fd);
	if (file == NULL)
		return NULL;
	// A socket file's private_data is its struct socket, whose file
	// points back: any other file fails this test.
	READ_MEMBER(sock, file, struct file, private_data, OFF_FILE_PRIVATE_DATA);
	if (sock == NULL)
		return NULL;
	READ_MEMBER(back, sock, struct socket, file, OFF_SOCKET_FILE);
	if (back != file)
		return NULL;
	READ_MEMBER(type, sock, struct socket, type, OFF_SOCKET_TYPE);
	READ_MEMBER(sk, sock, struct socket, sk, OFF_SOCKET_SK);
	if (type != EVTRACE_SOCK_STREAM || sk == NULL)
		return NULL;
	READ_MEMBER(protocol, sk, struct sock, sk_protocol, OFF_SOCK_PROTOCOL);
	return protocol == EVTRACE_IPPROTO_TCP ? sock : NULL;
}
#endif

// Fires inside inet_listen when the socket enters TCP_LISTEN, before a
// socket that was never bound gets its port: the port is read at exit.
EVTRACE_TRACEPOINT(sock, inet_sock_set_state)
{
#ifdef EVTRACE_TRACK_CLOSE
	if (args->oldstate == EVTRACE_TCP_LISTEN && args->protocol == EVTRACE_IPPROTO_TCP)
		return report_close(args, (void *)args->skaddr, args->family, args->sport,
				    args->saddr, args->saddr_v6);
#endif
	if (args->newstate != EVTRACE_TCP_LISTEN || args->protocol != EVTRACE_IPPROTO_TCP)
		return 0;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct listen_start *st = starts_lookup(tid);
	if (st == NULL)
		return 0;
	st->sk = (u64)args->skaddr;
	st->family = args->family;
	st->sport = args->sport;
	if (args->family == EVTRACE_AF_INET)
		__builtin_memcpy(st->laddr, args->saddr, 4);
	else
		__builtin_memcpy(st->laddr, args->saddr_v6, 16);
	return 0;
}

EVTRACE_TRACEPOINT(syscalls, sys_exit_listen)
{
	struct listen_event ev = {};
	start_event(&ev);
	struct listen_start *st = starts_lookup(ev.tid);
	if (st == NULL)
		return 0;
	struct listen_start s = *st;
	starts_delete(ev.tid);
	ev.backlog = s.backlog;
	ev.ret = args->ret;
	if (s.sk == 0) {
		// No state change: a socket already listening (listen() again
		// only changes the backlog), one inet_listen refused (-EINVAL),
		// or none of its business: no TCP socket, or a call stopped
		// before inet_listen (a bad descriptor, an LSM's denial), which
		// the kprobes never see either. The descriptor leads to the
		// socket.
#ifdef EVTRACE_HAVE_FD_LOOKUP
		if (ev.ret != 0 && ev.ret != -EVTRACE_EINVAL)
			return 0;
		void *sock = tcp_socket_of_fd(s.fd);
		if (sock == NULL)
			return 0;
		return report_socket(args, &ev, sock, s.backlog);
#else
		return 0;
#endif
	}
	ev.family = s.family;
	__builtin_memcpy(ev.laddr, s.laddr, 16);
	u16 sport = 0;
	READ_MEMBER(sport, (void *)s.sk, struct inet_sock, inet_sport, OFF_INET_SPORT);
	ev.lport = sport ? ntohs(sport) : s.sport;
	ev.netns = sock_netns((void *)s.sk);
	ev.ino = sock_ino((void *)s.sk);
#if defined(EVTRACE_OFFSETS_BTF) && defined(OFF_SOCK_MAX_ACK_BACKLOG)
	READ_MEMBER(ev.max_backlog, (void *)s.sk, struct sock, sk_max_ack_backlog, OFF_SOCK_MAX_ACK_BACKLOG);
#endif
	return emit(args, &ev);
}

#endif
