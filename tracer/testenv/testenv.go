// Package testenv decides, once for every package's tests, whether this
// machine can run a test: root, tracefs, kernel headers, BTF, clang. A test
// that cannot run here skips and says why; with CI=true it fails instead,
// so that CI never passes by skipping. It also holds the helpers several
// packages' tests share (directories that pass evtrace's ownership checks,
// acting as a second user).
package testenv

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/trust"
)

// Unavailable skips the test, or fails it in CI (CI=true), saying why.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("test cannot run in CI: %s", why)
	}
	t.Skip(why)
}

// RequireRoot needs an effective user id of 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root")
	}
}

// RequireBPF needs what loading a program through libbcc on tracepoints
// needs: root, the tracing file system and a kernel headers tree (the
// running kernel's, or any installed release's: the test programs read no
// kernel structs). Kprobes are not needed.
func RequireBPF(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if _, err := kernel.TraceFS(); err != nil {
		Unavailable(t, "needs tracefs: "+err.Error())
	}
	rel, _ := kernel.Release()
	if _, err := headers.Find(headers.Search{Env: os.Getenv("BCC_KERNEL_SOURCE"), Release: rel}); err != nil {
		if _, err := headers.OtherRelease("/lib/modules", rel, headers.DefaultCache); err != nil {
			Unavailable(t, "needs kernel headers (apt-get install linux-headers-amd64): "+err.Error())
		}
	}
}

// RequireBTF needs the running kernel's BTF.
func RequireBTF(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(kernel.BTF); err != nil {
		Unavailable(t, "needs the kernel's BTF: "+err.Error())
	}
}

// RequireClang needs clang and llc, with which the ELF backend compiles.
func RequireClang(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"clang", "llc"} {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(t, "needs clang and llc (apt-get install clang llvm): "+err.Error())
		}
	}
}

// TrustedTempDir returns a new directory that passes evtrace's ownership
// checks (t.TempDir is under /tmp, which any user can write, so it does
// not): under /run as root, else under $HOME.
func TrustedTempDir(t testing.TB) string {
	t.Helper()
	for _, base := range []string{"/run", os.Getenv("HOME")} {
		if base == "" || (base == "/run" && os.Geteuid() != 0) {
			continue
		}
		if _, err := (trust.Dir{Use: "test"}).Check(base); err != nil {
			continue
		}
		d, err := os.MkdirTemp(base, "evtrace-test-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	Unavailable(t, "no directory that passes the ownership checks (/run as root, or $HOME)")
	return ""
}

// NobodyUID is the unprivileged second user of the tests.
const NobodyUID = 65534

// RequireRootForUsers needs root, to act as user nobody.
func RequireRootForUsers(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root, to act as user nobody")
	}
}

// AsNobody runs a command as user nobody and fails the test if it fails.
func AsNobody(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: NobodyUID, Gid: NobodyUID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as nobody: %s %v: %v: %s", name, args, err, out)
	}
}
