package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The uprobe tests' C program. Each byte read on standard input is one
// round: Calls(i, 7) for i = 1..N (N its first argument), each returning
// i*1000+7, with, after each call, the USDT probe evtrace:tick (arguments
// i as an int and i*10 as a long; no semaphore) and a call of
// evtrace_fire_sem, whose probe evtrace:sem (argument i+100, an int) has a
// semaphore and fires only while a tracer counts it up. A round ends with
// the line "sum=S sem=V", V the semaphore's value then.
const uprobeTargetMain = `#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void evtrace_fire_sem(int i);
unsigned evtrace_sem_value(void);

__attribute__((noinline)) long evtrace_known(long a, long b)
{
	__asm__ volatile("");
	return a * 1000 + b;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5;
	char c;
	while (read(0, &c, 1) == 1) {
		long sum = 0;
		for (int i = 1; i <= n; i++) {
			sum += evtrace_known(i, 7);
			DTRACE_PROBE2(evtrace, tick, i, i * 10L);
			evtrace_fire_sem(i);
		}
		printf("sum=%ld sem=%u\n", sum, evtrace_sem_value());
		fflush(stdout);
	}
	return 0;
}
`

const uprobeTargetSem = `#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

__extension__ unsigned short evtrace_sem_semaphore __attribute__((unused)) __attribute__((section(".probes")));

__attribute__((noinline)) void evtrace_fire_sem(int i)
{
	if (__builtin_expect(evtrace_sem_semaphore, 0))
		DTRACE_PROBE1(evtrace, sem, i + 100);
}

unsigned evtrace_sem_value(void) { return *(volatile unsigned short *)&evtrace_sem_semaphore; }
`

// UprobeTarget is the uprobe tests' program, built by the system's C
// compiler into a new directory that only root can write (evtrace reads
// it as root), with a stripped copy.
type UprobeTarget struct {
	Dir, Bin, Stripped string
}

// BuildUprobeTarget builds the program; it needs cc and <sys/sdt.h>
// (systemtap-sdt-dev).
func BuildUprobeTarget(t testing.TB) UprobeTarget {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		Unavailable(t, "needs a C compiler (apt-get install gcc)")
	}
	dir := TrustedTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil { // the traced programs may run as anyone
		t.Fatal(err)
	}
	for name, src := range map[string]string{"main.c": uprobeTargetMain, "sem.c": uprobeTargetSem} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	probe := exec.Command(cc, "-E", "-x", "c", "-", "-o", "/dev/null")
	probe.Stdin = strings.NewReader("#include <sys/sdt.h>\n")
	if out, err := probe.CombinedOutput(); err != nil {
		Unavailable(t, "needs <sys/sdt.h> (apt-get install systemtap-sdt-dev): "+strings.TrimSpace(string(out)))
	}
	u := UprobeTarget{Dir: dir, Bin: filepath.Join(dir, "target"), Stripped: filepath.Join(dir, "target-stripped")}
	if out, err := exec.Command(cc, "-O1", "-o", u.Bin, filepath.Join(dir, "main.c"), filepath.Join(dir, "sem.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	if out, err := exec.Command("strip", "--strip-all", "-o", u.Stripped, u.Bin).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	return u
}

// TargetProc is a running copy of the program.
type TargetProc struct {
	Pid int
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// Start starts the program with n calls a round; it waits for its first
// round. The test's end stops it.
func (u UprobeTarget) Start(t testing.TB, n int) *TargetProc {
	t.Helper()
	cmd := exec.Command(u.Bin, fmt.Sprint(n))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &TargetProc{Pid: cmd.Process.Pid, cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() { p.Stop() })
	return p
}

// Round runs one round and returns its line's semaphore value.
func (p *TargetProc) Round(t testing.TB) (sum int64, sem int) {
	t.Helper()
	if _, err := p.in.Write([]byte{'\n'}); err != nil {
		t.Fatal(err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("target %d: %v", p.Pid, err)
	}
	if _, err := fmt.Sscanf(line, "sum=%d sem=%d", &sum, &sem); err != nil {
		t.Fatalf("target %d printed %q: %v", p.Pid, line, err)
	}
	return sum, sem
}

// Stop ends the program (end of input) and waits for it.
func (p *TargetProc) Stop() {
	if p.in != nil {
		p.in.Close()
		p.in = nil
		p.cmd.Wait()
	}
}
