package elfbackend

import (
	"errors"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// TestELFLoadError: gobpf/elf's error (its whole log buffer, NULs and all)
// says what the bcc backend's does.
func TestELFLoadError(t *testing.T) {
	log := testenv.VerifierLogTails[0].Log
	err := elfLoadError(errors.New("error while loading \"tracepoint/syscalls/sys_enter_getppid\" (argument list too long):\n" + log + strings.Repeat("\x00", 4096)))
	want := "load program tracepoint/syscalls/sys_enter_getppid: the verifier refused it: " + testenv.VerifierLogTails[0].Verdict
	if err.Error() != want || err.Log != strings.TrimSpace(log) {
		t.Errorf("got %q (log %q), want %q", err, err.Log, want)
	}
	err = elfLoadError(errors.New("error while loading \"kprobe/inet_listen\" (operation not permitted):\n\x00\x00"))
	if got := err.Error(); got != "load program kprobe/inet_listen: operation not permitted" {
		t.Errorf("no verifier log: %q", got)
	}
	err = elfLoadError(errors.New(`error while loading map "maps/calls": invalid argument`))
	if got := err.Error(); got != `load program (ELF object): gobpf/elf could not load it: error while loading map "maps/calls": invalid argument` {
		t.Errorf("not a program: %q", got)
	}
}
