package tracer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/iovisor/gobpf/bcc"
)

// ProbeKind is how a program is attached to the kernel.
type ProbeKind int

const (
	Kprobe        ProbeKind = iota // entry of a kernel function
	Kretprobe                      // return of a kernel function
	Tracepoint                     // a static tracepoint, "category:event"
	RawTracepoint                  // a raw tracepoint, "event"
	Fentry                         // BPF trampoline at a function's entry (BTF)
	Fexit                          // BPF trampoline at its return, with its arguments
)

func (k ProbeKind) String() string {
	switch k {
	case Kprobe:
		return "kprobe"
	case Kretprobe:
		return "kretprobe"
	case Tracepoint:
		return "tracepoint"
	case RawTracepoint:
		return "raw_tracepoint"
	case Fentry:
		return "fentry"
	case Fexit:
		return "fexit"
	}
	return fmt.Sprintf("ProbeKind(%d)", int(k))
}

// Probe attaches the C function Program to Target.
type Probe struct {
	Kind    ProbeKind
	Target  string // kernel function, or "category:event" for a tracepoint
	Program string // name of the C function in the source
}

// DefaultPerfPages is the size of each per-CPU perf ring, in pages. bcc uses
// 8; 64 (256 KiB with 4 KiB pages) rides out bursts of listen() calls and
// of cheaper events without loss.
const DefaultPerfPages = 64

// Spec describes a BPF program to compile, load and attach.
type Spec struct {
	Name       string   // for messages, e.g. "listen.c"
	Source     string   // the final C text
	CFlags     []string // extra compiler flags
	Probes     []Probe
	PerfTables []string // BPF_PERF_OUTPUT tables to read
	TracePipe  bool     // read bpf_trace_printk output from trace_pipe
	PerfPages  int      // pages per CPU for each perf ring (power of two); 0: DefaultPerfPages

	// KernelSource names a kernel headers tree (--kernel-source); empty:
	// $BCC_KERNEL_SOURCE, then where libbcc looks by itself.
	KernelSource string
	// AutoAttach adds, after the compile, a probe for every function named
	// by bcc's conventions (kprobe__FUNC, tracepoint__CAT__EVENT, ...; see
	// ProbeForFunction), as bcc's BPF(text=...) does.
	AutoAttach bool
	// AutoPerf reads every table that the program submits perf events to.
	AutoPerf bool

	// AnyHeaders allows, when the running kernel's headers are missing,
	// those of another release: for programs whose struct reads do not
	// depend on the headers' layouts (BTF offsets, tracepoint arguments).
	AnyHeaders bool
}

// Handler receives what a Session reads. Functions may be nil. They are
// called from the goroutine that called Run, one at a time.
type Handler struct {
	// Sample is one perf buffer record of the named table. data is only
	// valid during the call.
	Sample func(table string, data []byte)
	// Trace is one trace_pipe line.
	Trace func(TraceLine)
	// Lost reports records the kernel dropped: source is a table name or
	// "trace_pipe". The kernel reports a perf ring's losses with the next
	// record that fits in that CPU's ring, and trace_pipe's with its next
	// line, so a count may arrive late.
	Lost func(source string, count uint64)
}

// Session is a compiled program, attached to the kernel.
type Session struct {
	spec    Spec
	headers Headers
	mod     *bcc.Module
	tables  []*perfTable
	pipe    *tracePipe

	probes   []Probe  // attached
	stale    []string // stale kprobes removed by Open
	staleErr error    // why removing them failed

	mu      sync.Mutex
	closed  bool
	running bool
}

type perfTable struct {
	name    string
	pm      *bcc.PerfMap
	samples chan []byte
	lost    chan uint64
}

// Open checks the machine, compiles the program, loads it, attaches its
// probes and opens its outputs. Nothing is left attached when it fails.
func Open(spec Spec) (*Session, error) {
	if err := checkRoot(); err != nil {
		return nil, err
	}
	if err := checkProbes(spec.Probes); err != nil {
		return nil, err
	}
	rel, err := KernelRelease()
	if err != nil {
		return nil, err
	}
	search := HeaderSearch{
		Explicit: spec.KernelSource,
		Env:      os.Getenv("BCC_KERNEL_SOURCE"),
		Release:  rel,
	}
	headers, err := FindHeaders(search)
	if errors.Is(err, ErrNoHeaders) && spec.AnyHeaders && search.Explicit == "" && search.Env == "" {
		other, oerr := OtherReleaseHeaders("/lib/modules", rel, DefaultHeadersCache)
		if oerr == nil {
			headers, err = other, nil
		} else {
			err = fmt.Errorf("%w; nor other usable headers: %v", err, oerr)
		}
	}
	if err != nil {
		return nil, err
	}
	if headers.Dir != "" {
		// libbcc reads the tree's location from its environment.
		os.Setenv("BCC_KERNEL_SOURCE", headers.Dir)
	}
	if spec.PerfPages == 0 {
		spec.PerfPages = DefaultPerfPages
	}
	if p := spec.PerfPages; p < 1 || p&(p-1) != 0 {
		return nil, fmt.Errorf("perf buffer pages: %d is not a power of two", p)
	}

	s := &Session{spec: spec, headers: headers}
	if usesKprobes(spec.Probes) {
		// Best effort: a failure here does not stop this run.
		s.stale, s.staleErr = removeStaleKprobes("/proc")
	}
	if spec.TracePipe {
		if s.pipe, err = openTracePipe(); err != nil {
			return nil, err
		}
	}
	if s.mod, err = compile(spec.Name, spec.Source, spec.CFlags); err != nil {
		s.Close()
		return nil, err
	}
	probes := spec.Probes
	if spec.AutoAttach {
		prefix := SyscallPrefix(KernelHasSymbol)
		for _, fn := range s.mod.FunctionNames() {
			if p, ok := ProbeForFunction(fn, prefix); ok && !hasProgram(probes, fn) {
				probes = append(probes, p)
			}
		}
		if err := checkProbes(probes); err != nil {
			s.Close()
			return nil, err
		}
	}
	if len(probes) == 0 {
		s.Close()
		return nil, fmt.Errorf("%s: nothing to attach: name a function kprobe__FUNC, kretprobe__FUNC, tracepoint__CATEGORY__EVENT (TRACEPOINT_PROBE) or raw_tracepoint__EVENT, or attach one explicitly", spec.Name)
	}
	for _, p := range probes {
		if err := s.attach(p); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.probes = probes
	tables := spec.PerfTables
	if spec.AutoPerf {
		for id := uint64(0); id < s.mod.TableSize(); id++ {
			name := s.mod.TableDesc(id)["name"].(string)
			if len(s.mod.PerfEventFields(name)) > 0 && !slices.Contains(tables, name) {
				tables = append(tables, name)
			}
		}
	}
	for _, name := range tables {
		if err := s.openPerf(name); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Headers says which kernel headers the program was compiled against.
func (s *Session) Headers() Headers { return s.headers }

// StaleKprobesRemoved names the kprobe events of dead bcc processes that
// Open removed from kprobe_events.
// The error says why removing failed, if it did; it does not stop the run.
func (s *Session) StaleKprobesRemoved() ([]string, error) { return s.stale, s.staleErr }

// Probes returns what Open attached.
func (s *Session) Probes() []Probe { return s.probes }

// PerfTables returns the names of the perf tables the session reads.
func (s *Session) PerfTables() []string {
	names := make([]string, len(s.tables))
	for i, t := range s.tables {
		names[i] = t.name
	}
	return names
}

// PerfFields returns libbcc's description of the struct submitted to a
// perf table ("name#type" per field); see NewDecoder.
func (s *Session) PerfFields(table string) []string { return s.mod.PerfEventFields(table) }

func hasProgram(probes []Probe, program string) bool {
	for _, p := range probes {
		if p.Program == program {
			return true
		}
	}
	return false
}

func usesKprobes(probes []Probe) bool {
	for _, p := range probes {
		if p.Kind == Kprobe || p.Kind == Kretprobe {
			return true
		}
	}
	return false
}

func checkProbes(probes []Probe) error {
	kprobesChecked := false
	for _, p := range probes {
		switch p.Kind {
		case Kprobe, Kretprobe:
			if !kprobesChecked {
				if err := checkKprobes(); err != nil {
					return err
				}
				kprobesChecked = true
			}
			// Fail before the (slow) compile when the function does not
			// exist; a function that exists but cannot be probed is
			// reported by the attach.
			if found, err := kernelHasSymbol(p.Target); err == nil && !found {
				return fmt.Errorf("%s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, ErrNoFunction)
			}
		case Tracepoint:
			if err := checkTracepoint(p.Target); err != nil {
				return err
			}
		case RawTracepoint:
		case Fentry, Fexit:
			if _, err := os.Stat(KernelBTF); err != nil {
				return fmt.Errorf("%s %s: fentry/fexit need the kernel's BTF (%s)", p.Kind, p.Target, KernelBTF)
			}
			if found, err := kernelHasSymbol(p.Target); err == nil && !found {
				return fmt.Errorf("%s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, ErrNoFunction)
			}
		default:
			return fmt.Errorf("probe %s: unknown kind %v", p.Program, p.Kind)
		}
	}
	return nil
}

func (s *Session) attach(p Probe) error {
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
		load(s.mod.LoadKprobe)
	case Tracepoint:
		load(s.mod.LoadTracepoint)
	case RawTracepoint:
		load(s.mod.LoadRawTracepoint)
	case Fentry, Fexit:
		load(s.mod.LoadTracing)
	}
	if err != nil {
		return err
	}

	var log string
	switch p.Kind {
	case Kprobe:
		log, err = captureStderrErr(func() error { return s.mod.AttachKprobe(p.Target, fd, -1) })
	case Kretprobe:
		log, err = captureStderrErr(func() error { return s.mod.AttachKretprobe(p.Target, fd, -1) })
	case Tracepoint:
		log, err = captureStderrErr(func() error { return s.mod.AttachTracepoint(p.Target, fd) })
	case RawTracepoint:
		log, err = captureStderrErr(func() error { return s.mod.AttachRawTracepoint(p.Target, fd) })
	case Fentry, Fexit:
		log, err = captureStderrErr(func() error { return s.mod.AttachKfunc(p.Program, fd) })
	}
	if err == nil {
		return nil
	}
	if p.Kind == Kprobe || p.Kind == Kretprobe {
		if found, kerr := kernelHasSymbol(p.Target); kerr == nil && !found {
			return fmt.Errorf("attach %s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, ErrNoFunction)
		}
	}
	if detail := firstDiagnostic(log); detail != "" {
		return fmt.Errorf("attach %s %s: %w: %s", p.Kind, p.Target, err, detail)
	}
	return fmt.Errorf("attach %s %s: %w", p.Kind, p.Target, err)
}

// captureStderrErr is captureStderr for functions that return an error.
func captureStderrErr(fn func() error) (string, error) {
	var ferr error
	log, cerr := captureStderr(func() { ferr = fn() })
	if ferr != nil {
		return log, ferr
	}
	return log, cerr
}

func (s *Session) openPerf(name string) error {
	id := s.mod.TableId(name)
	if uint64(id) >= s.mod.TableSize() {
		return fmt.Errorf("perf table %s: not declared in %s (want BPF_PERF_OUTPUT(%s))", name, s.spec.Name, name)
	}
	t := &perfTable{
		name:    name,
		samples: make(chan []byte, 4096),
		lost:    make(chan uint64, 64),
	}
	pm, err := bcc.InitPerfMapWithPageCnt(bcc.NewTable(id, s.mod), t.samples, t.lost, s.spec.PerfPages)
	if err != nil {
		return fmt.Errorf("perf table %s: %w", name, err)
	}
	t.pm = pm
	s.tables = append(s.tables, t)
	return nil
}

type sample struct {
	table *perfTable
	data  []byte
}

type lostCount struct {
	table *perfTable
	n     uint64
}

// Run reads the program's outputs and calls h until ctx is done, then stops
// every reader it started and returns nil; or it returns the first read
// error. Run may be called once.
func (s *Session) Run(ctx context.Context, h Handler) error {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return errors.New("tracer: session closed or already running")
	}
	s.running = true
	s.mu.Unlock()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	samples := make(chan sample, 1024)
	lost := make(chan lostCount, 64)
	for _, t := range s.tables {
		t.pm.Start()
		wg.Add(1)
		go func(t *perfTable) {
			defer wg.Done()
			forwardPerf(t, samples, lost, stop)
		}(t)
	}
	lines := make(chan TraceLine, 256)
	pipeErr := make(chan error, 1)
	if s.pipe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.pipe.run(lines, stop); err != nil {
				pipeErr <- err
			}
		}()
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-pipeErr:
			runErr = err
			break loop
		case sm := <-samples:
			if h.Sample != nil {
				h.Sample(sm.table.name, sm.data)
			}
		case lc := <-lost:
			if h.Lost != nil {
				h.Lost(lc.table.name, lc.n)
			}
		case l := <-lines:
			switch {
			case l.Lost > 0:
				if h.Lost != nil {
					h.Lost("trace_pipe", l.Lost)
				}
			case h.Trace != nil:
				h.Trace(l)
			}
		}
	}

	close(stop)
	for _, t := range s.tables {
		t.pm.Stop()
	}
	if s.pipe != nil {
		s.pipe.close()
	}
	wg.Wait()
	return runErr
}

// forwardPerf moves one table's records and loss counts onto the shared
// channels, so that Run has a fixed set of channels to select on.
func forwardPerf(t *perfTable, samples chan<- sample, lost chan<- lostCount, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case d := <-t.samples:
			select {
			case samples <- sample{t, d}:
			case <-stop:
				return
			}
		case n := <-t.lost:
			select {
			case lost <- lostCount{t, n}:
			case <-stop:
				return
			}
		}
	}
}

// Close detaches every probe, frees the perf rings and closes the trace
// pipe. It is safe to call more than once, and after Run has returned.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, t := range s.tables {
		t.pm.Close()
	}
	if s.pipe != nil {
		s.pipe.close()
	}
	if s.mod != nil {
		s.mod.Close()
	}
	return nil
}
