//go:build cgo

// Package realbackends gives tests the backends main uses (libbcc and
// gobpf/elf), for tests that load programs into the kernel. It needs cgo,
// and so do the tests that import it (they carry the cgo build tag).
package realbackends

import (
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bccbackend"
	"github.com/evtrace/evtrace/tracer/elfbackend"
)

// Set is what main gives a session: libbcc and gobpf/elf.
func Set() backend.Set {
	return backend.Set{BCC: bccbackend.New(), ELF: elfbackend.New()}
}
