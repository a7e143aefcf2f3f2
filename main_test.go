package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(append([]string{"evtrace"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"listen", "-p", "abc"}, `--pid "abc": want a process id`},
		{[]string{"listen", "--pid", "-3"}, `--pid "-3"`},
		{[]string{"listen", "-p", "0"}, `--pid "0"`},
		{[]string{"listen", "-p", "99999999999"}, `--pid "99999999999"`},
		{[]string{"listen", "-n", "net:[4026531840]"}, `--netns "net:[4026531840]": want a network namespace inode`},
		{[]string{"listen", "--mode", "fast"}, `unknown mode "fast" (want perf or debug)`},
		{[]string{"listen", "--attach", "uprobe"}, `unknown attach strategy "uprobe"`},
		{[]string{"listen", "--offsets", "dwarf"}, `unknown offsets source "dwarf" (want auto, btf or headers)`},
		{[]string{"listen", "-o", "xml"}, `unknown output format "xml" (want text or json)`},
		{[]string{"listen", "--perf-pages", "3"}, `--perf-pages 3: want a power of two`},
		{[]string{"listen", "--ebpf", "--attach", "kprobe", "--perf-pages", "4503599627370496"}, `--perf-pages 4503599627370496: want a power of two from 1 to`},
		{[]string{"tutorial", "hello", "--ebpf", "--perf-pages", "1073741824"}, `--perf-pages 1073741824: want a power of two from 1 to`},
		{[]string{"listen", "--perf-wakeup", "-1"}, `--perf-wakeup -1: want 0 (a quarter ring) or a number of records`},
		{[]string{"listen", "--backend", "llvm"}, `--backend: unknown backend "llvm" (want auto, bcc or elf)`},
		{[]string{"compile"}, `compile what?`},
		{[]string{"compile", "solisten"}, `unknown probe "solisten"`},
		{[]string{"compile", "listen", "--backend", "bcc"}, `--backend bcc compiles at every start`},
		{[]string{"compile", "listen", "--mode", "loud"}, `unknown mode`},
		{[]string{"cache"}, `cache what?`},
		{[]string{"cache", "purge"}, `unknown cache command "purge"`},
		{[]string{"listen", "--mode", "debug", "--show-netns"}, `--show-netns needs --mode perf`},
		{[]string{"listen", "--mode", "debug", "--backend", "elf"}, `--backend elf needs --mode perf: debug mode's lines carry a token made for each run`},
		{[]string{"compile", "listen", "--mode", "debug"}, `--mode debug compiles at every start`},
		{[]string{"listen", "extra"}, `listen takes no arguments`},
		{[]string{"listen", "--no-such-flag"}, `flag provided but not defined: -no-such-flag`},
		{[]string{"lisen"}, `unknown command "lisen"`},
		{[]string{"tutorial", "hello", "--ebpf", "--hist", "dist"}, `--hist dist: want NAME=VALUE, NAME a map's name`},
		{[]string{"tutorial", "hello", "--ebpf", "--hist", "dist=cubic"}, `--hist dist=cubic: unknown histogram mode "cubic" (want log2, linear or table)`},
		{[]string{"tutorial", "hello", "--ebpf", "--hist-label", "=usecs"}, `--hist-label =usecs: want NAME=VALUE`},
		{[]string{"tutorial", "hello", "--ebpf", "-i", "0"}, `-i 0: want at least 1ms`},
		{[]string{"tutorial", "hello", "--ebpf", "-i", "soon"}, `-i "soon": want a duration (500ms, 2s) or a number of seconds`},
		{[]string{"tutorial", "hello", "--ebpf", "--top", "-1"}, `--top -1: want a positive number`},
		{[]string{"tutorial", "hello", "--ebpf", "--maps", "a,,b"}, `--maps "a,,b": want map names separated by commas`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "evtrace: ") || !strings.Contains(last, tt.want) {
				t.Errorf("stderr %q, want a line with %q", stderr, tt.want)
			}
		})
	}
}

func TestEBPFPrintsFinalText(t *testing.T) {
	code, stdout, stderr := runCLI("listen", "--ebpf", "-p", "1234", "-n", "4026531840", "--mode", "debug")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"#define EVTRACE_MODE_DEBUG 1\n", "#define FILTER_PID 1234\n", "#define FILTER_NETNS 4026531840\n", "#define EVTRACE_ATTACH_"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--ebpf output lacks %q", want)
		}
	}
	_, plain, _ := runCLI("listen", "--ebpf")
	if strings.Contains(plain, "#define FILTER_PID") || !strings.Contains(plain, "#define EVTRACE_MODE_PERF 1") {
		t.Errorf("--ebpf without filters:\n%s", plain[:200])
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"listen", "--help"}} {
		code, stdout, _ := runCLI(args...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "sudo evtrace listen") {
			t.Errorf("%v: exit %d, output:\n%s", args, code, stdout)
		}
	}
}

// TestNoKprobes runs on kernels without kprobes (such as our CI host): asked
// for a kprobe, the error says so plainly, in one line.
func TestNoKprobes(t *testing.T) {
	testenv.RequireBPF(t)
	if kernel.KprobesSupported() {
		t.Skip("this kernel has kprobes")
	}
	code, _, stderr := runCLI("listen", "--attach", "kprobe")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "evtrace: --attach kprobe: this kernel has no kprobe support") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// evtraceBinary builds the real binary once per test run, into a directory
// that user nobody can enter; TestMain removes it.
func evtraceBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "evtrace-cli")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			built.err = err
			return
		}
		path := filepath.Join(dir, "evtrace")
		if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = path
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// runAs runs the real binary with args, as user nobody if asked.
func runAs(t *testing.T, nobody bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(evtraceBinary(t), args...)
	if nobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// TestNotRoot runs the real binary as user nobody.
func TestNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		code, _, stderr := runCLI("listen")
		if code != 1 || !strings.Contains(stderr, "must be run as root") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		return
	}
	code, _, stderr := runAs(t, true, "listen")
	if got := strings.TrimSpace(stderr); code != 1 || !strings.HasPrefix(got, "evtrace: must be run as root") || strings.Contains(got, "\n") {
		t.Errorf("exit %d, stderr %q", code, got)
	}
}

// TestEBPFWithoutRoot: --ebpf prints the program of a strategy asked for
// without root, whatever the kernel supports; auto needs to look at the
// kernel, and says so in one line when it cannot.
func TestEBPFWithoutRoot(t *testing.T) {
	nobody := os.Geteuid() == 0
	for _, attach := range []string{"kprobe", "kretprobe", "tracepoint"} {
		code, stdout, stderr := runAs(t, nobody, "listen", "--ebpf", "--attach", attach)
		if want := "#define EVTRACE_ATTACH_" + strings.ToUpper(attach) + " 1\n"; code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("--attach %s: exit %d, stderr %q; output has %q: %v", attach, code, stderr, want, strings.Contains(stdout, want))
		}
	}
	// What auto must choose follows from what this user can see: kprobes
	// (the kprobe PMU in sysfs, which anyone may read), else the listen
	// tracepoints, if the tracing file system lets the user look.
	_, pmuErr := os.Stat("/sys/bus/event_source/devices/kprobe")
	tracefsOpen := false
	if dir, err := kernel.TraceFS(); err == nil {
		if fi, err := os.Stat(dir); err == nil {
			tracefsOpen = fi.Mode().Perm()&0o005 == 0o005
		}
	}
	code, stdout, stderr := runAs(t, nobody, "listen", "--ebpf")
	switch {
	case pmuErr == nil:
		if want := "#define EVTRACE_ATTACH_KRETPROBE 1\n"; code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("auto with kprobes: exit %d, stderr %q; want %q", code, stderr, want)
		}
	case tracefsOpen:
		if want := "#define EVTRACE_ATTACH_TRACEPOINT 1\n"; code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("auto with tracepoints only: exit %d, stderr %q; want %q", code, stderr, want)
		}
	default:
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "choose with --attach") {
			t.Errorf("auto without kprobes, tracefs closed to this user: exit %d, stderr %q; want one line saying to choose with --attach", code, stderr)
		}
	}
}

// TestCompilerEndsProcess: libbcc's LLVM calls exit(1) on a BPF call with
// more than five arguments: bpf_trace_printk with four values, which the
// tutorial's step 4 shows with -D FOUR_ARGS. The user still sees why.
func TestCompilerEndsProcess(t *testing.T) {
	testenv.RequireBPF(t)
	code, _, stderr := runAs(t, false, "tutorial", "netns", "-D", "FOUR_ARGS")
	if code != 1 || !strings.HasPrefix(stderr, "evtrace: libbcc ended the process while compiling") ||
		!strings.Contains(stderr, "too many args") || !strings.Contains(stderr, "cannot use more than 3 conversion specifiers") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// Some of LLVM's BPF backend checks abort() the process (report_fatal_error),
// which no exit handler sees: using the value __sync_fetch_and_add returns,
// on the CPU version bcc compiles for. The user gets LLVM's reason as one
// line and exit status 1, not a silent exit or a Go traceback.
func TestLLVMFatalErrorIsOneLine(t *testing.T) {
	testenv.RequireBPF(t)
	probe := filepath.Join(t.TempDir(), "xadd.c")
	src := `BPF_ARRAY(n, u32, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
	int zero = 0;
	u32 *p = n.lookup(&zero);
	if (p)
		bpf_trace_printk("%u\n", __sync_fetch_and_add(p, 1));
	return 0;
}
`
	if err := os.WriteFile(probe, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runAs(t, false, "run", probe)
	// The line is libbcc's rewritten text's, not the file's.
	re := regexp.MustCompile(`^evtrace: compile: LLVM failed: line \d+: Invalid usage of the XADD return value\n$`)
	if code != 1 || stdout != "" || !re.MatchString(stderr) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line matching %s", code, stdout, stderr, re)
	}
}

// rootTempDir returns a new directory that only root can write, with
// parents only root can write (/run): a directory evtrace accepts as a
// cache. t.TempDir, under /tmp, is refused.
func rootTempDir(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("/run", "evtrace-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestCacheCommands(t *testing.T) {
	dir := rootTempDir(t)
	code, stdout, stderr := runCLI("cache", "ls", "--cache-dir", dir)
	if code != 0 || !strings.HasPrefix(stdout, "KEY") || !strings.Contains(stderr, "0 objects in "+dir) {
		t.Errorf("cache ls: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI("cache", "clear", "--cache-dir", dir)
	if code != 0 || !strings.Contains(stderr, "removed 0 objects from "+dir) {
		t.Errorf("cache clear: exit %d, stderr %q", code, stderr)
	}
}

// The operator's audit: user nobody plants an object in a cache directory
// it can write, before root's first run. Root's evtrace refuses the
// directory in one line (naming it and the fix) and loads nothing; cache
// ls and clear refuse it too and remove nothing.
func TestSharedCacheDirectoryRefused(t *testing.T) {
	testenv.RequireBPF(t)
	bin := evtraceBinary(t)
	for _, mode := range []string{"0777", "1777"} {
		t.Run(mode, func(t *testing.T) {
			base := rootTempDir(t)
			os.Chmod(base, 0o755)
			shared := filepath.Join(base, "shared")
			if out, err := exec.Command("install", "-d", "-m", mode, shared).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			// The key is a hash of public inputs: nobody can compute the
			// object root's next run will look for. Here root compiles it
			// into a private cache and nobody copies it into the shared one.
			private := rootTempDir(t)
			os.Chmod(private, 0o755)
			out, err := exec.Command(bin, "compile", "listen", "--cache-dir", private).Output()
			if err != nil {
				t.Fatalf("compile listen: %v", err)
			}
			obj := strings.TrimSpace(string(out))
			planted := filepath.Join(shared, filepath.Base(obj))
			meta := strings.TrimSuffix(obj, ".o") + ".json"
			os.Chmod(obj, 0o644)
			os.Chmod(meta, 0o644)
			nobody := exec.Command("cp", obj, meta, shared)
			nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			if out, err := nobody.CombinedOutput(); err != nil {
				t.Fatalf("as nobody: %v: %s", err, out)
			}
			for _, args := range [][]string{
				{"listen", "--cache-dir", shared},
				{"listen", "--backend", "elf", "--cache-dir", shared},
				{"cache", "ls", "--cache-dir", shared},
				{"cache", "clear", "--cache-dir", shared},
			} {
				// Bounded: an evtrace that took the planted object would
				// trace until stopped.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var exit *exec.ExitError
				msg := strings.TrimSpace(stderr.String())
				if !errors.As(err, &exit) || exit.ExitCode() != 1 || strings.Count(msg, "\n") != 0 ||
					!strings.Contains(msg, shared) || !strings.Contains(msg, "writable by group or others") ||
					!strings.Contains(msg, "chmod go-w") || strings.Contains(msg, "tracing") {
					t.Errorf("%v: %v, stderr %q; want exit 1 and one line refusing %s", args, err, msg, shared)
				}
			}
			if _, err := os.Stat(planted); err != nil {
				t.Errorf("the planted file was removed: %v", err)
			}
		})
	}
}

// TestWhileOpening: a signal during the compile is reported and hands the
// signals back (stop), and the run then ends once Open returns; without
// one, nothing is said.
func TestWhileOpening(t *testing.T) {
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	stopped := 0
	signalled := make(chan struct{})
	opened := whileOpening(ctx, func() { stopped++; close(signalled) }, output.NewStatus(&stderr))
	cancel() // the signal
	select {
	case <-signalled: // seen before Open returns
	case <-time.After(10 * time.Second):
		t.Fatal("the signal was not seen in 10s")
	}
	opened()
	if stopped != 1 || !strings.Contains(stderr.String(), "stopping once the probe is loaded") {
		t.Errorf("after a signal: stop called %d times, stderr %q", stopped, stderr.String())
	}

	stderr.Reset()
	stopped = 0
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	whileOpening(ctx, func() { stopped++ }, output.NewStatus(&stderr))()
	if stopped != 0 || stderr.Len() != 0 {
		t.Errorf("without a signal: stop called %d times, stderr %q", stopped, stderr.String())
	}
}

// processesMentioning returns the PIDs whose command line contains s.
func processesMentioning(s string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SIGKILL during a compile into the cache: the compiler dies with evtrace
// (no orphaned clang), its files are in the cache's own area (not /tmp),
// and the next run removes what the dead one left.
func TestKilledCompileLeavesNothing(t *testing.T) {
	testenv.RequireBPF(t)
	bin := evtraceBinary(t)
	cache := filepath.Join(rootTempDir(t), "objects")
	cmd := exec.Command(bin, "compile", "listen", "--cache-dir", cache)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var compiler []int
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && len(compiler) == 0; time.Sleep(5 * time.Millisecond) {
		for _, pid := range processesMentioning(cache) {
			if pid != cmd.Process.Pid {
				compiler = append(compiler, pid)
			}
		}
	}
	if len(compiler) == 0 {
		t.Fatal("never saw the compiler run with files in the cache directory")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := processesMentioning(cache)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compiler processes %v outlived the killed evtrace", left)
		}
	}
	dead, _ := filepath.Glob(filepath.Join(cache, ".cc-*"))
	if len(dead) == 0 {
		t.Fatal("the killed run left no compile directory: was it killed during the compile?")
	}
	if out, err := exec.Command(bin, "compile", "listen", "--cache-dir", cache).CombinedOutput(); err != nil {
		t.Fatalf("compile again: %v: %s", err, out)
	}
	for _, d := range dead {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the next run: %v", d, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, ".*")); len(left) != 0 {
		t.Errorf("leftovers after a clean run: %v", left)
	}
}

// TestVerifierLogPrinted: a program the verifier refused prints one line
// with the verdict, then the end of the verifier's log; listen --verbose
// (wholeLog) prints all of it.
func TestVerifierLogPrinted(t *testing.T) {
	var log strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&log, "%d: (07) r2 += 1\n", i)
	}
	log.WriteString("BPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0")
	le := &backend.LoadError{Program: "tracepoint__syscalls__sys_enter_getppid", Err: syscall.E2BIG, Log: log.String(),
		Verdict: "BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)"}
	var b bytes.Buffer
	printError(&b, fmt.Errorf("attach: %w", le))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := "evtrace: attach: load program tracepoint__syscalls__sys_enter_getppid: the verifier refused it: BPF program is too large. Processed 1000001 insn (processed 1000001 insns, limit 1000000)"
	if len(lines) != 2+1+logTailLines || lines[0] != want || lines[1] != "verifier log:" ||
		lines[2] != "... (62 lines before these left out)" || lines[3] != "62: (07) r2 += 1" {
		t.Errorf("printed:\n%s", b.String())
	}
	b.Reset()
	printError(&b, wholeLog{le})
	if got := b.String(); !strings.HasSuffix(got, "verifier log:\n"+log.String()+"\n") {
		t.Errorf("--verbose printed:\n%s", got)
	}
}
