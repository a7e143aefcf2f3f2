package tracer

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iovisor/gobpf/bcc"
	"golang.org/x/sys/unix"
)

// compile builds a bcc module from C text. libbcc prints clang's diagnostics
// on the process's standard error and gobpf returns a nil module without an
// error, so standard error is captured while the compiler runs and becomes
// the CompileError's log.
func compile(name, source string, cflags []string) (*bcc.Module, error) {
	var mod *bcc.Module
	log, err := captureStderr(func() { mod = bcc.NewModule(source, cflags) })
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	if mod == nil {
		return nil, &CompileError{Name: name, Log: strings.TrimSpace(log)}
	}
	return mod, nil
}

// captureStderr runs fn with file descriptor 2 pointing into a pipe and
// returns what was written there. Not for concurrent use: descriptor 2 is
// the process's.
func captureStderr(fn func()) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	saved, err := unix.Dup(2)
	if err != nil {
		r.Close()
		w.Close()
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	if err := unix.Dup3(int(w.Fd()), 2, 0); err != nil {
		unix.Close(saved)
		r.Close()
		w.Close()
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	collected := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		collected <- string(b)
	}()

	fn()

	restoreErr := unix.Dup3(saved, 2, 0)
	unix.Close(saved)
	w.Close() // with descriptor 2 restored, this was the last writer
	out := <-collected
	r.Close()
	if restoreErr != nil {
		return out, fmt.Errorf("restore stderr: %w", restoreErr)
	}
	return out, nil
}
