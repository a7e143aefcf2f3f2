package tracer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/trust"
)

// Backend is how a program is compiled and loaded.
type Backend string

const (
	// BackendAuto takes the ELF backend when the program allows it and
	// clang is installed, else bcc.
	BackendAuto Backend = "auto"
	// BackendBCC compiles at every start, in-process, with libbcc.
	BackendBCC Backend = "bcc"
	// BackendELF compiles once with clang into the object cache and loads
	// the object with gobpf/elf: no LLVM in the process.
	BackendELF Backend = "elf"
)

// ParseBackend parses --backend.
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case BackendAuto, BackendBCC, BackendELF:
		return b, nil
	case "":
		return BackendAuto, nil
	}
	return "", fmt.Errorf("unknown backend %q (want auto, bcc or elf)", s)
}

// BackendReport says which backend a Session used, why, and what the
// object cache did.
type BackendReport struct {
	Backend Backend
	Why     string // why this backend
	Cache   string // ELF: "hit", or how the object was (re)built; bcc: ""
	Key     string // ELF: the cache key
}

func (r BackendReport) String() string {
	s := string(r.Backend) + " (" + r.Why + ")"
	if r.Cache != "" {
		s += "; object " + r.Key + ": " + r.Cache
	}
	return s
}

// cache is the object cache spec names, or the default one.
func (spec Spec) cache() Cache {
	if spec.CacheDir == "" {
		return Cache{Dir: DefaultCacheDir}
	}
	return Cache{Dir: spec.CacheDir}
}

// elfBuild is what the ELF backend compiles and the key it is cached by.
type elfBuild struct {
	tools  clangTools
	name   string
	text   string
	cflags []string
	roots  []string
	inputs CacheInputs
}

// prepareELF makes the ELF variant of spec's text (EVTRACE_ELF, and the
// tracepoint argument structs that bcc would have generated) and its key.
func prepareELF(spec Spec, tree headers.Tree, rel string) (*elfBuild, error) {
	if !spec.Dialect {
		return nil, fmt.Errorf("%s is written for bcc only; the ELF backend needs a probe in evtrace's dialect (probes/README.md)", spec.Name)
	}
	if spec.AutoAttach || spec.AutoPerf {
		return nil, fmt.Errorf("%s: the ELF backend needs its probes and perf tables named, not found by bcc's conventions", spec.Name)
	}
	if err := elfSupports(spec.Probes); err != nil {
		return nil, err
	}
	tools, err := findClang()
	if err != nil {
		return nil, err
	}
	roots, err := headers.Roots(tree, rel)
	if err != nil {
		return nil, err
	}
	structs, err := layout.TracepointStructs(tracepointNames(spec.Probes))
	if err != nil {
		return nil, err
	}
	text := "#define EVTRACE_ELF 1\n" + structs + spec.Source
	b := &elfBuild{tools: tools, name: spec.Name, text: text, cflags: spec.CFlags, roots: roots}
	b.inputs = CacheInputs{
		Source:   text,
		CFlags:   elfCFlags(spec.CFlags),
		Compiler: tools.identity(),
		Kernel:   kernelIdentity(),
		Headers:  headers.Identity(roots),
	}
	return b, nil
}

// object returns the compiled object from the cache, or compiles and
// stores it; status says which.
func (b *elfBuild) object(ctx context.Context, cache Cache) (obj []byte, status string, err error) {
	key := b.inputs.Key()
	obj, _, err = cache.Get(key)
	if err == nil {
		return obj, "hit", nil
	}
	if !errors.Is(err, ErrCacheMiss) {
		return nil, "", err
	}
	why := "miss"
	if err != ErrCacheMiss {
		why = err.Error()
	}
	tmp, err := cache.compileDir()
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	obj, took, err := compileELF(ctx, b.tools, tmp, b.name, b.text, b.cflags, b.roots)
	if err != nil {
		return nil, "", err
	}
	entry := CacheEntry{
		Key: key, Name: b.name, Created: time.Now().UTC(),
		Kernel: b.inputs.Kernel, Headers: b.inputs.Headers, CompileMS: took.Milliseconds(),
	}
	status = fmt.Sprintf("%s; compiled with clang in %v and stored", why, took.Round(time.Millisecond))
	if perr := cache.Put(obj, entry); perr != nil {
		status = fmt.Sprintf("%s; compiled with clang in %v, not stored: %v", why, took.Round(time.Millisecond), perr)
	}
	return obj, status, nil
}

// openProgram compiles and loads spec's program: the one place where the
// backend is chosen. auto loads the cached ELF object when there is one;
// otherwise it compiles with bcc as always, and returns fill, which
// compiles the object into the cache for the next run (Open runs it in the
// background once the probes are attached).
func openProgram(spec Spec, tree headers.Tree, rel string) (prog program, report BackendReport, fill func(context.Context) error, err error) {
	backend := spec.Backend
	if backend == "" {
		backend = BackendAuto
	}
	cache := spec.cache()
	why := "asked for"
	if spec.TraceToken != "" {
		switch backend {
		case BackendELF:
			return nil, report, nil, fmt.Errorf("--backend elf: %w", errPerRun)
		case BackendAuto:
			why = "auto: " + errPerRun.Error()
			backend = BackendBCC
		}
	}
	switch backend {
	case BackendELF:
		b, err := prepareELF(spec, tree, rel)
		if err != nil {
			return nil, report, nil, fmt.Errorf("--backend elf: %w", err)
		}
		prog, report, err := openELF(spec, b, cache)
		if err != nil {
			return nil, report, nil, fmt.Errorf("--backend elf: %w", err)
		}
		return prog, report, nil, nil
	case BackendAuto:
		b, perr := prepareELF(spec, tree, rel)
		if perr != nil {
			why = "auto: not elf: " + firstLine(perr.Error())
			break
		}
		obj, _, gerr := cache.Get(b.inputs.Key())
		if errors.Is(gerr, trust.ErrUntrusted) {
			return nil, report, nil, gerr
		}
		if gerr == nil {
			prog, err := loadELF(obj, spec.PerfTables)
			if err == nil {
				return prog, BackendReport{Backend: BackendELF, Why: "auto: a cached object", Cache: "hit", Key: b.inputs.Key()}, nil, nil
			}
			why = "auto: the cached object did not load: " + firstLine(err.Error())
			break
		}
		why = "auto: no cached ELF object yet; compiling one in the background for the next run"
		fill = func(ctx context.Context) error {
			_, _, err := b.object(ctx, cache)
			return err
		}
	}
	mod, err := compile(spec.Name, spec.Source, spec.CFlags)
	if err != nil {
		return nil, report, nil, err
	}
	return &bccProgram{mod: mod}, BackendReport{Backend: BackendBCC, Why: why}, fill, nil
}

func openELF(spec Spec, b *elfBuild, cache Cache) (program, BackendReport, error) {
	obj, status, err := b.object(context.Background(), cache)
	if err != nil {
		return nil, BackendReport{}, err
	}
	prog, err := loadELF(obj, spec.PerfTables)
	if err != nil {
		return nil, BackendReport{}, err
	}
	report := BackendReport{Backend: BackendELF, Why: "compiled ahead of time, loaded by gobpf/elf", Cache: status, Key: b.inputs.Key()}
	return prog, report, nil
}

// errPerRun refuses the object cache to a program that carries a trace
// token: it is new at every start.
var errPerRun = errors.New("its trace lines carry a token made for each run, so it is compiled by libbcc at every start and never cached")

// NewTraceToken returns a fresh random token for Spec.TraceToken: 16 hex
// digits, which no other program can guess.
func NewTraceToken() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("trace token: %w", err)
	}
	return "evtrace-" + hex.EncodeToString(b[:]), nil
}

// CompileResult is what Compile did.
type CompileResult struct {
	Key    string
	Status string // "hit", or how the object was built
	Path   string // the cached object
}

// Compile puts spec's ELF object into the cache (evtrace compile) without
// loading it; an object already there is checked and kept.
func Compile(spec Spec) (CompileResult, error) {
	if spec.TraceToken != "" {
		return CompileResult{}, errPerRun
	}
	rel, err := kernel.Release()
	if err != nil {
		return CompileResult{}, err
	}
	tree, err := findSpecHeaders(spec, rel)
	if err != nil {
		return CompileResult{}, err
	}
	b, err := prepareELF(spec, tree, rel)
	if err != nil {
		return CompileResult{}, err
	}
	cache := spec.cache()
	_, status, err := b.object(context.Background(), cache)
	if err != nil {
		return CompileResult{}, err
	}
	key := b.inputs.Key()
	return CompileResult{Key: key, Status: status, Path: filepath.Join(cache.Dir, key+".o")}, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// tracepointNames lists the tracepoints the probes attach to.
func tracepointNames(probes []Probe) []string {
	var names []string
	for _, p := range probes {
		if p.Kind == Tracepoint {
			names = append(names, p.Target)
		}
	}
	return names
}
