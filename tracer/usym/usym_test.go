package usym

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bccResolve asks bcc's own Python (bcc_resolve_symname) where a uprobe
// goes: the path and file offset, or an error.
func bccResolve(t *testing.T, module, sym string, addr uint64) (string, uint64, error) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	a := "None"
	if addr != 0 {
		a = strconv.FormatUint(addr, 10)
	}
	script := fmt.Sprintf(`
import sys
try:
    from bcc import BPF
except ImportError:
    sys.exit(3)
try:
    p, o = BPF._check_path_symbol(%q.encode(), %q.encode(), %s, -1)
    print(p.decode(), o)
except Exception as e:
    print("ERR", e)
`, module, sym, a)
	out, err := exec.Command("/usr/bin/python3", "-c", script).Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		t.Skip("bcc's Python module is not installed")
	}
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] == "ERR" {
		return "", 0, errors.New(strings.TrimSpace(string(out)))
	}
	off, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f[0], off, nil
}

// TestResolveAsBCC: library names, symbols and raw addresses resolve to
// the path and file offset bcc's bcc_resolve_symname gives.
func TestResolveAsBCC(t *testing.T) {
	bash, _ := exec.LookPath("bash")
	bash, _ = filepath.EvalSymlinks(bash)
	cases := []struct {
		module, sym string
		addr        uint64
	}{
		{"c", "pthread_create", 0},
		{"c", "malloc", 0},
		{"c", "strlen", 0}, // an IFUNC
		{"/bin/bash", "readline", 0},
		{"/bin/bash", "", 0x4a3b0},
		{bash, "main", 0},
	}
	for _, c := range cases {
		wantPath, wantOff, berr := bccResolve(t, c.module, c.sym, c.addr)
		if berr != nil {
			t.Fatalf("bcc cannot resolve %s:%s: %v", c.module, c.sym, berr)
		}
		path, err := FindTarget(c.module, 0)
		if err != nil {
			t.Errorf("FindTarget(%s): %v", c.module, err)
			continue
		}
		off := c.addr
		loc, err := Resolve(path, c.sym, off)
		if err != nil {
			t.Errorf("Resolve(%s, %s): %v", path, c.sym, err)
			continue
		}
		if loc.Path != wantPath || loc.Offset != wantOff {
			t.Errorf("%s:%s 0x%x = %s 0x%x, bcc: %s 0x%x", c.module, c.sym, c.addr, loc.Path, loc.Offset, wantPath, wantOff)
		}
	}
	// bcc finds libpthread.so.0, which has no pthread_create since glibc
	// 2.34: both refuse.
	if _, _, berr := bccResolve(t, "pthread", "pthread_create", 0); berr != nil {
		path, err := FindTarget("pthread", 0)
		if err == nil {
			_, err = Resolve(path, "pthread_create", 0)
		}
		if !errors.Is(err, ErrNoSymbol) {
			t.Errorf("pthread:pthread_create: %v; bcc: %v", err, berr)
		}
	}
}

// TestLDCacheAsLdconfig: every library ldconfig -p lists for this
// architecture is in our reading of the cache, with the same path.
func TestLDCacheAsLdconfig(t *testing.T) {
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		if _, lerr := exec.LookPath("ldconfig"); lerr != nil {
			t.Skip("no ldconfig")
		}
		t.Fatal(err)
	}
	b, err := os.ReadFile(LDCache)
	if err != nil {
		t.Skip(err)
	}
	entries, err := ParseLDCache(b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name+" => "+e.Path] = true
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n")[1:] {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, " (")
		if !ok {
			continue
		}
		_, path, ok := strings.Cut(rest, ") => ")
		if !ok {
			continue
		}
		n++
		if !got[name+" => "+path] {
			t.Errorf("ldconfig -p lists %s => %s; our reading of the cache does not", name, path)
		}
	}
	if n == 0 || n != len(entries) {
		t.Errorf("ldconfig -p lists %d libraries, we read %d", n, len(entries))
	}
	if _, err := ParseLDCache([]byte("garbage")); err == nil {
		t.Error("garbage parsed as a cache")
	}
	if _, err := ParseLDCache(b[:60]); err == nil {
		t.Error("a truncated cache parsed")
	}
}

// buildC compiles a C program into dir.
func buildC(t *testing.T, dir, name, src string, flags ...string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command(cc, append(flags, "-o", bin, c)...).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return bin
}

// TestResolveOwnProgram: a function of a program of ours, an offset into
// it, past it, a missing symbol, and the stripped program.
func TestResolveOwnProgram(t *testing.T) {
	dir := t.TempDir()
	bin := buildC(t, dir, "prog", `
__attribute__((noinline)) int evtrace_known(int a) { return a * 3 + 1; }
int main(int argc, char **argv) { return evtrace_known(argc) == 4 ? 0 : 1; }
`, "-O1")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	var want elf.Symbol
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == "evtrace_known" {
			want = s
		}
	}
	f.Close()
	loc, err := Resolve(bin, "evtrace_known", 0)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Addr != want.Value {
		t.Errorf("address 0x%x, symbol table 0x%x", loc.Addr, want.Value)
	}
	if l1, err := Resolve(bin, "evtrace_known", 1); err != nil || l1.Offset != loc.Offset+1 {
		t.Errorf("+1: %+v, %v", l1, err)
	}
	if _, err := Resolve(bin, "evtrace_known", want.Size); err == nil || !strings.Contains(err.Error(), "past the end of the function") {
		t.Errorf("+size: %v", err)
	}
	if _, err := Resolve(bin, "evtrace_missing", 0); !errors.Is(err, ErrNoSymbol) {
		t.Errorf("missing symbol: %v", err)
	}
	raw, err := Resolve(bin, "", loc.Addr)
	if err != nil || raw.Offset != loc.Offset {
		t.Errorf("raw address: %+v, %v", raw, err)
	}
	if _, err := Resolve(bin, "", 0x7fffffff0000); err == nil || !strings.Contains(err.Error(), "in no executable segment") {
		t.Errorf("an address outside the program: %v", err)
	}
	stripped := filepath.Join(dir, "stripped")
	if out, err := exec.Command("strip", "-o", stripped, bin).CombinedOutput(); err != nil {
		t.Skipf("strip: %v %s", err, out)
	}
	if _, err := Resolve(stripped, "evtrace_known", 0); !errors.Is(err, ErrStripped) {
		t.Errorf("stripped: %v", err)
	}
	if _, err := Resolve(filepath.Join(dir, "prog.c"), "main", 0); err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Errorf("C source as target: %v", err)
	}
}

func TestFindTarget(t *testing.T) {
	if _, err := FindTarget("/no/such/binary", 0); !errors.Is(err, ErrNoBinary) {
		t.Errorf("missing binary: %v", err)
	}
	if _, err := FindTarget("bin/bash", 0); err == nil || !strings.Contains(err.Error(), "want an absolute path") {
		t.Errorf("relative path: %v", err)
	}
	if _, err := FindTarget("evtrace_no_such_lib", 0); !errors.Is(err, ErrNoBinary) {
		t.Errorf("missing library: %v", err)
	}
	if _, err := FindTarget("/tmp", 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	// Through a process: this test's libc, seen from its root.
	self := os.Getpid()
	p, err := FindTarget("c", self)
	if err != nil {
		// A static test binary maps no libc.
		if !errors.Is(err, ErrNoBinary) {
			t.Fatal(err)
		}
	} else if !strings.HasPrefix(p, fmt.Sprintf("/proc/%d/root/", self)) || !strings.Contains(p, "libc") {
		t.Errorf("c in PID %d: %s", self, p)
	}
	if p, err := FindTarget("/bin/sh", self); err != nil || p != fmt.Sprintf("/proc/%d/root/bin/sh", self) {
		t.Errorf("/bin/sh in PID %d: %s, %v", self, p, err)
	}
	if err := CheckPID(1 << 30); !errors.Is(err, ErrNoPID) {
		t.Errorf("CheckPID(2^30): %v", err)
	}
	if _, err := FindTarget("c", 1<<30); !errors.Is(err, ErrNoPID) {
		t.Errorf("library in a missing process: %v", err)
	}
}
