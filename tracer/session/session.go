// Package session opens a probe and runs it: it checks the machine, finds
// the kernel headers, has a backend (injected: backend.Set) compile, load
// and attach the program, opens its outputs (perf rings, trace pipe) and
// hands what they read to the caller's handler until the context ends,
// then drains them exactly. It prints nothing and holds no backend of its
// own: it builds and tests without cgo.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/perf"
	"github.com/evtrace/evtrace/tracer/ringbuf"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// NewTraceToken returns a fresh random token for Spec.TraceToken: 16 hex
// digits, which no other program can guess.
func NewTraceToken() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("trace token: %w", err)
	}
	return "evtrace-" + hex.EncodeToString(b[:]), nil
}

// Spec describes a BPF program to compile, load and attach.
type Spec struct {
	Name   string   // for messages, e.g. "listen.c"
	Source string   // the final C text
	CFlags []string // extra compiler flags
	Probes []backend.Probe
	// USDT probes to attach (through libbcc's USDT API: bcc backend only).
	USDT       []backend.USDT
	PerfTables []string // BPF_PERF_OUTPUT tables to read
	TracePipe  bool     // read bpf_trace_printk output from trace_pipe
	PerfPages  int      // pages per CPU for each perf ring (power of two, at most perf.MaxPages); 0: perf.DefaultPages
	PerfWakeup int      // records per reader wakeup, or perf.WakeupWatermark; 0: perf.DefaultWakeup
	// ProbeLimit is the most kprobes the Probes' patterns may expand to;
	// 0: DefaultProbeLimit.
	ProbeLimit int
	// TraceToken, when set, marks the program's own trace_pipe lines: each
	// message starts with it and a space (the probe prints it; make one
	// with NewTraceToken). Run passes on those lines without the token and
	// counts all others as foreign (ForeignTraceLines): other programs'
	// bpf_trace_printk output shares the pipe. A program with a token
	// differs at every start, so it is compiled by bcc, never cached.
	TraceToken string

	// KernelSource names a kernel headers tree (--kernel-source); empty:
	// $BCC_KERNEL_SOURCE, then where libbcc looks by itself.
	KernelSource string
	// AutoAttach adds, after the compile, a probe for every function named
	// by bcc's conventions (kprobe__FUNC, tracepoint__CAT__EVENT, ...; see
	// ProbeForFunction), as bcc's BPF(text=...) does.
	AutoAttach bool
	// AutoPerf reads every table that the program submits perf events to,
	// and every ring buffer (BPF_RINGBUF_OUTPUT) it has.
	AutoPerf bool

	// Backend compiles and loads the program; "" is backend.Auto.
	Backend backend.Choice
	// CacheDir holds the ELF backend's objects; "": DefaultCacheDir.
	CacheDir string
	// Dialect says the source is written in evtrace's probe dialect
	// (probes/evtrace.h), so the ELF backend can compile it too.
	Dialect bool

	// BeforeAttach, when set, is called once the program is loaded and
	// its outputs are open, before any probe is attached: an error there
	// (a table that cannot be decoded, say) ends Open with nothing
	// attached.
	BeforeAttach func(*Session) error

	// AnyHeaders allows, when the running kernel's headers are missing,
	// those of another release: for programs whose struct reads do not
	// depend on the headers' layouts (BTF offsets, tracepoint arguments).
	AnyHeaders bool
}

// Handler receives what a Session reads. Functions may be nil. They are
// called from the goroutine that called Run, one at a time.
type Handler struct {
	// Sample is one record of the named perf table or ring buffer. data
	// is only valid during the call.
	Sample func(table string, data []byte)
	// Trace is one trace_pipe line.
	Trace func(tracepipe.Line)
	// Lost reports records the kernel dropped: source is a table name or
	// "trace_pipe". The kernel reports a perf ring's losses with the next
	// record that fits in that CPU's ring, and trace_pipe's with its next
	// line, so a count may arrive late.
	Lost func(source string, count uint64)
	// Flush is called when Run has handed over everything read so far
	// and is about to wait: the moment to write out buffered output.
	Flush func()
}

// Session is a compiled program, attached to the kernel.
type Session struct {
	spec    Spec
	headers headers.Tree
	prog    backend.Program
	report  backend.Report
	readers []*perf.Reader
	rings   []*ringbuf.Reader
	pipe    *tracepipe.Pipe

	probes   []backend.Probe // attached
	patterns []PatternResult // what each kprobe pattern attached
	stale    []string        // stale kprobes removed by Open
	staleErr error           // why removing them failed

	fillCancel context.CancelFunc // stops the background ELF compile
	fillDone   chan struct{}      // closed when it has ended
	fillErr    error

	mu          sync.Mutex
	closed      bool
	running     bool
	runCancel   context.CancelFunc // ends Run
	runDone     chan struct{}      // closed when Run has returned
	lossesExact bool               // see LossesExact
	foreign     atomic.Uint64      // see ForeignTraceLines
}

// Open checks the machine, compiles the program, loads it, attaches its
// probes and opens its outputs. Nothing is left attached when it fails.
func Open(backends backend.Set, spec Spec) (*Session, error) {
	if spec.PerfPages == 0 {
		spec.PerfPages = perf.DefaultPages
	}
	if err := checkFirst(spec); err != nil {
		return nil, err
	}
	probes, patterns, err := expandPatterns(spec.Probes, kernel.TraceableFunctions, spec.ProbeLimit)
	if err != nil {
		return nil, err
	}
	if spec.Probes, err = resolveUprobes(probes); err != nil {
		return nil, err
	}
	rel, err := kernel.Release()
	if err != nil {
		return nil, err
	}
	tree, err := findSpecHeaders(spec, rel)
	if err != nil {
		return nil, err
	}
	s := &Session{spec: spec, headers: tree, patterns: patterns}
	if usesKprobes(spec.Probes) {
		// Best effort: a failure here does not stop this run.
		s.stale, s.staleErr = kernel.RemoveStaleKprobes("/proc")
	}
	if spec.TracePipe {
		if s.pipe, err = tracepipe.Open(); err != nil {
			return nil, err
		}
	}
	var fill func(context.Context) error
	if s.prog, s.report, fill, err = openProgram(backends, spec, tree, rel); err != nil {
		s.Close()
		return nil, err
	}
	// The outputs open before the probes attach: no event is missed, and
	// BeforeAttach sees them.
	if err := s.openPerfTables(); err != nil {
		s.Close()
		return nil, err
	}
	if spec.BeforeAttach != nil {
		if err := spec.BeforeAttach(s); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.attach(); err != nil {
		s.Close()
		return nil, err
	}
	if fill != nil {
		s.startCacheFill(fill)
	}
	return s, nil
}

// checkFirst refuses, before anything is compiled, what cannot work: a
// perf ring size the kernel cannot map, a user who is not root, a probe
// whose target this kernel lacks.
func checkFirst(spec Spec) error {
	if err := perf.CheckPages(spec.PerfPages); err != nil {
		return fmt.Errorf("perf buffer pages %w", err)
	}
	if err := perf.CheckMemory(spec.PerfPages); err != nil {
		return fmt.Errorf("perf buffer: %w", err)
	}
	if err := kernel.CheckRoot(); err != nil {
		return err
	}
	if err := checkUSDT(spec.USDT); err != nil {
		return err
	}
	return checkProbes(spec.Probes)
}

// attach attaches the spec's probes and, with AutoAttach, one for every
// function of the program named by bcc's conventions.
func (s *Session) attach() error {
	probes := s.spec.Probes
	if s.spec.AutoAttach {
		prefix := conventions.SyscallPrefix(kernel.HasSymbol)
		for _, fn := range s.prog.FunctionNames() {
			if p, ok := conventions.ProbeForFunction(fn, prefix); ok && !hasProgram(probes, fn) {
				probes = append(probes, p)
			}
		}
		if err := checkProbes(probes); err != nil {
			return err
		}
	}
	if u, ok := s.prog.(backend.USDTProgram); ok {
		probes = append(probes, u.USDTProbes()...)
	}
	if len(probes) == 0 {
		return conventions.ErrNothingToAttach(s.spec.Name)
	}
	var attached []backend.Probe
	for _, p := range probes {
		err := s.prog.Attach(p)
		if err != nil && p.Pattern == "" {
			return err
		}
		if err != nil {
			// As bcc's attach_kprobe(event_re=...): a function of the
			// list that cannot be probed is skipped and reported.
			r := patternFor(s.patterns, p)
			if r.FirstErr == nil {
				r.FirstErr = err
			}
			r.Failed = append(r.Failed, p.Target)
			continue
		}
		attached = append(attached, p)
	}
	for _, r := range s.patterns {
		if r.Attached() == 0 {
			return fmt.Errorf("%s %s: none of the %d functions it matches could be probed: %w", r.Probe.Kind, r.Probe.Target, r.Matched, r.FirstErr)
		}
	}
	s.probes = attached
	return nil
}

// openPerfTables opens a reader for each of the spec's perf tables and,
// with AutoPerf, for every other table the program submits to (not its
// BPF_PERF_ARRAYs: hardware counters, not output).
func (s *Session) openPerfTables() error {
	tables := s.spec.PerfTables
	if s.spec.AutoPerf {
		counters := conventions.PerfArrays(s.spec.Source)
		for _, name := range s.prog.PerfTables() {
			if !slices.Contains(tables, name) && !slices.Contains(counters, name) {
				tables = append(tables, name)
			}
		}
	}
	for _, name := range tables {
		if err := s.openPerf(name); err != nil {
			return err
		}
	}
	if s.spec.AutoPerf {
		for _, m := range s.prog.Maps() {
			if m.Type != unix.BPF_MAP_TYPE_RINGBUF {
				continue
			}
			r, err := ringbuf.Open(m.Name, m.FD)
			if err != nil {
				return err
			}
			s.rings = append(s.rings, r)
		}
	}
	return nil
}

// startCacheFill compiles the ELF object for the next run in the
// background: clang runs as a child process while events flow; Close
// stops it if it has not finished.
func (s *Session) startCacheFill(fill func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	s.fillCancel = cancel
	s.fillDone = make(chan struct{})
	go func() {
		defer close(s.fillDone)
		s.fillErr = fill(ctx)
	}()
}

// findSpecHeaders finds the headers tree for spec: the running kernel's,
// or another release's when spec.AnyHeaders allows it.
func findSpecHeaders(spec Spec, rel string) (headers.Tree, error) {
	search := headers.Search{
		Explicit: spec.KernelSource,
		Env:      os.Getenv("BCC_KERNEL_SOURCE"),
		Release:  rel,
	}
	tree, err := headers.Find(search)
	if errors.Is(err, headers.ErrNoHeaders) && spec.AnyHeaders && search.Explicit == "" && search.Env == "" {
		other, oerr := headers.OtherRelease("/lib/modules", rel, headers.DefaultCache)
		if oerr == nil {
			return other, nil
		}
		err = fmt.Errorf("%w; nor other usable headers: %v", err, oerr)
	}
	return tree, err
}

// Backend says which backend compiled and loaded the program, and why.
func (s *Session) Backend() backend.Report { return s.report }

// WaitCacheFill waits for the background compile of the ELF object that
// the auto backend starts when the cache has none, and returns its error;
// it returns nil at once when there is none.
func (s *Session) WaitCacheFill() error {
	if s.fillDone == nil {
		return nil
	}
	<-s.fillDone
	return s.fillErr
}

// Headers says which kernel headers the program was compiled against.
func (s *Session) Headers() headers.Tree { return s.headers }

// StaleKprobesRemoved names the kprobe events of dead bcc processes that
// Open removed from kprobe_events.
// The error says why removing failed, if it did; it does not stop the run.
func (s *Session) StaleKprobesRemoved() ([]string, error) { return s.stale, s.staleErr }

// Probes returns what Open attached.
func (s *Session) Probes() []backend.Probe { return s.probes }

// Patterns says what each kprobe pattern of the spec attached to.
func (s *Session) Patterns() []PatternResult { return s.patterns }

// PerfTables returns the names of the perf tables the session reads.
func (s *Session) PerfTables() []string {
	names := make([]string, len(s.readers))
	for i, r := range s.readers {
		names[i] = r.Table()
	}
	return names
}

// RingTables returns the names of the ring buffers the session reads.
func (s *Session) RingTables() []string {
	names := make([]string, len(s.rings))
	for i, r := range s.rings {
		names[i] = r.Table()
	}
	return names
}

// RingStat is what a ring buffer's reader knows of its fill: the kernel
// counts no drops in a ring buffer (a full ring fails the program's
// ringbuf_output or ringbuf_reserve, which only the program sees).
type RingStat struct {
	Table string
	Size  int // bytes
	Peak  int // most bytes seen waiting in the ring when the reader woke
}

// RingStats returns each ring buffer's RingStat, after Run.
func (s *Session) RingStats() []RingStat {
	stats := make([]RingStat, len(s.rings))
	for i, r := range s.rings {
		stats[i] = RingStat{Table: r.Table(), Size: r.Size(), Peak: r.Peak()}
	}
	return stats
}

// PerfFields returns libbcc's description of the struct submitted to a
// perf table or a ring buffer ("name#type" per field: libbcc records the
// struct passed to perf_submit, ringbuf_output and ringbuf_reserve); see
// NewDecoder.
func (s *Session) PerfFields(table string) []string { return s.prog.PerfFields(table) }

func hasProgram(probes []backend.Probe, program string) bool {
	for _, p := range probes {
		if p.Program == program {
			return true
		}
	}
	return false
}

func usesKprobes(probes []backend.Probe) bool {
	for _, p := range probes {
		if p.Kind == backend.Kprobe || p.Kind == backend.Kretprobe {
			return true
		}
	}
	return false
}

func checkProbes(probes []backend.Probe) error {
	kprobesChecked := false
	for _, p := range probes {
		switch p.Kind {
		case backend.Kprobe, backend.Kretprobe:
			if !kprobesChecked {
				if err := kernel.CheckKprobes(); err != nil {
					return err
				}
				kprobesChecked = true
			}
			// Fail before the (slow) compile when the function does not
			// exist; a function that exists but cannot be probed is
			// reported by the attach. A pattern's functions come from
			// the kernel's own list.
			if p.Pattern != "" {
				continue
			}
			if found, err := kernel.LookupSymbol(p.Target); err == nil && !found {
				return fmt.Errorf("%s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, kernel.ErrNoFunction)
			}
		case backend.Tracepoint:
			if err := kernel.CheckTracepoint(p.Target); err != nil {
				return err
			}
		case backend.RawTracepoint:
		case backend.Uprobe, backend.Uretprobe:
			if _, err := resolveUprobe(p); err != nil {
				return err
			}
		case backend.PerfEvent:
			if (p.Freq == 0) == (p.Period == 0) {
				return fmt.Errorf("perf %s: want freq=N or period=N", p.Target)
			}
		case backend.Fentry, backend.Fexit:
			if _, err := os.Stat(kernel.BTF); err != nil {
				return fmt.Errorf("%s %s: fentry/fexit need the kernel's BTF (%s)", p.Kind, p.Target, kernel.BTF)
			}
			if found, err := kernel.LookupSymbol(p.Target); err == nil && !found {
				return fmt.Errorf("%s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, kernel.ErrNoFunction)
			}
		default:
			return fmt.Errorf("probe %s: unknown kind %v", p.Program, p.Kind)
		}
	}
	return nil
}

func (s *Session) openPerf(name string) error {
	fd, err := s.prog.MapFD(name)
	if err != nil {
		return fmt.Errorf("perf table %s: %v in %s (want BPF_PERF_OUTPUT(%s))", name, err, s.spec.Name, name)
	}
	wakeup := s.spec.PerfWakeup
	if wakeup == 0 {
		wakeup = perf.DefaultWakeup
	}
	r, err := perf.Open(name, fd, s.spec.PerfPages, wakeup)
	if err != nil {
		return err
	}
	s.readers = append(s.readers, r)
	return nil
}

// Run reads the program's outputs and calls h until ctx is done or Close
// is called. Then it ends exactly: it disconnects the perf rings from the
// program, hands over every record still in them, and reports through
// h.Lost the drops the kernel counted but had not reported yet (see
// LossesExact), before it returns nil; or it returns the first read error.
// Run may be called once.
func (s *Session) Run(ctx context.Context, h Handler) error {
	ctx, err := s.beginRun(ctx)
	if err != nil {
		return err
	}
	defer s.endRun()
	in := s.startReading()
	d := &dispatch{s: s, h: h, in: in}
	runErr := d.loop(ctx)
	s.stopReading(in)
	d.drain()
	if err := d.finishRings(); err != nil && runErr == nil {
		runErr = err
	}
	if h.Flush != nil {
		h.Flush()
	}
	return runErr
}

// beginRun marks the session running, once, and returns the context that
// ends Run: ctx's, which Close also cancels.
func (s *Session) beginRun(ctx context.Context) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running {
		return nil, errors.New("tracer: session closed or already running")
	}
	s.running = true
	ctx, s.runCancel = context.WithCancel(ctx)
	s.runDone = make(chan struct{})
	return ctx, nil
}

// endRun ends Run's context and tells a waiting Close that Run has
// returned.
func (s *Session) endRun() {
	s.runCancel()
	close(s.runDone)
}

// batch is what a table's reader hands over: a perf.Batch or a
// ringbuf.Batch.
type batch interface {
	Table() string
	Lost() uint64
	Each(func([]byte))
	Release()
}

// reading is Run's reader goroutines, one per perf table, one per ring
// buffer and one for the trace pipe, and the channels they hand over what
// they read through.
type reading struct {
	batches chan *perf.Batch
	rings   chan *ringbuf.Batch
	lines   chan []tracepipe.Line
	errs    chan error    // a reader's error ends Run
	stop    chan struct{} // closed to stop the trace pipe's reader
	wg      sync.WaitGroup
}

// startReading starts a reader for each perf ring and the trace pipe.
func (s *Session) startReading() *reading {
	in := &reading{
		batches: make(chan *perf.Batch, 2*len(s.readers)),
		rings:   make(chan *ringbuf.Batch, 2*len(s.rings)),
		lines:   make(chan []tracepipe.Line, 16),
		errs:    make(chan error, len(s.readers)+len(s.rings)+1),
		stop:    make(chan struct{}),
	}
	for _, r := range s.readers {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := r.Run(in.batches); err != nil {
				in.errs <- err
			}
		}()
	}
	for _, r := range s.rings {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := r.Run(in.rings); err != nil {
				in.errs <- err
			}
		}()
	}
	if s.pipe != nil {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := s.pipe.Run(in.lines, in.stop); err != nil {
				in.errs <- err
			}
		}()
	}
	return in
}

// stopReading stops the readers and waits for them to end. What they read
// before they stopped stays in in's channels; the perf rings keep what
// nobody read yet.
func (s *Session) stopReading(in *reading) {
	close(in.stop)
	for _, r := range s.readers {
		r.Interrupt()
	}
	for _, r := range s.rings {
		r.Interrupt()
	}
	if s.pipe != nil {
		s.pipe.Close()
	}
	in.wg.Wait()
}

// dispatch hands what Run's readers read to the caller's handler.
type dispatch struct {
	s  *Session
	h  Handler
	in *reading
}

// loop hands over what the readers read until ctx is done or a reader
// fails, and returns that reader's error.
func (d *dispatch) loop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-d.in.errs:
			return err
		case b := <-d.in.batches:
			d.batch(b)
			d.flush()
		case b := <-d.in.rings:
			d.batch(b)
			d.flush()
		case ls := <-d.in.lines:
			d.traceLines(ls)
			d.flush()
		}
	}
}

// flush calls h.Flush when nothing read is waiting to be handed over.
func (d *dispatch) flush() {
	if d.h.Flush != nil && len(d.in.batches) == 0 && len(d.in.rings) == 0 && len(d.in.lines) == 0 {
		d.h.Flush()
	}
}

// batch hands over a table's batch: its losses, then its records.
func (d *dispatch) batch(b batch) {
	if b.Lost() > 0 && d.h.Lost != nil {
		d.h.Lost(b.Table(), b.Lost())
	}
	if d.h.Sample != nil {
		table := b.Table()
		b.Each(func(data []byte) { d.h.Sample(table, data) })
	}
	b.Release()
}

// traceLines hands over trace_pipe lines: losses, and with a trace token
// only the program's own lines, without it; it counts the others.
func (d *dispatch) traceLines(ls []tracepipe.Line) {
	token := d.s.spec.TraceToken
	for _, l := range ls {
		switch {
		case l.Lost > 0:
			if d.h.Lost != nil {
				d.h.Lost("trace_pipe", l.Lost)
			}
		case token != "":
			msg, ours := strings.CutPrefix(l.Message, token+" ")
			if !ours || l.Task == "" {
				d.s.foreign.Add(1)
				continue
			}
			l.Message = msg
			if d.h.Trace != nil {
				d.h.Trace(l)
			}
		case d.h.Trace != nil:
			d.h.Trace(l)
		}
	}
}

// drain hands over, once the readers have stopped, what they read before
// they stopped.
func (d *dispatch) drain() {
	for len(d.in.batches) > 0 {
		d.batch(<-d.in.batches)
	}
	for len(d.in.rings) > 0 {
		d.batch(<-d.in.rings)
	}
	for len(d.in.lines) > 0 {
		d.traceLines(<-d.in.lines)
	}
}

// finishRings hands over what is still in the ring buffers and the perf
// rings, reports the
// drops the kernel counted but had not reported, records whether those
// counts are exact (LossesExact), and returns the first error.
func (d *dispatch) finishRings() error {
	var first error
	exact := true
	for _, r := range d.s.rings {
		if err := r.Finish(func(b *ringbuf.Batch) { d.batch(b) }); err != nil && first == nil {
			first = err
		}
	}
	for _, r := range d.s.readers {
		unreported, ok, err := r.Finish(func(b *perf.Batch) { d.batch(b) })
		if err != nil && first == nil {
			first = err
		}
		exact = exact && ok
		if unreported > 0 && d.h.Lost != nil {
			d.h.Lost(r.Table(), unreported)
		}
	}
	d.s.mu.Lock()
	d.s.lossesExact = exact
	d.s.mu.Unlock()
	return first
}

// LossesExact says, after Run has returned, whether the drops it reported
// are all the kernel made. The kernel reports a ring's drops with the
// next record it writes there, so drops after a ring's last record are
// reported only by kernels that count them (PERF_FORMAT_LOST, Linux >=
// 6.0); on older kernels such drops may be missing from the count.
func (s *Session) LossesExact() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lossesExact || len(s.readers) == 0
}

// ForeignTraceLines counts the trace_pipe lines Run has read that were not
// the program's own (see Spec.TraceToken).
func (s *Session) ForeignTraceLines() uint64 { return s.foreign.Load() }

// Close detaches every probe, frees the perf rings and closes the trace
// pipe. It is safe to call more than once, from any goroutine but the
// handler's: while Run runs, Close ends it and waits for it to return
// before freeing anything Run reads.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel, done := s.runCancel, s.runDone
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	var errs []error
	if s.fillCancel != nil {
		s.fillCancel()
		<-s.fillDone
	}
	for _, r := range s.readers {
		r.Interrupt()
		r.Close()
	}
	for _, r := range s.rings {
		r.Close()
	}
	if s.pipe != nil {
		s.pipe.Close()
	}
	if s.prog != nil {
		errs = append(errs, s.prog.Close())
	}
	return errors.Join(errs...)
}

// Maps lists the program's maps (bcc's tables, BPF_HASH and the like); the
// ELF backend's are not listed.
func (s *Session) Maps() []backend.MapInfo { return s.prog.Maps() }
