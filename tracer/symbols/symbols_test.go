package symbols

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseKallsyms(t *testing.T) {
	f, err := os.Open("testdata/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := ParseKallsyms(f)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 6 { // the data symbol and the zero address left out
		t.Errorf("Len = %d, want 6", k.Len())
	}
	for _, c := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff81000000, "_stext+0x0"}, // the first listed at an address
		{0xffffffff81000010, "_stext+0x10"},
		{0xffffffff81001fff, "helper_local+0xfff"},
		{0xffffffff81002010, "helper_local+0x1010"}, // data symbols are no functions
		{0xffffffff8100305d, "do_syscall_64+0x5d"},
		{0xffffffff81003401, "weak_fn+0x1"},
		{0xffffffffc0a00020, "ext4_read+0x20 [ext4]"},
		{0xffffffff80000000, "[unknown]"},
	} {
		if got := k.Lookup(c.addr).String(); got != c.want {
			t.Errorf("Lookup(%#x) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func TestParseKallsymsHidden(t *testing.T) {
	_, err := ParseKallsyms(strings.NewReader("0000000000000000 T _stext\n0000000000000000 t foo\n"))
	if err == nil || !strings.Contains(err.Error(), "kptr_restrict") {
		t.Errorf("err = %v, want kptr_restrict named", err)
	}
	if _, err := ParseKallsyms(strings.NewReader("zzz T foo\n")); err == nil {
		t.Error("a bad address: no error")
	}
}

func TestRunningKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: /proc/kallsyms hides addresses from others")
	}
	k, err := LoadKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() < 1000 {
		t.Errorf("only %d kernel text symbols", k.Len())
	}
}

func TestParseMaps(t *testing.T) {
	maps, err := ParseMaps([]byte("55d0c5e00000-55d0c5e02000 r-xp 00001000 fd:01 1234                       /usr/bin/a b\n" +
		"7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n" +
		"7ffe0000-7ffe1000 rw-p 00000000 00:00 0 \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 3 || maps[0].path != "/usr/bin/a b" || maps[0].pgoff != 0x1000 || !maps[0].exec || maps[1].path != "[vdso]" || maps[2].path != "" || maps[2].exec {
		t.Errorf("maps = %+v", maps)
	}
	if _, err := ParseMaps([]byte("nonsense\n")); err == nil {
		t.Error("a bad line: no error")
	}
}

// buildC compiles a C program into a directory of the test's.
func buildC(t *testing.T, src string, args ...string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	c := filepath.Join(dir, "p.c")
	if err := os.WriteFile(c, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "p")
	if out, err := exec.Command(cc, append(args, "-o", bin, c)...).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return bin
}

const progC = `
#include <unistd.h>
__attribute__((noinline)) int evtrace_known_function(int x) { return x * 3 + 1; }
int main(void) { pause(); return evtrace_known_function(2); }
`

func TestReadELF(t *testing.T) {
	bin := buildC(t, progC, "-O1")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := ReadELF(f)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, _ := ef.Symbols()
	var fn elf.Symbol
	for _, s := range syms {
		if s.Name == "evtrace_known_function" {
			fn = s
		}
	}
	if fn.Value == 0 || fn.Size == 0 {
		t.Fatalf("cc wrote no sized evtrace_known_function: %+v", fn)
	}
	for _, c := range []struct {
		vaddr uint64
		want  string
		off   uint64
		ok    bool
	}{
		{fn.Value, "evtrace_known_function", 0, true},
		{fn.Value + fn.Size - 1, "evtrace_known_function", fn.Size - 1, true},
	} {
		name, off, ok := file.Lookup(c.vaddr)
		if name != c.want || off != c.off || ok != c.ok {
			t.Errorf("Lookup(%#x) = %q %#x %v, want %q %#x %v", c.vaddr, name, off, ok, c.want, c.off, c.ok)
		}
	}
	if name, _, _ := file.Lookup(fn.Value + fn.Size); name == "evtrace_known_function" {
		t.Error("an address past the function's size names it")
	}
	// File offsets map through the PT_LOAD segment that holds the text.
	var text *elf.Prog
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			text = p
		}
	}
	if v, ok := file.Vaddr(fn.Value - text.Vaddr + text.Off); !ok || v != fn.Value {
		t.Errorf("Vaddr = %#x %v, want %#x", v, ok, fn.Value)
	}
}

func TestReadELFStripped(t *testing.T) {
	bin := buildC(t, progC, "-O1", "-s")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := ReadELF(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range file.syms {
		if s.name == "evtrace_known_function" {
			t.Error("a stripped binary's .symtab function found")
		}
	}
	// Not ELF at all: an error, not a panic.
	if _, err := ReadELF(strings.NewReader("not an ELF file, just text")); err == nil {
		t.Error("text read as ELF")
	}
}

// TestUser resolves an address in a running process of ours through its
// mappings and map_files, and an exited process's to [unknown].
func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: /proc/PID/map_files")
	}
	bin := buildC(t, progC, "-O1")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := ef.Symbols()
	ef.Close()
	var fn elf.Symbol
	for _, s := range syms {
		if s.Name == "evtrace_known_function" {
			fn = s
		}
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The program is position-independent: its load address is in its
	// maps (the mapping of file offset 0).
	var base uint64
	deadline := time.Now().Add(5 * time.Second)
	for base == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "maps"))
		maps, _ := ParseMaps(b)
		for _, m := range maps {
			if m.path == bin && m.pgoff == 0 {
				base = m.start
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if base == 0 {
		t.Fatal("the program's mapping not found")
	}
	if ef.Type != elf.ET_DYN {
		base = 0
	}
	r := NewResolver()
	fr := r.User(pid, base+fn.Value+2)
	if fr.Symbol != "evtrace_known_function" || fr.Offset != 2 || fr.Module != bin {
		t.Errorf("User = %+v (%s), want evtrace_known_function+0x2 [%s]", fr, fr, bin)
	}
	cmd.Process.Kill()
	cmd.Wait()
	r.Forget()
	if fr := r.User(pid, base+fn.Value+2); fr.Symbol != "" || fr.String() != "[unknown]" {
		t.Errorf("exited process: %s, want [unknown]", fr)
	}
}
