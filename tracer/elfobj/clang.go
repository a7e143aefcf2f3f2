package elfobj

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/trust"
)

// The ELF backend's compiler: clang parses the probe against the kernel's
// headers for the host architecture (x86 headers hold inline assembly that
// the BPF target rejects) and emits LLVM IR, which llc turns into a BPF
// object; libbcc does the same in-process. The object is what gobpf/elf
// loads, and what the cache keeps.

// ErrNoClang means the ELF backend cannot compile: clang or llc is missing.
var ErrNoClang = errors.New("the ELF backend compiles with clang and llc, which are not installed (apt-get install clang llvm)")

type clangTools struct {
	clang, llc string
}

func findClang() (clangTools, error) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return clangTools{}, ErrNoClang
	}
	llc, err := exec.LookPath("llc")
	if err != nil {
		return clangTools{}, ErrNoClang
	}
	return clangTools{clang: clang, llc: llc}, nil
}

// identity names the compiler build without running it: the resolved
// binaries with their sizes and modification times.
func (t clangTools) identity() string {
	var parts []string
	for _, p := range []string{t.clang, t.llc} {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		desc := real
		if fi, err := os.Stat(real); err == nil {
			desc = fmt.Sprintf("%s %d %d", real, fi.Size(), fi.ModTime().UnixNano())
		}
		parts = append(parts, desc)
	}
	return strings.Join(parts, "; ")
}

// kernelIdentity is the running kernel's release and build string.
func kernelIdentity() string {
	b, _ := os.ReadFile("/proc/version")
	return strings.TrimSpace(string(b))
}

// elfCFlags are the compiler flags for a probe, without the include paths.
func elfCFlags(extra []string) []string {
	flags := []string{
		"-O2", "-g0", "-nostdinc",
		"-D__KERNEL__", "-D__BPF_TRACING__", "-D__TARGET_ARCH_x86",
		"-DKBUILD_MODNAME=\"evtrace\"",
		"-fno-stack-protector", "-fno-asynchronous-unwind-tables",
		"-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types",
		"-Wno-gnu-variable-sized-type-not-at-end", "-Wno-address-of-packed-member",
		"-Wno-tautological-compare", "-Wno-unknown-warning-option",
	}
	return append(flags, extra...)
}

// runClang compiles text into a BPF object against the headers in roots,
// with its files in dir: a private directory (the cache's compile area).
func runClang(ctx context.Context, tools clangTools, dir, name, text string, cflags []string, roots []string) ([]byte, time.Duration, error) {
	start := time.Now()
	src := filepath.Join(dir, strings.TrimSuffix(filepath.Base(name), ".c")+".c")
	if err := os.WriteFile(src, []byte(text), 0o600); err != nil {
		return nil, 0, fmt.Errorf("compile %s: %w", name, err)
	}
	resource, err := runTool(ctx, tools.clang, "-print-resource-dir")
	if err != nil {
		return nil, 0, fmt.Errorf("compile %s: clang -print-resource-dir: %w", name, err)
	}
	args := elfCFlags(cflags)
	args = append(args, "-isystem", filepath.Join(strings.TrimSpace(string(resource)), "include"))
	for _, r := range roots {
		for _, inc := range []string{"arch/x86/include", "arch/x86/include/generated", "include",
			"arch/x86/include/uapi", "arch/x86/include/generated/uapi", "include/uapi", "include/generated/uapi"} {
			args = append(args, "-I", filepath.Join(r, inc))
		}
	}
	kconfig := ""
	for _, r := range roots {
		if p := filepath.Join(r, "include/linux/kconfig.h"); fileExists(p) {
			kconfig = p
			break
		}
	}
	if kconfig == "" {
		return nil, 0, fmt.Errorf("compile %s: %w: no include/linux/kconfig.h in %s", name, headers.ErrNoHeaders, strings.Join(roots, ", "))
	}
	bc := filepath.Join(dir, "probe.bc")
	obj := filepath.Join(dir, "probe.o")
	args = append(args, "-include", kconfig, "-emit-llvm", "-c", src, "-o", bc)
	if out, err := runToolCombined(ctx, tools.clang, args...); err != nil {
		return nil, 0, &backend.CompileError{Name: name, Log: strings.TrimSpace(strings.ReplaceAll(string(out), src, name))}
	}
	if out, err := runToolCombined(ctx, tools.llc, "-march=bpf", "-filetype=obj", bc, "-o", obj); err != nil {
		return nil, 0, &backend.CompileError{Name: name, Log: "llc: " + strings.TrimSpace(string(out))}
	}
	b, err := trust.ReadFile(obj, maxObjectSize)
	if err != nil {
		return nil, 0, fmt.Errorf("compile %s: %w", name, err)
	}
	if err := checkBPFObject(b); err != nil {
		return nil, 0, fmt.Errorf("compile %s: llc wrote %w", name, err)
	}
	return b, time.Since(start), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// toolCommand prepares a compiler run that dies with evtrace: the kernel
// sends it SIGKILL when the thread that started it ends (Pdeathsig), so a
// killed evtrace leaves no clang behind.
func toolCommand(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runLocked runs cmd on a locked OS thread: Pdeathsig follows the thread
// that forked, and Go may end an unlocked thread while the child runs.
func runLocked(cmd *exec.Cmd, combined bool) ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if combined {
		return cmd.CombinedOutput()
	}
	return cmd.Output()
}

func runTool(ctx context.Context, path string, args ...string) ([]byte, error) {
	return runLocked(toolCommand(ctx, path, args...), false)
}

func runToolCombined(ctx context.Context, path string, args ...string) ([]byte, error) {
	return runLocked(toolCommand(ctx, path, args...), true)
}
