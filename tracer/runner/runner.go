// Package runner is the runtime of evtrace run (and tutorial): it opens any
// probe by bcc's conventions, builds a decoder for each perf table it
// submits to, reads them and the trace pipe, reads its data maps every
// interval and at exit, applies the limits (--count, --duration), stops at
// the first record that does not fit its table, and counts what it
// delivered and what the kernel lost. It prints nothing: records, trace
// lines, maps, losses and notes reach the caller through Output.
package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/readable"
	"github.com/evtrace/evtrace/tracer/session"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// Options is what evtrace run's flags say about a program.
type Options struct {
	Name         string   // for messages, e.g. "probe.c"
	Source       string   // the C text
	CFlags       []string // -D and --cflags
	Probes       []backend.Probe
	PerfPages    int
	PerfWakeup   int
	KernelSource string
	// ProbeLimit is the most kprobes the --attach patterns may attach
	// (session.Spec.ProbeLimit).
	ProbeLimit int
	// Count stops the run after this many events, or, for a program
	// that reports only through maps, after this many interval prints;
	// 0: no limit.
	Count    uint64
	Duration time.Duration // stop after this long; 0: no limit
	// Maps says which data maps to read and how (--maps, --hist, ...).
	Maps tables.Config
	// Interval reads the maps every Interval (and clears them unless
	// Maps.Cumulative), besides at exit; 0: at exit only.
	Interval time.Duration
	// Pid limits the uprobes to one process (--pid); USDT probes carry
	// their own.
	Pid int
	// USDT probes to attach.
	USDT []backend.USDT
	// Stacks says which record and key members are stack ids
	// (--stack; bcc's naming convention otherwise).
	Stacks stacks.Config
	// Fields formats members of the events for people (--field); each
	// must name a member of some table's struct, of a type its format
	// fits, or Open fails before anything is attached.
	Fields []readable.Spec
	// Note receives what the user should know while the program opens
	// (headers of another release, tables printed as raw bytes), in order.
	Note func(string)
}

// Runner is a program opened for evtrace run.
type Runner struct {
	opts     Options
	sess     *session.Session
	decoders map[string]*layout.Decoder
	readable *readable.Formatter
	maps     *tables.Set
	clock    kernel.WallClock
	printk   bool
	stacks   *stackState
}

// Open compiles, loads and attaches the program and builds its decoders.
func Open(backends backend.Set, opts Options) (*Runner, error) {
	note := opts.Note
	if note == nil {
		note = func(string) {}
	}
	printk := conventions.CallsTracePrintk(opts.Source)
	probes, err := userProbes(opts)
	if err != nil {
		return nil, err
	}
	var decoders map[string]*layout.Decoder
	s, err := session.Open(backends, session.Spec{
		Name:         opts.Name,
		Source:       opts.Source,
		CFlags:       opts.CFlags,
		Probes:       probes,
		USDT:         opts.USDT,
		AutoAttach:   true,
		AutoPerf:     true,
		TracePipe:    printk,
		PerfPages:    opts.PerfPages,
		PerfWakeup:   opts.PerfWakeup,
		KernelSource: opts.KernelSource,
		ProbeLimit:   opts.ProbeLimit,
		AnyHeaders:   true, // with a note
		BeforeAttach: func(s *session.Session) error {
			// What cannot be decoded or formatted is refused before
			// anything is attached.
			var err error
			if decoders, err = tableDecoders(s, s.RingTables(), opts.Source, note); err != nil {
				return err
			}
			return checkFields(opts.Fields, decoders, append(s.PerfTables(), s.RingTables()...), s.RingTables())
		},
	})
	if err != nil {
		return nil, err
	}
	if h := s.Headers(); h.OtherRelease {
		note(fmt.Sprintf("warning: compiled against %s: struct layouts from these headers may not match the running kernel", h.Desc))
	}
	for _, p := range s.Patterns() {
		note(p.String())
	}
	r := &Runner{opts: opts, sess: s, printk: printk, decoders: decoders}
	if err := r.prepare(note); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// prepare builds what reads the opened program's maps, the clock and
// the formats of --field.
func (r *Runner) prepare(note func(string)) error {
	var err error
	cfg := r.opts.Maps
	cfg.Source = r.opts.Source
	if r.maps, err = tables.Open(r.sess.Maps(), cfg); err != nil {
		return err
	}
	if r.MapsOnly() && r.opts.Count > 0 && r.opts.Interval == 0 {
		return fmt.Errorf("--count %d: %s reports only through its maps (no events to count); with -i, --count is the number of prints", r.opts.Count, r.opts.Name)
	}
	if err := r.prepareStacks(note); err != nil {
		return err
	}
	if r.opts.Interval > 0 && r.maps.Len() == 0 {
		return fmt.Errorf("-i %v: %s has no data maps to print every interval", r.opts.Interval, r.opts.Name)
	}
	if r.clock, err = kernel.NewWallClock(); err != nil {
		return err
	}
	r.readable, err = readable.NewFormatter(r.clock, r.opts.Fields)
	return err
}

// Readable formats the members named by Options.Fields.
func (r *Runner) Readable() *readable.Formatter { return r.readable }

// checkFields refuses a --field whose member no table has, or whose
// format does not fit the member's type in one of the tables that have
// it.
func checkFields(specs []readable.Spec, decoders map[string]*layout.Decoder, tables, rings []string) error {
	seen := map[string]bool{}
	for _, spec := range specs {
		what := "--field " + spec.Member + "=" + string(spec.Format)
		if seen[spec.Member] {
			return fmt.Errorf("%s: member %s is given a format twice", what, spec.Member)
		}
		seen[spec.Member] = true
		found := false
		var members []string
		for _, table := range tables {
			for _, f := range decoders[table].Fields {
				members = append(members, table+"."+f.Name)
				if f.Name != spec.Member {
					continue
				}
				found = true
				if err := readable.Check(spec.Format, f); err != nil {
					kind := "perf table"
					if slices.Contains(rings, table) {
						kind = "ring buffer"
					}
					return fmt.Errorf("%s: %s %s: %w", what, kind, table, err)
				}
			}
		}
		if !found {
			if len(members) == 0 {
				return fmt.Errorf("%s: the program has no perf table or ring buffer whose members it could format", what)
			}
			return fmt.Errorf("%s: no table has a member %s (members: %s)", what, spec.Member, strings.Join(members, ", "))
		}
	}
	return nil
}

// tableDecoders builds a decoder for each perf table and ring buffer the
// session reads: from the struct libbcc recorded for it and its
// declaration in source, or raw bytes when libbcc recorded none.
func tableDecoders(s interface {
	PerfTables() []string
	PerfFields(string) []string
}, rings []string, source string, note func(string)) (map[string]*layout.Decoder, error) {
	decoders := map[string]*layout.Decoder{}
	for i, table := range append(s.PerfTables(), rings...) {
		what, submit := "perf table", "perf_submit"
		if i >= len(s.PerfTables()) {
			what, submit = "ring buffer", "ringbuf_output or ringbuf_reserve"
		}
		fields := s.PerfFields(table)
		if len(fields) == 0 {
			// libbcc records only structs passed to perf_submit,
			// ringbuf_output and ringbuf_reserve.
			note(fmt.Sprintf("%s %s: no struct recorded for it (%s of a non-struct, or never submitted to): printing its records as hex bytes", what, table, submit))
			decoders[table] = layout.RawDecoder()
			continue
		}
		d, err := layout.SourceDecoder(source, fields)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, table, err)
		}
		d.Trailing = layout.SubmitsSkb(source, table)
		decoders[table] = d
	}
	return decoders, nil
}

// tableKind says what a table is, for messages.
func (r *Runner) tableKind(table string) string {
	if slices.Contains(r.sess.RingTables(), table) {
		return "ring buffer"
	}
	return "perf table"
}

// Tables names the perf tables and ring buffers read, in the session's
// order.
func (r *Runner) Tables() []string { return append(r.sess.PerfTables(), r.sess.RingTables()...) }

// Headers says which kernel headers the program was compiled against.
func (r *Runner) Headers() headers.Tree { return r.sess.Headers() }

// StaleKprobesRemoved: see session.Session.StaleKprobesRemoved.
func (r *Runner) StaleKprobesRemoved() ([]string, error) { return r.sess.StaleKprobesRemoved() }

// Maps names the data maps read, in the order they print.
func (r *Runner) Maps() []string {
	if r.maps == nil {
		return nil
	}
	return r.maps.Names()
}

// TraceOnly says the program's only event output is the trace pipe: its
// lines are printed under the trace header.
func (r *Runner) TraceOnly() bool { return len(r.decoders) == 0 && r.printk }

// MapsOnly says the program reports only through its data maps (no perf
// table, no bpf_trace_printk): they are printed every interval and at
// exit, and there are no events.
func (r *Runner) MapsOnly() bool {
	return len(r.decoders) == 0 && !r.printk && r.maps != nil && r.maps.Len() > 0
}

// Silent says the program has no output evtrace run reads: no perf
// table, no bpf_trace_printk, no data map.
func (r *Runner) Silent() bool {
	return len(r.decoders) == 0 && !r.printk && (r.maps == nil || r.maps.Len() == 0)
}

// StartNote is the line that says what is attached and how long it runs.
func (r *Runner) StartNote() string {
	attached := describeProbes(r.sess.Probes(), r.opts.USDT)
	until := "until Ctrl-C"
	if r.opts.Duration > 0 {
		until = "for " + r.opts.Duration.String() + " (or until Ctrl-C)"
	}
	switch {
	case r.Silent():
		return fmt.Sprintf("%s\nevtrace: attached (%s); running %s, printing nothing", noOutputNote(r.opts.Name, r.sess.Maps()), strings.Join(attached, ", "), until)
	case r.maps.Len() == 0:
		return fmt.Sprintf("tracing (%s); Ctrl-C to stop", strings.Join(attached, ", "))
	}
	when := "at exit"
	if r.opts.Interval > 0 {
		when = "every " + r.opts.Interval.String() + " and at exit"
	}
	return fmt.Sprintf("tracing (%s), running %s; maps %s printed %s", strings.Join(attached, ", "), until, strings.Join(r.maps.Names(), ", "), when)
}

// noOutputNote says that a program has no output evtrace run reads, and
// where its results are instead.
func noOutputNote(name string, maps []backend.MapInfo) string {
	if len(maps) == 0 {
		return name + " has no perf output, calls no bpf_trace_printk and has no maps: nothing it does can be printed"
	}
	names := make([]string, len(maps))
	for i, m := range maps {
		names[i] = m.String()
	}
	return fmt.Sprintf("%s has no perf output, calls no bpf_trace_printk and has no data maps (hash, array and their per-CPU and LRU kinds): nothing it does can be printed; its maps are %s", name, strings.Join(names, ", "))
}

// Output receives what Run reads. Functions may be nil; they are called
// one at a time.
type Output struct {
	Record func(table string, fields []layout.Field, vals []any)
	Trace  func(l tracepipe.Line, wall time.Time)
	// Maps receives each read of the maps, every interval and at exit.
	Maps  func([]tables.Snapshot)
	Lost  func(source string, n uint64)
	Flush func()
}

// Stats is what a run delivered and lost.
type Stats struct {
	Events      uint64
	Prints      uint64 // reads of the maps handed to Output.Maps
	Lost        uint64
	LossesExact bool // see session.Session.LossesExact
	// Rings is how full each ring buffer came to be: the kernel counts
	// no drops in them.
	Rings []session.RingStat
}

// Run reads the program's outputs until ctx is done, the duration has
// passed, the count is reached, or a record does not fit its table's
// layout (that error ends the run and is returned). The maps are read
// every interval and once more at the end; when the duration is a multiple
// of the interval, the end's read is the last interval's.
func (r *Runner) Run(ctx context.Context, out Output) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	if r.opts.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, r.opts.Duration)
		defer stop()
	}
	run := &running{r: r, out: out, cancel: cancel}
	ticks := r.startTicks(ctx, start, &run.mu, run.printMaps)
	runErr := r.sess.Run(ctx, run.handler())
	cancel()
	if finalPrint := <-ticks; finalPrint && run.err == nil && r.maps.Len() > 0 {
		run.printMaps(time.Now(), true)
	}
	run.st.LossesExact = r.sess.LossesExact()
	run.st.Rings = r.sess.RingStats()
	return run.st, errors.Join(run.err, runErr)
}

// running is one Run's state. Output's functions are called under mu, one
// at a time: the session's readers and the interval's reads of the maps
// come from different goroutines.
type running struct {
	r      *Runner
	out    Output
	cancel context.CancelFunc
	mu     sync.Mutex
	st     Stats
	err    error // the first record that does not fit, or map that cannot be read: it ends the run
}

func (run *running) fail(err error) {
	if run.err == nil {
		run.err = err
	}
	run.cancel()
}

// full says the count of events is reached.
func (run *running) full() bool {
	return run.r.opts.Count > 0 && run.st.Events >= run.r.opts.Count
}

func (run *running) counted() {
	run.st.Events++
	if run.full() {
		run.cancel()
	}
}

// printMaps reads the maps (for the last time: without clearing them) and
// hands them over; false when the run is to end (an error, or the count
// of prints reached).
func (run *running) printMaps(now time.Time, last bool) bool {
	read := run.r.maps.Read
	if last {
		read = run.r.maps.ReadLast
	}
	snaps, err := read(now)
	if err != nil {
		run.fail(err)
		return false
	}
	run.r.stacks.mapKeys(snaps)
	if run.out.Maps != nil {
		run.out.Maps(snaps)
	}
	if run.out.Flush != nil {
		run.out.Flush()
	}
	run.st.Prints++
	if run.r.MapsOnly() && run.r.opts.Count > 0 && run.st.Prints >= run.r.opts.Count {
		run.cancel()
		return false
	}
	return true
}

// handler decodes and hands over what the session reads.
func (run *running) handler() session.Handler {
	return session.Handler{
		Sample: func(table string, data []byte) {
			run.mu.Lock()
			defer run.mu.Unlock()
			if run.full() || run.err != nil {
				return
			}
			d := run.r.decoders[table]
			vals, err := d.Decode(data)
			if err != nil {
				run.fail(fmt.Errorf("%s %s: %w", run.r.tableKind(table), table, err))
				return
			}
			run.r.stacks.record(table, d.Fields, vals)
			if run.out.Record != nil {
				run.out.Record(table, d.Fields, vals)
			}
			run.counted()
		},
		Trace: func(l tracepipe.Line) {
			run.mu.Lock()
			defer run.mu.Unlock()
			if run.full() {
				return
			}
			if run.out.Trace != nil {
				run.out.Trace(l, run.r.clock.Wall(l.Time))
			}
			run.counted()
		},
		Lost: func(source string, n uint64) {
			run.mu.Lock()
			defer run.mu.Unlock()
			run.st.Lost += n
			if run.out.Lost != nil {
				run.out.Lost(source, n)
			}
		},
		Flush: func() {
			run.mu.Lock()
			defer run.mu.Unlock()
			if run.out.Flush != nil {
				run.out.Flush()
			}
		},
	}
}

// startTicks reads the maps every interval from start until ctx is done,
// in a goroutine, under mu. The channel it returns says, once the
// goroutine has ended, whether the end of the run still needs a read of
// the maps: not when the count of prints ended it, nor when the last
// interval ended at the deadline (the end's read would repeat it).
func (r *Runner) startTicks(ctx context.Context, start time.Time, mu *sync.Mutex, printMaps func(now time.Time, last bool) bool) <-chan bool {
	done := make(chan bool, 1)
	if r.opts.Interval <= 0 || r.maps.Len() == 0 {
		done <- true
		return done
	}
	deadline, hasDeadline := start.Add(r.opts.Duration), r.opts.Duration > 0
	go func() {
		for k := time.Duration(1); ; k++ {
			next := start.Add(k * r.opts.Interval)
			if hasDeadline && !next.Before(deadline) {
				done <- true // the end's read is this interval's
				return
			}
			timer := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				timer.Stop()
				done <- true
				return
			case now := <-timer.C:
				mu.Lock()
				more := printMaps(now, false)
				mu.Unlock()
				if !more {
					done <- false
					return
				}
			}
		}
	}()
	return done
}

// Close releases the maps and detaches the program; see
// session.Session.Close.
func (r *Runner) Close() error {
	var err error
	if r.maps != nil {
		err = r.maps.Close()
		r.maps = nil
	}
	err = errors.Join(err, r.stacks.close())
	r.stacks = nil
	return errors.Join(err, r.sess.Close())
}
