package tracer

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotRoot: loading BPF programs needs root.
	ErrNotRoot = errors.New("must be run as root (loading BPF programs needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)")
	// ErrNoKprobes: the running kernel was built without kprobe support.
	ErrNoKprobes = errors.New("this kernel has no kprobe support")
	// ErrNoHeaders: no kernel headers tree was found for bcc to compile against.
	ErrNoHeaders = errors.New("kernel headers not found")
	// ErrNoFunction: a kprobe target is not a traceable kernel function.
	ErrNoFunction = errors.New("no such kernel function")
	// ErrNoTracepoint: a tracepoint does not exist in this kernel.
	ErrNoTracepoint = errors.New("no such tracepoint")
)

// CompileError is returned when libbcc cannot compile a probe. Log holds the
// compiler's own diagnostics, as clang printed them.
type CompileError struct {
	Name string // what was compiled, e.g. "listen.c"
	Log  string
}

func (e *CompileError) Error() string {
	first := firstDiagnostic(e.Log)
	if first == "" {
		return fmt.Sprintf("compile %s: failed (the compiler printed nothing)", e.Name)
	}
	return fmt.Sprintf("compile %s: %s", e.Name, first)
}

// LoadError is returned when the kernel refuses a compiled program. Log holds
// what libbcc printed, including the verifier's log when there is one.
type LoadError struct {
	Program string
	Err     error
	Log     string
}

func (e *LoadError) Error() string {
	msg := fmt.Sprintf("load program %s: %v", e.Program, e.Err)
	if first := firstDiagnostic(e.Log); first != "" {
		msg += ": " + first
	}
	return msg
}

func (e *LoadError) Unwrap() error { return e.Err }

// firstDiagnostic returns the first line of a compiler or loader log that
// says what went wrong, preferring lines that contain "error".
func firstDiagnostic(log string) string {
	var first string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "error") {
			return line
		}
		if first == "" {
			first = line
		}
	}
	return first
}
