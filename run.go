package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strconv"
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
	"github.com/evtrace/evtrace/tracer/readable"
	"github.com/evtrace/evtrace/tracer/runner"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// The flags that evtrace run and evtrace tutorial share.
func programFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "define", Aliases: []string{"D"}, Usage: "pass `DEF` (NAME or NAME=VALUE) to the compiler as -D (repeatable)"},
		&cli.StringFlag{Name: "cflags", Usage: "more compiler `FLAGS`, separated by spaces"},
		&cli.StringSliceFlag{Name: "attach", Usage: "attach a program explicitly: `SPEC` is KIND:TARGET=PROGRAM, KIND one of kprobe, kretprobe, tracepoint (TARGET CATEGORY:EVENT), raw_tracepoint, fentry, fexit, uprobe and uretprobe (TARGET BINARY:SYMBOL, BINARY:SYMBOL+OFFSET or BINARY:0xADDR, BINARY a path or a library name such as c), or perf:TYPE:CONFIG:freq=N=PROGRAM (or period=N) to sample on every CPU (repeatable); a kprobe's TARGET may be a glob (vfs_*) or re:REGEX, attaching to every traceable function it matches"},
		&cli.IntFlag{Name: "probe-limit", Value: 1000, Usage: "attach at most `N` kprobes through --attach patterns (bcc's BCC_PROBE_LIMIT)"},
		&cli.StringSliceFlag{Name: "stack", Usage: "member MEMBER of the records or map keys holds stack ids of this kind, or none: `MEMBER=kernel|user|none[:TABLE]` (repeatable; default: bcc's names, *stack_id, user_/u_ for user stacks)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "`FORMAT`: text or json (one object per event)"},
		&cli.StringSliceFlag{Name: "field", Usage: "show event member MEMBER as `MEMBER=FORMAT`, FORMAT one of ipv4, ipv6, errno, hex, time (a bpf_ktime_get_ns stamp), ksym (kernel symbol+offset); JSON keeps the number and adds MEMBER_str (repeatable)"},
		&cli.StringFlag{Name: "format", Usage: "print trace_pipe lines as `FMT`, bcc's trace_print style: {0} task, {1} pid, {2} cpu, {3} flags, {4} time, {5} message"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after `DURATION` (e.g. 10s; 0: no limit)"},
		&cli.IntFlag{Name: "count", Usage: "stop after `N` events (0: no limit)"},
		&cli.BoolFlag{Name: "ebpf", Usage: "print the C text and exit"},
		&cli.StringFlag{Name: "kernel-source", Usage: "kernel headers tree `DIR` (passed to bcc as BCC_KERNEL_SOURCE)"},
	}, append(append(mapFlags(), perfFlags()...), userProbeFlags()...)...)
}

// mapFlags say which data maps evtrace run prints, when and how.
func mapFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "maps", Usage: "print only these data maps, in this order: `NAME,...` (default: every hash, array and their per-CPU and LRU kinds)"},
		&cli.StringFlag{Name: "interval", Aliases: []string{"i"}, Usage: "print the maps every `D` (a duration such as 500ms, or seconds), then clear them as bcc's tools do"},
		&cli.BoolFlag{Name: "cumulative", Usage: "keep the maps' contents after each print instead of clearing them"},
		&cli.StringSliceFlag{Name: "hist", Usage: "print map NAME as a log2 or linear histogram, or as a table: `NAME=MODE` (repeatable; default: BPF_HISTOGRAM maps, log2 when the program calls bpf_log2/bpf_log2l)"},
		&cli.StringSliceFlag{Name: "hist-label", Usage: "label histogram NAME's value column as bcc's tools do, e.g. dist=usecs: `NAME=LABEL` (repeatable; default: value)"},
		&cli.IntFlag{Name: "top", Usage: "print only the `N` largest entries of each table (0: all)"},
	}
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

User space: --attach uprobe:BINARY:SYMBOL=PROG (uretprobe: at its return),
SYMBOL+OFFSET, or a raw address 0xADDR, which is a virtual address of the
ELF file as nm and readelf print it (bcc's attach_uprobe(addr=...)), made
a file offset through the executable segment that holds it. BINARY is an
absolute path or a library name found as bcc finds it (c, pthread: the
dynamic linker's cache, then the usual directories). --usdt
BINARY:[PROVIDER:]PROBE=PROG attaches a USDT probe through libbcc's USDT
API (bpf_usdt_readarg reads its arguments); --pid PID limits uprobes and
USDT probes to one process, and BINARY may then be left out (or "pid") for
the process's own probes. A USDT probe with a semaphore is enabled only in
a process (--pid), as bcc 0.26 does it.

Every BPF_PERF_OUTPUT table the program submits to, and every
BPF_RINGBUF_OUTPUT ring buffer (Linux >= 5.8), is read, and each event is
decoded from the struct passed to perf_submit, ringbuf_output or
ringbuf_reserve (libbcc records its members; bitfields and packing are
read from the struct's definition in the file): columns headed by the
field names, or -o json. The kernel counts no drops in a ring buffer (a
full ring fails the program's output or reserve): at exit evtrace says
how full each ring came to be. --field MEMBER=FORMAT shows a member as an
address (ipv4: a u32 in network order, as bcc's tools read it; ipv6: 16
bytes), an errno name (-ENOENT), hex, a wall clock time (from
bpf_ktime_get_ns) or a kernel symbol (ksym: name+0xoff); a member no table
has, or a format its type does not fit, is refused before attaching. If
the program calls bpf_trace_printk, the trace pipe is read and printed.

Its data maps (BPF_HASH, BPF_ARRAY, BPF_HISTOGRAM, their per-CPU and LRU
kinds, BPF_TABLE of those) are printed at exit, and every -i, decoded from
the key and leaf types libbcc records; each print clears them, as bcc's
tools do, unless --cumulative. A BPF_HISTOGRAM whose key is a slot (or a
struct with a slot member: one histogram per value of the others) prints
as bcc's print_log2_hist when the program calls bpf_log2 or bpf_log2l,
else as print_linear_hist. Other maps print as columns sorted by value,
largest first; array entries that are zero are left out. With -o json,
one object per map per print. --count counts events; for a program that
reports only through maps, it is the number of -i prints.

--attach perf:TYPE:CONFIG:freq=N=PROG (or period=N) samples on every CPU,
as bcc's attach_perf_event: TYPE software, hardware, ... or a number,
CONFIG cpu-clock, cpu-cycles, ... or a number. Stack ids in records and
map keys (members named *stack_id; user_/u_ ones are user stacks; --stack
overrides) are read from the program's BPF_STACK_TRACE table and printed
as stacks under their event or entry: kernel frames from /proc/kallsyms,
user frames from the process's mappings and ELF symbols (records'
when read, maps' when the maps are read: an exited process's frames are
[unknown]); negative ids (-EFAULT: no such stack; -EEXIST, -ENOMEM: lost,
the table is too small) are explained.

Examples:
   sudo evtrace run getppid.c                     # auto-attach, print events
   sudo evtrace run probe.c -D TARGET_PID=1234    # a define for the C
   sudo evtrace run probe.c --attach kprobe:inet_listen=on_listen
   sudo evtrace run count.c --attach 'kprobe:vfs_*=do_count'   # every vfs_ function
   sudo evtrace run hello.c --format '{1} {5}'    # pid and message of each printk
   sudo evtrace run probe.c -o json --count 10    # ten events as JSON, then exit
   sudo evtrace run connect.c --field daddr=ipv4 --field ret=errno
   sudo evtrace run runqlat.c --hist-label dist=usecs -i 1s --count 5
   sudo evtrace run counts.c --maps counts --top 10 --duration 10s
   sudo evtrace run threadsnoop.c --attach uprobe:c:pthread_create=do_entry
   sudo evtrace run readline.c --attach uretprobe:/bin/bash:readline=printret
   sudo evtrace run calls.c --usdt /usr/bin/python3:python:function__entry=on_call --pid 1234
   sudo evtrace run profile.c --attach perf:software:cpu-clock:freq=49=on_sample --duration 5s`,
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
			return runProgram(c, filepath.Base(path), src, nil)
		},
	}
}

// runProgram compiles source as `evtrace run` does and prints its events.
// attached, if not nil, is called once the program is attached and
// returns what to call when its run has ended (the tutorial's second
// trace_pipe reader).
func runProgram(c *cli.Context, name, source string, attached func(*output.Status) (ended func())) error {
	opts, format, traceFmt, err := parseProgramFlags(c, name, source)
	if err != nil || c.Bool("ebpf") {
		if err == nil {
			_, err = io.WriteString(c.App.Writer, source)
		}
		return err
	}
	stdout, status := c.App.Writer, output.NewStatus(c.App.ErrWriter)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mountTracing(status)
	opts.Note = func(s string) { status.Say("%s", s) }
	opened := whileOpening(ctx, stop, status)
	r, err := runner.Open(backends(), opts)
	opened()
	if err != nil {
		return err
	}
	defer r.Close()
	reportStale(status, r)
	ended := func() {}
	if attached != nil {
		ended = attached(status)
	}
	out := newSink(stdout, stop)
	p := output.NewRecordPrinter(out.w, format, r.Tables(), traceFmt)
	p.Readable(opts.Fields, r.Readable())
	mp := &output.MapPrinter{W: out.w, Format: format, Stamp: opts.Interval > 0}
	if r.TraceOnly() {
		out.done(p.TraceHeader())
	}
	out.flush()
	status.Say("%s", r.StartNote())
	st, runErr := r.Run(ctx, runner.Output{
		Record: func(table string, fields []layout.Field, vals []any) { out.done(p.Record(table, fields, vals)) },
		Trace:  func(l tracepipe.Line, wall time.Time) { out.done(p.Trace(l, wall)) },
		Maps:   func(snaps []tables.Snapshot) { out.done(mp.Print(snaps)) },
		Lost:   status.Lost,
		Flush:  out.flush,
	})
	out.flush()
	ended()
	silent, mapsOnly := r.Silent(), r.MapsOnly()
	closeErr := r.Close()
	reportEnd(status, st, silent, mapsOnly)
	return errors.Join(runErr, closeErr, out.err)
}

// reportEnd writes a run's last line: what it delivered, or that it had
// no events.
func reportEnd(status *output.Status, st runner.Stats, silent, mapsOnly bool) {
	switch {
	case silent:
		status.Say("detached; nothing was printed")
	case mapsOnly:
		status.Say("detached; maps printed %d times", st.Prints)
	default:
		for _, r := range st.Rings {
			status.RingFill(r.Table, r.Size, r.Peak)
		}
		status.Summary(output.RunStats{Events: st.Events, Lost: st.Lost, LossesExact: st.LossesExact})
	}
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
	if n := c.Int("probe-limit"); n <= 0 {
		return opts, format, "", usagef("--probe-limit %d: want a positive number", n)
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
	maps, interval, err := parseMapFlags(c)
	if err != nil {
		return opts, format, "", err
	}
	pid, usdt, err := parseUserProbeFlags(c)
	if err != nil {
		return opts, format, "", err
	}
	var stackCfg stacks.Config
	for _, s := range c.StringSlice("stack") {
		if err := stackCfg.ParseFlag(s); err != nil {
			return opts, format, "", usageError{err}
		}
	}
	var fields []readable.Spec
	for _, f := range c.StringSlice("field") {
		spec, err := readable.ParseSpec(f)
		if err != nil {
			return opts, format, "", usageError{err}
		}
		fields = append(fields, spec)
	}
	return runner.Options{
		Name: name, Source: source, CFlags: cflags, Probes: explicit,
		PerfPages: pages, PerfWakeup: wakeup, KernelSource: c.String("kernel-source"),
		Count: uint64(c.Int("count")), Duration: c.Duration("duration"),
		Maps: maps, Interval: interval, ProbeLimit: c.Int("probe-limit"),
		Pid: pid, USDT: usdt,
		Stacks: stackCfg, Fields: fields,
	}, format, traceFmt, nil
}

// parseMapFlags reads --maps, -i, --cumulative, --hist, --hist-label and
// --top.
func parseMapFlags(c *cli.Context) (cfg tables.Config, interval time.Duration, err error) {
	if list := strings.Join(c.StringSlice("maps"), ","); list != "" {
		for _, name := range strings.Split(list, ",") {
			if !probes.IsIdent(name) {
				return cfg, 0, usagef("--maps %q: want map names separated by commas", list)
			}
			cfg.Select = append(cfg.Select, name)
		}
	}
	if s := c.String("interval"); s != "" {
		if interval, err = parseInterval(s); err != nil {
			return cfg, 0, usageError{err}
		}
	}
	cfg.Cumulative = c.Bool("cumulative")
	if cfg.Top = c.Int("top"); cfg.Top < 0 {
		return cfg, 0, usagef("--top %d: want a positive number", cfg.Top)
	}
	cfg.Modes = map[string]tables.Mode{}
	for _, h := range c.StringSlice("hist") {
		name, mode, err := nameValue(h)
		if err == nil {
			cfg.Modes[name], err = tables.ParseMode(mode)
		}
		if err != nil {
			return cfg, 0, usageError{fmt.Errorf("--hist %s: %w", h, err)}
		}
	}
	cfg.Labels = map[string]string{}
	for _, l := range c.StringSlice("hist-label") {
		name, label, err := nameValue(l)
		if err != nil {
			return cfg, 0, usageError{fmt.Errorf("--hist-label %s: %w", l, err)}
		}
		cfg.Labels[name] = label
	}
	return cfg, interval, nil
}

// nameValue splits NAME=VALUE, NAME a map's name.
func nameValue(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || !probes.IsIdent(name) || value == "" {
		return "", "", fmt.Errorf("want NAME=VALUE, NAME a map's name")
	}
	return name, value, nil
}

// parseInterval reads -i: a Go duration, or a number of seconds as bcc's
// tools take it.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || !(secs > 0 && secs < 1e9) {
			return 0, fmt.Errorf("-i %q: want a duration (500ms, 2s) or a number of seconds", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < time.Millisecond {
		return 0, fmt.Errorf("-i %s: want at least 1ms", s)
	}
	return d, nil
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
