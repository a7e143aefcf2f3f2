package backend

import (
	"fmt"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
)

func TestVerifierVerdict(t *testing.T) {
	for _, c := range testenv.VerifierLogTails {
		if got := VerifierVerdict(c.Log); got != c.Verdict {
			t.Errorf("%s:\n got %q\nwant %q", c.Name, got, c.Verdict)
		}
	}
}

func TestLogTail(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%d: insn\n", i)
	}
	b.WriteString("R1 invalid mem access\n")
	e := &LoadError{Log: b.String()}
	lines := strings.Split(e.LogTail(40), "\n")
	if len(lines) != 41 || lines[0] != "... (61 lines before these left out)" || lines[1] != "61: insn" || lines[40] != "R1 invalid mem access" {
		t.Errorf("LogTail(40):\n%s", strings.Join(lines, "\n"))
	}
	if got := e.LogTail(200); got != strings.TrimSpace(b.String()) {
		t.Errorf("LogTail(200) of 101 lines: %q", got)
	}
}
