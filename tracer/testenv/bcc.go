package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BCCPython runs bcc's tools: Debian's bcc is a module of the system Python.
const BCCPython = "/usr/bin/python3"

// BCCCapture is what scripts/bcc-capture.py records of a bcc tool.
type BCCCapture struct {
	Text   string   `json:"text"`
	CFlags []string `json:"cflags"`
	Attach []string `json:"attach"`
	USDT   int      `json:"usdt"`
}

// CaptureBCC runs script (scripts/bcc-capture.py) on the tool with these
// arguments, in env (nil: this process's), and returns `evtrace run`'s
// arguments for the program it records (the C written to a file, its
// cflags and explicit attaches, to which the caller adds its own), and the
// record.
func CaptureBCC(t *testing.T, script string, env []string, tool string, args ...string) ([]string, BCCCapture) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "capture.json")
	cmd := exec.Command(BCCPython, append([]string{script, out, tool}, args...)...)
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("capture %s %v: %v\n%s", tool, args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c BCCCapture
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("capture %s: %v", tool, err)
	}
	if c.USDT != 0 {
		t.Fatalf("%s uses USDT: the capture does not record USDT contexts (give evtrace run --usdt by hand)", tool)
	}
	src := filepath.Join(dir, filepath.Base(tool)+".c")
	if err := os.WriteFile(src, []byte(c.Text), 0o644); err != nil {
		t.Fatal(err)
	}
	run := []string{"run", src}
	for _, f := range c.CFlags {
		if strings.ContainsAny(f, " \t\n") {
			t.Fatalf("%s: cflag %q has a space; --cflags splits on spaces", tool, f)
		}
	}
	if len(c.CFlags) > 0 {
		run = append(run, "--cflags", strings.Join(c.CFlags, " "))
	}
	for _, a := range c.Attach {
		run = append(run, "--attach", a)
	}
	return run, c
}
