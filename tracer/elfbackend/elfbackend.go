//go:build cgo

package elfbackend

import (
	"bytes"
	"fmt"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/iovisor/gobpf/elf"
)

// elfProgram is an object compiled ahead of time, loaded by gobpf/elf.
type elfProgram struct {
	mod    *elf.Module
	tables []string // perf maps
}

// loadELF loads object, sizing the perf maps (perfTables) for this
// machine's CPUs; evtrace reads them with its own rings.
func loadELF(object []byte, perfTables []string) (*elfProgram, error) {
	cpus, err := kernel.PossibleCPUs()
	if err != nil {
		return nil, err
	}
	params := make(map[string]elf.SectionParams)
	for _, t := range perfTables {
		params["maps/"+t] = elf.SectionParams{SkipPerfMapInitialization: true, MapMaxEntries: cpus}
	}
	mod := elf.NewModuleFromReader(bytes.NewReader(object))
	if err := mod.Load(params); err != nil {
		// A partial load keeps what it created: free it.
		mod.Close()
		return nil, elfLoadError(err)
	}
	return &elfProgram{mod: mod, tables: perfTables}, nil
}

func (e *elfProgram) FunctionNames() []string { return nil }

func (e *elfProgram) Maps() []backend.MapInfo { return nil }

func (e *elfProgram) Attach(p backend.Probe) error {
	sec, err := elfobj.Section(p)
	if err != nil {
		return err
	}
	switch p.Kind {
	case backend.Kprobe, backend.Kretprobe:
		if e.mod.Kprobe(sec) == nil {
			return fmt.Errorf("attach %s %s: the object has no section %s", p.Kind, p.Target, sec)
		}
		err = e.mod.EnableKprobe(sec, 0)
	case backend.Tracepoint:
		err = e.mod.EnableTracepoint(sec)
	}
	if err != nil {
		return backend.AttachError(p, err, "")
	}
	return nil
}

func (e *elfProgram) MapFD(name string) (int, error) {
	m := e.mod.Map(name)
	if m == nil {
		return -1, fmt.Errorf("no map %s", name)
	}
	return m.Fd(), nil
}

func (e *elfProgram) PerfTables() []string { return e.tables }

func (e *elfProgram) PerfFields(string) []string { return nil }

func (e *elfProgram) Close() error {
	if err := e.mod.Close(); err != nil {
		return fmt.Errorf("close the ELF program: %w", err)
	}
	return nil
}
