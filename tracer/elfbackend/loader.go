// Package elfbackend loads the objects elfobj compiled, through
// gobpf/elf, and attaches their probes: the ELF backend, with no LLVM in
// the process. gobpf/elf is cgo (it includes the kernel's bpf headers)
// but links no libbcc; without cgo it builds and fails at run time.
package elfbackend

import "github.com/evtrace/evtrace/tracer/backend"

// Loader is the ELF backend, a backend.ObjectLoader.
type Loader struct{}

// New returns the ELF backend.
func New() Loader { return Loader{} }

// Load loads object; see backend.ObjectLoader.
func (Loader) Load(object []byte, perfTables []string) (backend.Program, error) {
	prog, err := loadELF(object, perfTables)
	if err != nil {
		return nil, err
	}
	return prog, nil
}
