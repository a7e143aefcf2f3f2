package tracer

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

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

// elfLoadErrorRe is how gobpf/elf reports a program the kernel refused:
// the section, the errno, and its whole verifier log buffer (512 KiB at log
// level 1, NUL bytes included).
var elfLoadErrorRe = regexp.MustCompile(`^error while loading "([^"]+)" \(([^)]*)\):\n`)

// elfLoadError makes gobpf/elf's error a LoadError that says what the bcc
// backend's do: the program (its section), and the verifier's verdict.
func elfLoadError(err error) *LoadError {
	s := err.Error()
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	m := elfLoadErrorRe.FindStringSubmatch(s)
	if m == nil {
		return &LoadError{Program: "(ELF object)", Err: errors.New("gobpf/elf could not load it"), Log: strings.TrimSpace(s)}
	}
	log := strings.TrimSpace(s[len(m[0]):])
	return &LoadError{Program: m[1], Err: errors.New(m[2]), Log: log, Verdict: verifierVerdict(log)}
}

// elfSection is the section gobpf/elf finds p's program in.
func elfSection(p Probe) (string, error) {
	switch p.Kind {
	case Kprobe:
		return "kprobe/" + p.Target, nil
	case Kretprobe:
		return "kretprobe/" + p.Target, nil
	case Tracepoint:
		cat, event, ok := strings.Cut(p.Target, ":")
		if !ok {
			return "", fmt.Errorf("tracepoint %q: want CATEGORY:EVENT", p.Target)
		}
		return "tracepoint/" + cat + "/" + event, nil
	}
	return "", fmt.Errorf("%s %s: the ELF backend (gobpf/elf) attaches kprobes, kretprobes and tracepoints only: use --backend bcc", p.Kind, p.Target)
}

// elfSupports says whether the ELF backend can attach every probe.
func elfSupports(probes []Probe) error {
	for _, p := range probes {
		if _, err := elfSection(p); err != nil {
			return err
		}
	}
	return nil
}

func (e *elfProgram) functionNames() []string { return nil }

func (e *elfProgram) attach(p Probe) error {
	sec, err := elfSection(p)
	if err != nil {
		return err
	}
	switch p.Kind {
	case Kprobe, Kretprobe:
		if e.mod.Kprobe(sec) == nil {
			return fmt.Errorf("attach %s %s: the object has no section %s", p.Kind, p.Target, sec)
		}
		err = e.mod.EnableKprobe(sec, 0)
	case Tracepoint:
		err = e.mod.EnableTracepoint(sec)
	}
	if err != nil {
		return attachError(p, err, "")
	}
	return nil
}

func (e *elfProgram) mapFD(name string) (int, error) {
	m := e.mod.Map(name)
	if m == nil {
		return -1, fmt.Errorf("no map %s", name)
	}
	return m.Fd(), nil
}

func (e *elfProgram) perfTables() []string { return e.tables }

func (e *elfProgram) perfFields(string) []string { return nil }

func (e *elfProgram) close() error {
	if err := e.mod.Close(); err != nil {
		return fmt.Errorf("close the ELF program: %w", err)
	}
	return nil
}
