package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/session"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// The flags that evtrace run and evtrace tutorial share.
func programFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "define", Aliases: []string{"D"}, Usage: "pass `DEF` (NAME or NAME=VALUE) to the compiler as -D (repeatable)"},
		&cli.StringFlag{Name: "cflags", Usage: "more compiler `FLAGS`, separated by spaces"},
		&cli.StringSliceFlag{Name: "attach", Usage: "attach a program explicitly: `SPEC` is KIND:TARGET=PROGRAM, KIND one of kprobe, kretprobe, tracepoint (TARGET CATEGORY:EVENT), raw_tracepoint, fentry, fexit (repeatable)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "`FORMAT`: text or json (one object per event)"},
		&cli.StringFlag{Name: "format", Usage: "print trace_pipe lines as `FMT`, bcc's trace_print style: {0} task, {1} pid, {2} cpu, {3} flags, {4} time, {5} message"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after `DURATION` (e.g. 10s; 0: no limit)"},
		&cli.IntFlag{Name: "count", Usage: "stop after `N` events (0: no limit)"},
		&cli.BoolFlag{Name: "ebpf", Usage: "print the C text and exit"},
		&cli.StringFlag{Name: "kernel-source", Usage: "kernel headers tree `DIR` (passed to bcc as BCC_KERNEL_SOURCE)"},
	}, perfFlags()...)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "compile a C file with bcc, attach it by bcc's naming conventions, print what it reports",
		UsageText: "evtrace run FILE.c [options]",
		Description: `The runtime for any probe, as bcc's BPF(src_file=...) is. Functions are
attached by their names: kprobe__FUNC, kretprobe__FUNC (sys_NAME becomes the
kernel's syscall function, e.g. __x64_sys_NAME), tracepoint__CATEGORY__EVENT
(what TRACEPOINT_PROBE(CATEGORY, EVENT) defines), raw_tracepoint__EVENT,
kfunc__FUNC and kretfunc__FUNC (KFUNC_PROBE, KRETFUNC_PROBE: fentry, fexit);
other functions are left alone, or attached with --attach.

Every BPF_PERF_OUTPUT table the program submits to is read, and each event
is decoded from the struct passed to perf_submit (libbcc records its
members; bitfields and packing are read from the struct's definition in
the file): columns headed by the field names, or -o json. If the program
calls bpf_trace_printk, the trace pipe is read and printed. A program with
neither keeps its results in maps, which evtrace run does not print yet.

Examples:
   sudo evtrace run getppid.c                     # auto-attach, print events
   sudo evtrace run probe.c -D TARGET_PID=1234    # a define for the C
   sudo evtrace run probe.c --attach kprobe:inet_listen=on_listen
   sudo evtrace run hello.c --format '{1} {5}'    # pid and message of each printk
   sudo evtrace run probe.c -o json --count 10    # ten events as JSON, then exit`,
		Flags:        programFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("run takes one C file, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			src, err := readSource(path)
			if err != nil {
				return err
			}
			return runProgram(c, filepath.Base(path), src)
		},
	}
}

func tutorialCommand() *cli.Command {
	var list strings.Builder
	for i, s := range probes.Tutorial() {
		fmt.Fprintf(&list, "   %d %-8s %s\n", i+1, s.Name, s.Summary)
	}
	return &cli.Command{
		Name:      "tutorial",
		Usage:     `the steps of "How to turn any syscall into an event", runnable`,
		UsageText: "evtrace tutorial [STEP [--source] [options]]",
		Description: "Each step is a small C probe on inet_listen, run by the same runner as\n" +
			"`evtrace run`. Without STEP, the steps are listed; --source prints a\n" +
			"step's C with comments that explain it. Steps (by name or number):\n\n" +
			list.String() + "\nExamples:\n   evtrace tutorial\n   evtrace tutorial hello --source\n   sudo evtrace tutorial 3",
		Flags: append(programFlags(),
			&cli.BoolFlag{Name: "source", Usage: "print the step's C and exit"}),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			steps := probes.Tutorial()
			if c.NArg() == 0 {
				for i, s := range steps {
					fmt.Fprintf(c.App.Writer, "%d %-8s %s\n", i+1, s.Name, s.Summary)
				}
				return nil
			}
			if c.NArg() > 1 {
				return usagef("tutorial takes one step, got %d arguments", c.NArg())
			}
			name := c.Args().First()
			for i, s := range steps {
				if name == s.Name || name == fmt.Sprint(i+1) {
					if c.Bool("source") {
						_, err := io.WriteString(c.App.Writer, s.Source)
						return err
					}
					return runProgram(c, s.Name+".c", s.Source)
				}
			}
			return usagef("unknown tutorial step %q (see evtrace tutorial)", name)
		},
	}
}

// runProgram compiles source as `evtrace run` does and prints its events.
func runProgram(c *cli.Context, name, source string) error {
	format, err := output.ParseFormat(c.String("output"))
	if err != nil {
		return usageError{err}
	}
	traceFmt := c.String("format")
	if traceFmt != "" {
		if format == output.JSON {
			return usagef("--format selects trace_pipe fields for text output; -o json prints every field")
		}
		if err := output.ValidTraceFormat(traceFmt); err != nil {
			return usageError{err}
		}
	}
	if n := c.Int("count"); n < 0 {
		return usagef("--count %d: want a positive number", n)
	}
	if d := c.Duration("duration"); d < 0 {
		return usagef("--duration %v: want a positive duration", d)
	}
	pages, wakeup, err := parsePerfFlags(c)
	if err != nil {
		return err
	}
	var cflags []string
	for _, d := range c.StringSlice("define") {
		name, _, _ := strings.Cut(d, "=")
		name, _, _ = strings.Cut(name, "(") // a function-like macro: NAME(a,b)=...
		if !probes.IsIdent(name) {
			return usagef("-D %q: want NAME or NAME=VALUE, NAME a C identifier", d)
		}
		cflags = append(cflags, "-D"+d)
	}
	cflags = append(cflags, strings.Fields(c.String("cflags"))...)
	var explicit []backend.Probe
	prefix := ""
	for _, a := range c.StringSlice("attach") {
		if prefix == "" {
			prefix = conventions.SyscallPrefix(kernel.HasSymbol)
		}
		p, err := conventions.ParseAttachSpec(a, prefix)
		if err != nil {
			return usageError{err}
		}
		explicit = append(explicit, p)
	}
	if c.Bool("ebpf") {
		_, err := io.WriteString(c.App.Writer, source)
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mountTracing(c.App.ErrWriter)
	opened := whileOpening(ctx, stop, c.App.ErrWriter)
	s, err := session.Open(backends(), session.Spec{
		Name:         name,
		Source:       source,
		CFlags:       cflags,
		Probes:       explicit,
		AutoAttach:   true,
		AutoPerf:     true,
		TracePipe:    conventions.CallsTracePrintk(source),
		PerfPages:    pages,
		PerfWakeup:   wakeup,
		KernelSource: c.String("kernel-source"),
		AnyHeaders:   true, // with a warning below
	})
	opened()
	if err != nil {
		return err
	}
	defer s.Close()
	if h := s.Headers(); h.OtherRelease {
		fmt.Fprintf(c.App.ErrWriter, "evtrace: warning: compiled against %s: struct layouts from these headers may not match the running kernel\n", h.Desc)
	}
	decoders := map[string]*layout.Decoder{}
	for _, table := range s.PerfTables() {
		fields := s.PerfFields(table)
		if len(fields) == 0 {
			// libbcc records only structs passed to perf_submit.
			fmt.Fprintf(c.App.ErrWriter, "evtrace: perf table %s: no struct recorded for it (perf_submit of a non-struct, or never submitted to): printing its records as hex bytes\n", table)
			decoders[table] = layout.RawDecoder()
			continue
		}
		d, err := layout.SourceDecoder(source, fields)
		if err != nil {
			return fmt.Errorf("perf table %s: %w", table, err)
		}
		d.Trailing = layout.SubmitsSkb(source, table)
		decoders[table] = d
	}
	clock, err := kernel.NewWallClock()
	if err != nil {
		return err
	}

	stdout, stderr := c.App.Writer, c.App.ErrWriter
	reportStale(stderr, s)
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	out := newSink(stdout, stop)
	p := output.NewRecordPrinter(out.w, format, s.PerfTables(), traceFmt)
	printk := conventions.CallsTracePrintk(source)
	// Without a perf table or bpf_trace_printk, what the program records
	// stays in its maps: it still runs (its maps fill), but evtrace says so
	// and prints no header for output that cannot come.
	silent := len(decoders) == 0 && !printk
	if len(decoders) == 0 && printk {
		out.done(p.TraceHeader())
	}
	out.flush()
	var attached []string
	for _, pr := range s.Probes() {
		attached = append(attached, pr.Kind.String()+" "+pr.Target)
	}
	if silent {
		until := "until Ctrl-C"
		if d := c.Duration("duration"); d > 0 {
			until = "for " + d.String() + " (or until Ctrl-C)"
		}
		fmt.Fprintf(stderr, "evtrace: %s\n", noOutputNote(name, s.Maps()))
		fmt.Fprintf(stderr, "evtrace: attached (%s); running %s, printing nothing\n", strings.Join(attached, ", "), until)
	} else {
		fmt.Fprintf(stderr, "evtrace: tracing (%s); Ctrl-C to stop\n", strings.Join(attached, ", "))
	}

	var events, lost uint64
	var decodeErr error // the first record that does not fit its table's layout ends the run
	limit := uint64(c.Int("count"))
	counted := func() {
		events++
		if limit > 0 && events >= limit {
			stop()
		}
	}
	runErr := s.Run(ctx, session.Handler{
		Sample: func(table string, data []byte) {
			if (limit > 0 && events >= limit) || decodeErr != nil {
				return
			}
			d := decoders[table]
			vals, err := d.Decode(data)
			if err != nil {
				decodeErr = fmt.Errorf("perf table %s: %w", table, err)
				stop()
				return
			}
			out.done(p.Record(table, d.Fields, vals))
			counted()
		},
		Trace: func(l tracepipe.Line) {
			if limit > 0 && events >= limit {
				return
			}
			out.done(p.Trace(l, clock.Wall(l.Time)))
			counted()
		},
		Lost: func(source string, n uint64) {
			lost += n
			fmt.Fprintf(stderr, "evtrace: lost %d events (%s)\n", n, source)
		},
		Flush: out.flush,
	})
	if decodeErr != nil {
		runErr = errors.Join(decodeErr, runErr)
	}
	out.flush()
	closeErr := s.Close()
	if silent {
		fmt.Fprintln(stderr, "evtrace: detached; its maps were not printed")
	} else {
		fmt.Fprintln(stderr, summary(listen.Stats{Events: events, Lost: lost, LossesExact: s.LossesExact()}))
	}
	return errors.Join(runErr, closeErr, out.err)
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

// sink writes output through a buffer, flushed whenever the tracer has
// handed over all it has read (a batch of events, not each one), and ends
// the run (stop) when the output is gone. A reader that closed the pipe
// (evtrace ... | head) ends it as Ctrl-C does, without an error: it is how
// the user said to stop.
type sink struct {
	w    *bufio.Writer
	stop func()
	err  error
	gone bool // the reader closed the pipe
}

func newSink(w io.Writer, stop func()) *sink {
	return &sink{w: bufio.NewWriterSize(w, 64*1024), stop: stop}
}

// flush writes out what is buffered.
func (s *sink) flush() { s.done(s.w.Flush()) }

// done records the result of a write.
func (s *sink) done(err error) {
	if err == nil || s.err != nil || s.gone {
		return
	}
	if errors.Is(err, syscall.EPIPE) {
		s.gone = true
	} else {
		s.err = fmt.Errorf("write output: %w", err)
	}
	s.stop()
}
