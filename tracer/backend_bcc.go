package tracer

import (
	"fmt"
	"strings"

	"github.com/iovisor/gobpf/bcc"
	"golang.org/x/sys/unix"
)

// program is a loaded BPF object: what a backend gives a Session.
type program interface {
	// functionNames lists the object's functions, for AutoAttach.
	functionNames() []string
	// attach loads the program p.Program and attaches it to p.Target.
	attach(p Probe) error
	// mapFD returns the fd of the named map.
	mapFD(name string) (int, error)
	// perfTables names the perf event arrays the object writes to.
	perfTables() []string
	// perfFields describes the struct submitted to a perf table
	// ("name#type" per field), when the backend knows it.
	perfFields(table string) []string
	// close detaches and frees everything, going on after errors.
	close() error
}

// bccProgram is a program compiled at run time by libbcc.
type bccProgram struct {
	mod *bcc.Module
}

func (b *bccProgram) functionNames() []string { return b.mod.FunctionNames() }

func (b *bccProgram) mapFD(name string) (int, error) {
	id := b.mod.TableId(name)
	if uint64(id) >= b.mod.TableSize() {
		return -1, fmt.Errorf("no map %s", name)
	}
	fd, ok := bcc.NewTable(id, b.mod).Config()["fd"].(int)
	if !ok || fd < 0 {
		return -1, fmt.Errorf("map %s has no fd", name)
	}
	return fd, nil
}

// perfTables names the perf event arrays: BPF_PERF_OUTPUT tables, whether
// or not libbcc recorded the struct submitted to them, and BPF_PERF_ARRAY
// counter arrays (the same map type; Session.Open leaves those out). Where
// the kernel will not tell a map's type, the tables libbcc recorded a
// struct for.
func (b *bccProgram) perfTables() []string {
	var names []string
	for id := uint64(0); id < b.mod.TableSize(); id++ {
		name, _ := b.mod.TableDesc(id)["name"].(string)
		fd, err := b.mapFD(name)
		if err != nil {
			continue
		}
		typ, err := mapType(fd)
		if (err == nil && typ == unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY) || (err != nil && len(b.mod.PerfEventFields(name)) > 0) {
			names = append(names, name)
		}
	}
	return names
}

func (b *bccProgram) perfFields(table string) []string { return b.mod.PerfEventFields(table) }

func (b *bccProgram) close() error {
	b.mod.Close()
	return nil
}

func (b *bccProgram) attach(p Probe) error {
	var (
		fd  int
		err error
	)
	load := func(f func(string) (int, error)) {
		var log string
		log, err = captureStderrErr(func() error {
			var lerr error
			fd, lerr = f(p.Program)
			return lerr
		})
		if err != nil {
			err = &LoadError{Program: p.Program, Err: err, Log: strings.TrimSpace(log)}
		}
	}
	switch p.Kind {
	case Kprobe, Kretprobe:
		load(b.mod.LoadKprobe)
	case Tracepoint:
		load(b.mod.LoadTracepoint)
	case RawTracepoint:
		load(b.mod.LoadRawTracepoint)
	case Fentry, Fexit:
		load(b.mod.LoadTracing)
	}
	if err != nil {
		return err
	}

	var log string
	switch p.Kind {
	case Kprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKprobe(p.Target, fd, -1) })
	case Kretprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKretprobe(p.Target, fd, -1) })
	case Tracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachTracepoint(p.Target, fd) })
	case RawTracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachRawTracepoint(p.Target, fd) })
	case Fentry, Fexit:
		log, err = captureStderrErr(func() error { return b.mod.AttachKfunc(p.Program, fd) })
	}
	if err == nil {
		return nil
	}
	return attachError(p, err, firstDiagnostic(log))
}

// attachError explains a failed attach: a function that is not there, or
// what the kernel or the loader said.
func attachError(p Probe, err error, detail string) error {
	if p.Kind == Kprobe || p.Kind == Kretprobe {
		if found, kerr := kernelHasSymbol(p.Target); kerr == nil && !found {
			return fmt.Errorf("attach %s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, ErrNoFunction)
		}
	}
	if detail != "" {
		return fmt.Errorf("attach %s %s: %w: %s", p.Kind, p.Target, err, detail)
	}
	return fmt.Errorf("attach %s %s: %w", p.Kind, p.Target, err)
}
