// Package runner is the runtime of evtrace run (and tutorial): it opens any
// probe by bcc's conventions, builds a decoder for each perf table it
// submits to, reads them and the trace pipe, applies the limits (--count,
// --duration), stops at the first record that does not fit its table, and
// counts what it delivered and what the kernel lost. It prints nothing:
// records, trace lines, losses and notes reach the caller through Output.
package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/session"
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
	Count        uint64        // stop after this many events; 0: no limit
	Duration     time.Duration // stop after this long; 0: no limit
	// Note receives what the user should know while the program opens
	// (headers of another release, tables printed as raw bytes), in order.
	Note func(string)
}

// Runner is a program opened for evtrace run.
type Runner struct {
	opts     Options
	sess     *session.Session
	decoders map[string]*layout.Decoder
	clock    kernel.WallClock
	printk   bool
}

// Open compiles, loads and attaches the program and builds its decoders.
func Open(backends backend.Set, opts Options) (*Runner, error) {
	note := opts.Note
	if note == nil {
		note = func(string) {}
	}
	printk := conventions.CallsTracePrintk(opts.Source)
	s, err := session.Open(backends, session.Spec{
		Name:         opts.Name,
		Source:       opts.Source,
		CFlags:       opts.CFlags,
		Probes:       opts.Probes,
		AutoAttach:   true,
		AutoPerf:     true,
		TracePipe:    printk,
		PerfPages:    opts.PerfPages,
		PerfWakeup:   opts.PerfWakeup,
		KernelSource: opts.KernelSource,
		AnyHeaders:   true, // with a note
	})
	if err != nil {
		return nil, err
	}
	if h := s.Headers(); h.OtherRelease {
		note(fmt.Sprintf("warning: compiled against %s: struct layouts from these headers may not match the running kernel", h.Desc))
	}
	decoders, err := tableDecoders(s, opts.Source, note)
	if err != nil {
		s.Close()
		return nil, err
	}
	clock, err := kernel.NewWallClock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Runner{opts: opts, sess: s, decoders: decoders, clock: clock, printk: printk}, nil
}

// tableDecoders builds a decoder for each perf table the session reads:
// from the struct libbcc recorded for it and its declaration in source,
// or raw bytes when libbcc recorded none.
func tableDecoders(s interface {
	PerfTables() []string
	PerfFields(string) []string
}, source string, note func(string)) (map[string]*layout.Decoder, error) {
	decoders := map[string]*layout.Decoder{}
	for _, table := range s.PerfTables() {
		fields := s.PerfFields(table)
		if len(fields) == 0 {
			// libbcc records only structs passed to perf_submit.
			note(fmt.Sprintf("perf table %s: no struct recorded for it (perf_submit of a non-struct, or never submitted to): printing its records as hex bytes", table))
			decoders[table] = layout.RawDecoder()
			continue
		}
		d, err := layout.SourceDecoder(source, fields)
		if err != nil {
			return nil, fmt.Errorf("perf table %s: %w", table, err)
		}
		d.Trailing = layout.SubmitsSkb(source, table)
		decoders[table] = d
	}
	return decoders, nil
}

// Tables names the perf tables read, in the session's order.
func (r *Runner) Tables() []string { return r.sess.PerfTables() }

// Headers says which kernel headers the program was compiled against.
func (r *Runner) Headers() headers.Tree { return r.sess.Headers() }

// StaleKprobesRemoved: see session.Session.StaleKprobesRemoved.
func (r *Runner) StaleKprobesRemoved() ([]string, error) { return r.sess.StaleKprobesRemoved() }

// TraceOnly says the program's only output is the trace pipe: its lines
// are printed under the trace header.
func (r *Runner) TraceOnly() bool { return len(r.decoders) == 0 && r.printk }

// Silent says the program has no output evtrace run reads (no perf
// table, no bpf_trace_printk): what it records stays in its maps.
func (r *Runner) Silent() bool { return len(r.decoders) == 0 && !r.printk }

// StartNote is the line that says what is attached and how long it runs.
func (r *Runner) StartNote() string {
	var attached []string
	for _, p := range r.sess.Probes() {
		attached = append(attached, p.Kind.String()+" "+p.Target)
	}
	if !r.Silent() {
		return fmt.Sprintf("tracing (%s); Ctrl-C to stop", strings.Join(attached, ", "))
	}
	until := "until Ctrl-C"
	if r.opts.Duration > 0 {
		until = "for " + r.opts.Duration.String() + " (or until Ctrl-C)"
	}
	return fmt.Sprintf("%s\nevtrace: attached (%s); running %s, printing nothing", noOutputNote(r.opts.Name, r.sess.Maps()), strings.Join(attached, ", "), until)
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
	return fmt.Sprintf("%s has no perf output and calls no bpf_trace_printk (the outputs evtrace run reads): its results are in its maps (%s), which evtrace run does not print yet", name, strings.Join(names, ", "))
}

// Output receives what Run reads. Functions may be nil; they are called
// one at a time.
type Output struct {
	Record func(table string, fields []layout.Field, vals []any)
	Trace  func(l tracepipe.Line, wall time.Time)
	Lost   func(source string, n uint64)
	Flush  func()
}

// Stats is what a run delivered and lost.
type Stats struct {
	Events      uint64
	Lost        uint64
	LossesExact bool // see session.Session.LossesExact
}

// Run reads the program's outputs until ctx is done, the duration has
// passed, the count is reached, or a record does not fit its table's
// layout (that error ends the run and is returned).
func (r *Runner) Run(ctx context.Context, out Output) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.opts.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, r.opts.Duration)
		defer stop()
	}
	var st Stats
	var decodeErr error // the first record that does not fit its table's layout ends the run
	limit := r.opts.Count
	full := func() bool { return limit > 0 && st.Events >= limit }
	counted := func() {
		st.Events++
		if full() {
			cancel()
		}
	}
	runErr := r.sess.Run(ctx, session.Handler{
		Sample: func(table string, data []byte) {
			if full() || decodeErr != nil {
				return
			}
			d := r.decoders[table]
			vals, err := d.Decode(data)
			if err != nil {
				decodeErr = fmt.Errorf("perf table %s: %w", table, err)
				cancel()
				return
			}
			if out.Record != nil {
				out.Record(table, d.Fields, vals)
			}
			counted()
		},
		Trace: func(l tracepipe.Line) {
			if full() {
				return
			}
			if out.Trace != nil {
				out.Trace(l, r.clock.Wall(l.Time))
			}
			counted()
		},
		Lost: func(source string, n uint64) {
			st.Lost += n
			if out.Lost != nil {
				out.Lost(source, n)
			}
		},
		Flush: out.Flush,
	})
	st.LossesExact = r.sess.LossesExact()
	if decodeErr != nil {
		runErr = errors.Join(decodeErr, runErr)
	}
	return st, runErr
}

// Close detaches the program; see session.Session.Close.
func (r *Runner) Close() error { return r.sess.Close() }
