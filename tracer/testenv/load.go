package testenv

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ListenOnThread makes a TCP listener on 127.0.0.1 with the given backlog
// from a locked OS thread and returns that thread's id and the port.
func ListenOnThread(t testing.TB, backlog int) (tid int, port int) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return unix.Gettid(), sa.(*unix.SockaddrInet4).Port
}

// Generate makes n marked getpgid calls from one thread pinned to CPU 0
// (rings are per CPU: one ring takes the whole load), at rate calls per
// second, or as fast as it can when rate is 0.
func Generate(t testing.TB, n, rate int, call func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	start := time.Now()
	const batch = 1000
	for done := 0; done < n; {
		for i := 0; i < batch && done < n; i++ {
			call()
			done++
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(done) / float64(rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
	}
}

// CommOf is the task name of process pid.
func CommOf(t testing.TB, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// RequireELF is RequireBPF plus the ELF backend's compiler.
func RequireELF(t testing.TB) {
	t.Helper()
	RequireBPF(t)
	RequireClang(t)
}
