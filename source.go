package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxSourceSize bounds the C file evtrace run reads: probe sources are a
// few KiB (bcc's largest tools are under 100 KiB), so 4 MiB is plenty and
// keeps a wrong argument from filling memory.
const maxSourceSize = 4 << 20

// readSource reads the probe source at path: a regular file of at most
// maxSourceSize bytes. Anything else (a device such as /dev/zero, a FIFO,
// a directory) is refused before a byte is read: O_NONBLOCK keeps the open
// of a FIFO from waiting for a writer.
func readSource(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("read probe: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read probe: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("read probe %s: not a regular file (%s); evtrace run takes a C source file", path, fileKind(st.Mode()))
	}
	if st.Size() > maxSourceSize {
		return "", fmt.Errorf("read probe %s: %d bytes, more than the %d MiB a probe source may have", path, st.Size(), maxSourceSize>>20)
	}
	// The file may grow after the Stat: read one byte past the limit.
	src, err := io.ReadAll(io.LimitReader(f, maxSourceSize+1))
	if err != nil {
		return "", fmt.Errorf("read probe: %w", err)
	}
	if len(src) > maxSourceSize {
		return "", fmt.Errorf("read probe %s: more than the %d MiB a probe source may have", path, maxSourceSize>>20)
	}
	return string(src), nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
