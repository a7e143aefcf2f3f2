package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/evtrace/evtrace/tracer"
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
		{[]string{"listen", "--perf-wakeup", "-1"}, `--perf-wakeup -1: want 0 (a quarter ring) or a number of records`},
		{[]string{"listen", "--backend", "llvm"}, `--backend: unknown backend "llvm" (want auto, bcc or elf)`},
		{[]string{"compile"}, `compile what?`},
		{[]string{"compile", "solisten"}, `unknown probe "solisten"`},
		{[]string{"compile", "listen", "--backend", "bcc"}, `--backend bcc compiles at every start`},
		{[]string{"compile", "listen", "--mode", "loud"}, `unknown mode`},
		{[]string{"cache"}, `cache what?`},
		{[]string{"cache", "purge"}, `unknown cache command "purge"`},
		{[]string{"listen", "--mode", "debug", "--show-netns"}, `--show-netns needs --mode perf`},
		{[]string{"listen", "extra"}, `listen takes no arguments`},
		{[]string{"listen", "--no-such-flag"}, `flag provided but not defined: -no-such-flag`},
		{[]string{"lisen"}, `unknown command "lisen"`},
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
	for _, want := range []string{"#define EVTRACE_MODE_DEBUG 1", "#define FILTER_PID 1234", "#define FILTER_NETNS 4026531840", "EVTRACE_KPROBE(inet_listen)"} {
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
	if os.Geteuid() != 0 {
		t.Skip("needs root (the root check comes first)")
	}
	if tracer.KprobesSupported() {
		t.Skip("this kernel has kprobes")
	}
	code, _, stderr := runCLI("listen", "--attach", "kprobe")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "evtrace: --attach kprobe: this kernel has no kprobe support") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
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
	dir, err := os.MkdirTemp("", "evtrace-cli")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "evtrace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "listen")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("run as nobody: %v, stderr %q", err, stderr.String())
	}
	if got := strings.TrimSpace(stderr.String()); !strings.HasPrefix(got, "evtrace: must be run as root") || strings.Contains(got, "\n") {
		t.Errorf("stderr %q", got)
	}
}

func TestCacheCommands(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI("cache", "ls", "--cache-dir", dir)
	if code != 0 || !strings.HasPrefix(stdout, "KEY") || !strings.Contains(stderr, "0 objects in "+dir) {
		t.Errorf("cache ls: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI("cache", "clear", "--cache-dir", dir)
	if code != 0 || !strings.Contains(stderr, "removed 0 objects from "+dir) {
		t.Errorf("cache clear: exit %d, stderr %q", code, stderr)
	}
}
