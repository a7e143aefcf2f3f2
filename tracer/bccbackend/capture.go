package bccbackend

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// While standard error is captured: the memory file that receives it and
// the real standard error. Process-wide, like descriptor 2 itself.
static int evtrace_capture_fd = -1;
static int evtrace_saved_fd = -1;

static void evtrace_capture_atexit(void)
{
	static const char head[] = "evtrace: libbcc ended the process while compiling or loading the program; what it printed:\n";
	char buf[4096];
	ssize_t n;
	off_t off = 0;

	if (evtrace_capture_fd < 0 || evtrace_saved_fd < 0)
		return;
	dup2(evtrace_saved_fd, 2);
	if (write(2, head, sizeof(head) - 1) < 0)
		return;
	while ((n = pread(evtrace_capture_fd, buf, sizeof(buf), off)) > 0) {
		if (write(2, buf, n) < 0)
			return;
		off += n;
	}
}

// LLVM's fatal errors (report_fatal_error: a BPF backend check such as
// "Invalid usage of the XADD return value") print "LLVM ERROR: ..." and
// abort(), which no exit handler sees: the Go runtime would print a
// traceback into the captured descriptor and the user would see nothing.
// With this handler installed the reason goes to the real standard error
// as one line, and the process exits with status 1 at once (nothing is
// attached while the program compiles).
static void evtrace_llvm_fatal(const char *reason)
{
	static const char head[] = "evtrace: compile: LLVM failed: ";
	int fd = evtrace_saved_fd >= 0 ? evtrace_saved_fd : 2;

	if (write(fd, head, sizeof(head) - 1) >= 0 && write(fd, reason, strlen(reason)) >= 0)
		(void)!write(fd, "\n", 1);
	_exit(1);
}

// evtrace_install_llvm_handler installs evtrace_llvm_fatal through LLVM's C
// API, found in the libLLVM that libbcc loaded (any version).
static void evtrace_install_llvm_handler(void)
{
	static int done;
	void (*install)(void (*)(const char *));

	if (done)
		return;
	done = 1;
	*(void **)&install = dlsym(RTLD_DEFAULT, "LLVMInstallFatalErrorHandler");
	if (install)
		install(evtrace_llvm_fatal);
}

static void evtrace_capture_begin(int capture_fd, int saved_fd)
{
	static int registered;

	if (!registered)
		registered = atexit(evtrace_capture_atexit) == 0;
	evtrace_install_llvm_handler();
	evtrace_capture_fd = capture_fd;
	evtrace_saved_fd = saved_fd;
}

static void evtrace_capture_end(void)
{
	evtrace_capture_fd = -1;
	evtrace_saved_fd = -1;
}
*/
import "C"

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// captureStderr runs fn with file descriptor 2 pointing into a memory
// file and returns what was written there. Not for concurrent use:
// descriptor 2 is the process's.
//
// libbcc's LLVM ends the process with exit(1) on some errors instead of
// returning one (a BPF call with more than five arguments, e.g.
// bpf_trace_printk with four values). An exit handler, armed while fn
// runs, then restores the real standard error and copies what the compiler
// said to it, so that the user sees the message and not a silent exit.
func captureStderr(fn func()) (string, error) {
	mfd, err := unix.MemfdCreate("evtrace-stderr", unix.MFD_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	defer unix.Close(mfd)
	saved, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	defer unix.Close(saved)
	if err := unix.Dup3(mfd, 2, 0); err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	C.evtrace_capture_begin(C.int(mfd), C.int(saved))
	fn()
	C.evtrace_capture_end()
	if err := unix.Dup3(saved, 2, 0); err != nil {
		return "", fmt.Errorf("restore stderr: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(mfd, &st); err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	out := make([]byte, st.Size)
	n, err := unix.Pread(mfd, out, 0)
	if err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	return string(out[:n]), nil
}

// captureStderrErr is captureStderr for functions that return an error.
func captureStderrErr(fn func() error) (string, error) {
	var ferr error
	log, cerr := captureStderr(func() { ferr = fn() })
	if ferr != nil {
		return log, ferr
	}
	return log, cerr
}
