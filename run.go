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
	"time"

	"github.com/urfave/cli/v2"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/runner"
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
	opts, format, traceFmt, err := parseProgramFlags(c, name, source)
	if err != nil || c.Bool("ebpf") {
		if err == nil {
			_, err = io.WriteString(c.App.Writer, source)
		}
		return err
	}
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mountTracing(stderr)
	opts.Note = func(s string) { fmt.Fprintf(stderr, "evtrace: %s\n", s) }
	opened := whileOpening(ctx, stop, stderr)
	r, err := runner.Open(backends(), opts)
	opened()
	if err != nil {
		return err
	}
	defer r.Close()
	reportStale(stderr, r)
	out := newSink(stdout, stop)
	p := output.NewRecordPrinter(out.w, format, r.Tables(), traceFmt)
	if r.TraceOnly() {
		out.done(p.TraceHeader())
	}
	out.flush()
	fmt.Fprintf(stderr, "evtrace: %s\n", r.StartNote())
	st, runErr := r.Run(ctx, runner.Output{
		Record: func(table string, fields []layout.Field, vals []any) { out.done(p.Record(table, fields, vals)) },
		Trace:  func(l tracepipe.Line, wall time.Time) { out.done(p.Trace(l, wall)) },
		Lost:   func(source string, n uint64) { fmt.Fprintf(stderr, "evtrace: lost %d events (%s)\n", n, source) },
		Flush:  out.flush,
	})
	out.flush()
	closeErr := r.Close()
	if r.Silent() {
		fmt.Fprintln(stderr, "evtrace: detached; its maps were not printed")
	} else {
		fmt.Fprintln(stderr, summary(listen.Stats{Events: st.Events, Lost: st.Lost, LossesExact: st.LossesExact}))
	}
	return errors.Join(runErr, closeErr, out.err)
}

// parseProgramFlags reads the flags of run and tutorial.
func parseProgramFlags(c *cli.Context, name, source string) (opts runner.Options, format output.Format, traceFmt string, err error) {
	if format, err = output.ParseFormat(c.String("output")); err != nil {
		return opts, format, "", usageError{err}
	}
	traceFmt = c.String("format")
	if traceFmt != "" {
		if format == output.JSON {
			return opts, format, "", usagef("--format selects trace_pipe fields for text output; -o json prints every field")
		}
		if err := output.ValidTraceFormat(traceFmt); err != nil {
			return opts, format, "", usageError{err}
		}
	}
	if n := c.Int("count"); n < 0 {
		return opts, format, "", usagef("--count %d: want a positive number", n)
	}
	if d := c.Duration("duration"); d < 0 {
		return opts, format, "", usagef("--duration %v: want a positive duration", d)
	}
	pages, wakeup, err := parsePerfFlags(c)
	if err != nil {
		return opts, format, "", err
	}
	var cflags []string
	for _, d := range c.StringSlice("define") {
		name, _, _ := strings.Cut(d, "=")
		name, _, _ = strings.Cut(name, "(") // a function-like macro: NAME(a,b)=...
		if !probes.IsIdent(name) {
			return opts, format, "", usagef("-D %q: want NAME or NAME=VALUE, NAME a C identifier", d)
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
			return opts, format, "", usageError{err}
		}
		explicit = append(explicit, p)
	}
	return runner.Options{
		Name: name, Source: source, CFlags: cflags, Probes: explicit,
		PerfPages: pages, PerfWakeup: wakeup, KernelSource: c.String("kernel-source"),
		Count: uint64(c.Int("count")), Duration: c.Duration("duration"),
	}, format, traceFmt, nil
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
