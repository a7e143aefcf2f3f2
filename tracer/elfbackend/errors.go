package elfbackend

import (
	"errors"
	"regexp"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
)

// elfLoadErrorRe is how gobpf/elf reports a program the kernel refused:
// the section, the errno, and its whole verifier log buffer (512 KiB at log
// level 1, NUL bytes included).
var elfLoadErrorRe = regexp.MustCompile(`^error while loading "([^"]+)" \(([^)]*)\):\n`)

// elfLoadError makes gobpf/elf's error a LoadError that says what the bcc
// backend's do: the program (its section), and the verifier's verdict.
func elfLoadError(err error) *backend.LoadError {
	s := err.Error()
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	m := elfLoadErrorRe.FindStringSubmatch(s)
	if m == nil {
		return &backend.LoadError{Program: "(ELF object)", Err: errors.New("gobpf/elf could not load it"), Log: strings.TrimSpace(s)}
	}
	log := strings.TrimSpace(s[len(m[0]):])
	return &backend.LoadError{Program: m[1], Err: errors.New(m[2]), Log: log, Verdict: backend.VerifierVerdict(log)}
}
