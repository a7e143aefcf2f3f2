package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/trust"
)

// cache is the object cache spec names, or the default one.
func (spec Spec) cache() elfobj.Cache {
	if spec.CacheDir == "" {
		return elfobj.Cache{Dir: elfobj.DefaultCacheDir}
	}
	return elfobj.Cache{Dir: spec.CacheDir}
}

// prepareELF checks that spec can be built for the ELF backend and
// prepares the build.
func prepareELF(spec Spec, tree headers.Tree, rel string) (*elfobj.Build, error) {
	if !spec.Dialect {
		return nil, fmt.Errorf("%s is written for bcc only; the ELF backend needs a probe in evtrace's dialect (probes/README.md)", spec.Name)
	}
	if len(spec.USDT) > 0 {
		return nil, fmt.Errorf("%s: the ELF backend (gobpf/elf) attaches no USDT probes: use --backend bcc", spec.Name)
	}
	if spec.AutoAttach || spec.AutoPerf {
		return nil, fmt.Errorf("%s: the ELF backend needs its probes and perf tables named, not found by bcc's conventions", spec.Name)
	}
	return elfobj.Prepare(elfobj.Program{Name: spec.Name, Source: spec.Source, CFlags: spec.CFlags, Probes: spec.Probes}, tree, rel)
}

// openProgram compiles and loads spec's program: the one place where the
// backend is chosen. auto loads the cached ELF object when there is one;
// otherwise it compiles with bcc as always, and returns fill, which
// compiles the object into the cache for the next run (Open runs it in the
// background once the probes are attached).
func openProgram(backends backend.Set, spec Spec, tree headers.Tree, rel string) (prog backend.Program, report backend.Report, fill func(context.Context) error, err error) {
	choice := spec.Backend
	if choice == "" {
		choice = backend.Auto
	}
	if backends.ELF == nil {
		if choice == backend.ELF {
			return nil, report, nil, errors.New("--backend elf: this build has no ELF backend")
		}
		choice = backend.BCC
	}
	if backends.BCC == nil {
		return nil, report, nil, errors.New("this build has no bcc backend")
	}
	cache := spec.cache()
	why := "asked for"
	if spec.TraceToken != "" {
		switch choice {
		case backend.ELF:
			return nil, report, nil, fmt.Errorf("--backend elf: %w", errPerRun)
		case backend.Auto:
			why = "auto: " + errPerRun.Error()
			choice = backend.BCC
		}
	}
	switch choice {
	case backend.ELF:
		b, err := prepareELF(spec, tree, rel)
		if err != nil {
			return nil, report, nil, fmt.Errorf("--backend elf: %w", err)
		}
		prog, report, err := openELF(backends.ELF, spec, b, cache)
		if err != nil {
			return nil, report, nil, fmt.Errorf("--backend elf: %w", err)
		}
		return prog, report, nil, nil
	case backend.Auto:
		b, perr := prepareELF(spec, tree, rel)
		if perr != nil {
			why = "auto: not elf: " + firstLine(perr.Error())
			break
		}
		obj, _, gerr := cache.Get(b.Key())
		if errors.Is(gerr, trust.ErrUntrusted) {
			return nil, report, nil, gerr
		}
		if gerr == nil {
			prog, err := backends.ELF.Load(obj, spec.PerfTables)
			if err == nil {
				return prog, backend.Report{Choice: backend.ELF, Why: "auto: a cached object", Cache: "hit", Key: b.Key()}, nil, nil
			}
			why = "auto: the cached object did not load: " + firstLine(err.Error())
			break
		}
		why = "auto: no cached ELF object yet; compiling one in the background for the next run"
		fill = func(ctx context.Context) error {
			_, _, err := b.Object(ctx, cache)
			return err
		}
	}
	if len(spec.USDT) > 0 {
		prog, err = loadUSDT(backends.BCC, spec, tree)
	} else {
		prog, err = backends.BCC.LoadSource(spec.Name, spec.Source, spec.CFlags, tree.Dir)
	}
	if err != nil {
		return nil, report, nil, err
	}
	return prog, backend.Report{Choice: backend.BCC, Why: why}, fill, nil
}

func openELF(loader backend.ObjectLoader, spec Spec, b *elfobj.Build, cache elfobj.Cache) (backend.Program, backend.Report, error) {
	obj, status, err := b.Object(context.Background(), cache)
	if err != nil {
		return nil, backend.Report{}, err
	}
	prog, err := loader.Load(obj, spec.PerfTables)
	if err != nil {
		return nil, backend.Report{}, err
	}
	report := backend.Report{Choice: backend.ELF, Why: "compiled ahead of time, loaded by gobpf/elf", Cache: status, Key: b.Key()}
	return prog, report, nil
}

// errPerRun refuses the object cache to a program that carries a trace
// token: it is new at every start.
var errPerRun = errors.New("its trace lines carry a token made for each run, so it is compiled by libbcc at every start and never cached")

// BuiltObject is what BuildObject did.
type BuiltObject struct {
	Key    string
	Status string // "hit", or how the object was built
	Path   string // the cached object
}

// BuildObject puts spec's ELF object into the cache (evtrace compile) without
// loading it; an object already there is checked and kept.
func BuildObject(spec Spec) (BuiltObject, error) {
	if spec.TraceToken != "" {
		return BuiltObject{}, errPerRun
	}
	rel, err := kernel.Release()
	if err != nil {
		return BuiltObject{}, err
	}
	tree, err := findSpecHeaders(spec, rel)
	if err != nil {
		return BuiltObject{}, err
	}
	b, err := prepareELF(spec, tree, rel)
	if err != nil {
		return BuiltObject{}, err
	}
	cache := spec.cache()
	_, status, err := b.Object(context.Background(), cache)
	if err != nil {
		return BuiltObject{}, err
	}
	key := b.Key()
	return BuiltObject{Key: key, Status: status, Path: filepath.Join(cache.Dir, key+".o")}, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
