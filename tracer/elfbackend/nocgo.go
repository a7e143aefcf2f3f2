//go:build !cgo

package elfbackend

import (
	"errors"

	"github.com/evtrace/evtrace/tracer/backend"
)

// errNoCgo: gobpf/elf's loader is cgo; a build without cgo has none.
var errNoCgo = errors.New("the ELF backend needs a build with cgo (gobpf/elf)")

func loadELF([]byte, []string) (backend.Program, error) { return nil, errNoCgo }
