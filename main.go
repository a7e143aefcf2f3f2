// Command evtrace turns kernel function calls into user-space events.
//
// Its first tool, `evtrace listen`, reports every TCP listen() on the
// machine, as bcc's solisten does: a kprobe on inet_listen, compiled at run
// time by libbcc, reporting through a perf buffer or, in debug mode, through
// bpf_trace_printk and the trace pipe.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bccbackend"
	"github.com/evtrace/evtrace/tracer/elfbackend"
	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/perf"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

func main() {
	// Asking for SIGPIPE makes a write to a closed pipe on standard output
	// (evtrace listen | head -1) fail with EPIPE instead of killing the
	// process: the sink then ends the run as a signal does, with the probe
	// detached and the summary printed (exit 0). Children (clang) still
	// start with the default action.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	stderr := realStderr()
	// EVTRACE_CPUPROFILE=FILE writes a pprof CPU profile of the run, for
	// finding where the time goes (make bench names it in its notes).
	if path := os.Getenv("EVTRACE_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				code := run(os.Args, os.Stdout, stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
			f.Close()
		}
		fmt.Fprintf(os.Stderr, "evtrace: warning: cannot write the CPU profile %s\n", path)
	}
	os.Exit(run(os.Args, os.Stdout, stderr))
}

// realStderr returns a duplicate of descriptor 2 taken before anything
// runs, for everything evtrace itself writes to standard error. While
// libbcc compiles or loads a program, tracer points descriptor 2 into a
// memory file to capture the compiler's and loader's messages; what evtrace
// says meanwhile (the notice that a signal will stop the run once the
// probe is loaded) must still reach the user.
func realStderr() *os.File {
	fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return os.Stderr // descriptor 2 closed: writes fail either way
	}
	return os.NewFile(uintptr(fd), "/dev/stderr")
}

// run is main without the exit, so that tests can drive the CLI.
func run(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(flagsFirst(args))
	if err == nil {
		return 0
	}
	printError(stderr, err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// printError says what went wrong: the error's line, then the compiler's
// output or the end of the loader's or the verifier's log.
func printError(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "evtrace: %v\n", err)
	var ce *backend.CompileError
	if errors.As(err, &ce) && ce.Log != "" {
		fmt.Fprintf(stderr, "compiler output:\n%s\n", ce.Log)
	}
	var le *backend.LoadError
	if errors.As(err, &le) && le.Log != "" {
		head, log := "loader output", le.LogTail(logTailLines)
		if le.Verdict != "" {
			head = "verifier log"
		}
		var whole wholeLog
		if errors.As(err, &whole) {
			log = le.Log
		}
		if !strings.Contains(err.Error(), log) {
			fmt.Fprintf(stderr, "%s:\n%s\n", head, log)
		}
	}
	var p pitfall
	if errors.As(err, &p) {
		fmt.Fprintf(stderr, "\nevtrace tutorial: %s\n", p.note)
	}
}

// logTailLines is how much of a refused program's log is printed: the
// verifier's reasons are at its end, after up to a megabyte of the
// instructions it walked (all of it with listen --verbose).
const logTailLines = 40

// wholeLog asks run to print a LoadError's whole log (--verbose).
type wholeLog struct{ error }

func (w wholeLog) Unwrap() error { return w.error }

// flagsFirst lets `evtrace run FILE.c -D X` work as users of bcc tools type
// it: urfave/cli stops at the first argument, so for run and tutorial the
// flags after the file (or step) are moved before it.
func flagsFirst(args []string) []string {
	if len(args) < 3 || (args[1] != "run" && args[1] != "tutorial") || args[len(args)-1] == "--generate-bash-completion" {
		// cli reads a completion request from the last argument.
		return args
	}
	noValue := map[string]bool{"--ebpf": true, "-ebpf": true, "--source": true, "-source": true, "-h": true, "--help": true}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			if !noValue[a] && !strings.Contains(a, "=") && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	return append(out, positional...)
}

// backends are what this binary compiles and loads programs with: libbcc
// and, for objects compiled ahead of time, gobpf/elf.
func backends() backend.Set {
	return backend.Set{BCC: bccbackend.New(), ELF: elfbackend.New()}
}

// usageError marks bad flags and arguments (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "evtrace",
		Usage:     "turn kernel function calls into events (eBPF, via bcc)",
		UsageText: "evtrace COMMAND [options]",
		Description: `evtrace attaches small C programs to kernel functions, compiles them at
run time with libbcc against the kernel's headers (or loads an object that
clang compiled once: listen --backend), and prints what they report. It
needs root and kernel headers (with BTF, another release's do). Probes on
functions need kprobes (Linux >= 4.4); listen also works without them,
through tracepoints (>= 4.16).

Examples:
   sudo evtrace listen                 # every TCP listen() on the machine
   sudo evtrace listen -o json         # the same, one JSON object per line
   sudo evtrace listen --mode debug    # through bpf_trace_printk and trace_pipe
   sudo evtrace listen --ebpf          # print the C program and exit
   sudo evtrace run probe.c            # any probe: auto-attach, decode, print
   evtrace tutorial                    # the tutorial's five steps, runnable`,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// -D 'MAX(a,b)=...' is one define: no splitting of repeatable
		// flags at commas.
		DisableSliceFlagSeparator: true,
		OnUsageError:              onUsageError,
		HideVersion:               true, // --version is ours: it also names libbcc's
		// Completion for bash and zsh (scripts/completion): the shell
		// asks `evtrace ... --generate-bash-completion`.
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Usage: "print the version of evtrace, Go and libbcc, and exit"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see evtrace --help)", c.Args().First())
			}
			if c.Bool("version") {
				return printVersion(c.App.Writer)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{listenCommand(), listenersCommand(), runCommand(), tutorialCommand(), compileCommand(), cacheCommand(), versionCommand()},
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

func listenCommand() *cli.Command {
	return &cli.Command{
		Name:      "listen",
		Usage:     "report every TCP listen() on the machine (like bcc's solisten)",
		UsageText: "evtrace listen [options]",
		Description: `A probe on inet_listen (a kretprobe by default; tracepoints on a kernel
without kprobes; see --attach) reports each listen() on an IPv4 or IPv6
stream socket: time, PID, task name, protocol, backlog, result, local port
and address (and network namespace with --show-netns or -o json).

In perf mode (default) each event is a struct sent through per-CPU perf
buffers; lost events are reported on stderr. In debug mode the probe calls
bpf_trace_printk and evtrace reads trace_pipe: bpf_trace_printk takes at
most three arguments, so it prints what fits (address, port and backlog
for IPv4; port and backlog for IPv6).

Examples:
   sudo evtrace listen                    # all listens, text columns
   sudo evtrace listen -p 1234            # process 1234 only
   sudo evtrace listen --show-netns       # add the network namespace column
   sudo evtrace listen -n 4026531840      # that network namespace only
   sudo evtrace listen -o json            # one JSON object per event
   sudo evtrace listen --mode debug       # the tutorial's trace_pipe way
   sudo evtrace listen --kernel-source /path/to/linux-headers   # one full tree
   evtrace listen --ebpf --attach kretprobe   # print the C program and exit (no root)`,
		Flags:        listenFlags(),
		OnUsageError: onUsageError,
		Action:       listenAction,
	}
}

// listenFlags are the flags of evtrace listen and evtrace compile listen.
func listenFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "perf", Usage: "output path `MODE`: perf (BPF_PERF_OUTPUT) or debug (bpf_trace_printk)"},
		&cli.StringFlag{Name: "attach", Value: "auto", Usage: "how to attach (`HOW`): auto, kprobe, kretprobe, tracepoint or fentry"},
		&cli.StringFlag{Name: "offsets", Value: "auto", Usage: "struct offsets from `SOURCE`: auto, btf (the running kernel) or headers"},
		&cli.StringFlag{Name: "pid", Aliases: []string{"p"}, Usage: "trace this process `PID` only (filtered in the kernel)"},
		&cli.StringFlag{Name: "netns", Aliases: []string{"n"}, Usage: "trace this network namespace only, by `INODE` (as in /proc/PID/ns/net)"},
		&cli.BoolFlag{Name: "show-netns", Usage: "add the NETNS column (perf mode)"},
		&cli.BoolFlag{Name: "ebpf", Usage: "print the final C text and exit"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "`FORMAT`: text or json (one object per line)"},
		&cli.StringFlag{Name: "kernel-source", Usage: "kernel headers tree `DIR` (passed to bcc as BCC_KERNEL_SOURCE)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which kernel headers were used; if the kernel refuses the probe, print the verifier's whole log"},
		&cli.StringFlag{Name: "backend", Value: "auto", Usage: "compile and load with `BACKEND`: auto, bcc (libbcc at every start) or elf (clang once, cached; gobpf/elf)"},
		&cli.StringFlag{Name: "cache-dir", Value: elfobj.DefaultCacheDir, Usage: "`DIR` where the elf backend keeps compiled objects"},
	}, perfFlags()...)
}

// listenOptions is what the listen flags say, validated.
type listenOptions struct {
	cfg       listen.Config
	format    output.Format
	showNetNS bool
	ebpf      bool
	verbose   bool
}

func parseListenFlags(c *cli.Context) (listenOptions, error) {
	var o listenOptions
	if c.NArg() > 0 {
		return o, usagef("listen takes no arguments, got %q", c.Args().First())
	}
	mode, err := listen.ParseMode(c.String("mode"))
	if err != nil {
		return o, usageError{err}
	}
	if o.format, err = output.ParseFormat(c.String("output")); err != nil {
		return o, usageError{err}
	}
	attach, err := listen.ParseStrategy(c.String("attach"))
	if err != nil {
		return o, usageError{err}
	}
	offsets, err := listen.ParseOffsetSource(c.String("offsets"))
	if err != nil {
		return o, usageError{err}
	}
	pid, err := parseID(c.String("pid"), "--pid", "a process id")
	if err != nil {
		return o, err
	}
	netns, err := parseID(c.String("netns"), "--netns", "a network namespace inode")
	if err != nil {
		return o, err
	}
	pages, wakeup, err := parsePerfFlags(c)
	if err != nil {
		return o, err
	}
	choice, err := backend.ParseChoice(c.String("backend"))
	if err != nil {
		return o, usageError{fmt.Errorf("--backend: %w", err)}
	}
	o.showNetNS = c.Bool("show-netns")
	if o.showNetNS && mode == listen.ModeDebug {
		return o, usagef("--show-netns needs --mode perf: bpf_trace_printk takes at most 3 arguments and the debug line has no room for the namespace")
	}
	if mode == listen.ModeDebug && choice == backend.ELF {
		return o, usagef("--backend elf needs --mode perf: debug mode's lines carry a token made for each run, so its probe is compiled by libbcc at every start (--backend bcc or auto)")
	}
	o.cfg = listen.Config{
		Mode: mode, Strategy: attach, Offsets: offsets, PID: pid, NetNS: netns,
		KernelSource: c.String("kernel-source"), PerfPages: pages, PerfWakeup: wakeup,
		Backend: choice, CacheDir: c.String("cache-dir"),
	}
	o.ebpf = c.Bool("ebpf")
	o.verbose = c.Bool("verbose")
	return o, nil
}

// parseID parses a positive 32-bit number given to flag; "" is 0 (unset).
func parseID(s, flag, what string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, usagef("%s %q: want %s (a positive number)", flag, s, what)
	}
	return uint32(n), nil
}

func listenAction(c *cli.Context) error {
	o, err := parseListenFlags(c)
	if err != nil {
		return err
	}
	stdout, status := c.App.Writer, output.NewStatus(c.App.ErrWriter)
	mountTracing(status)
	if o.ebpf {
		return printListenSource(stdout, o.cfg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opened := whileOpening(ctx, stop, status)
	t, err := listen.Open(backends(), o.cfg)
	opened()
	if err != nil {
		if o.verbose {
			return wholeLog{err}
		}
		return err
	}
	defer t.Close()
	reportListenStart(status, t, o.verbose)
	out := newSink(stdout, stop)
	p := output.NewListenPrinter(out.w, o.format, o.showNetNS, t.Plan().Strategy.ReportsReturn())
	if o.cfg.Mode == listen.ModeDebug {
		out.done(p.TraceHeader())
	} else {
		out.done(p.EventHeader())
	}
	out.flush()
	status.Say("tracing listen() calls; Ctrl-C to stop")
	runErr := t.Run(ctx, listen.Handler{
		Event: func(e listen.Event) { out.done(p.Event(e)) },
		Trace: func(l tracepipe.Line) { out.done(p.Trace(l, t.WallTime(l.Time))) },
		Lost:  status.Lost,
		Error: func(err error) { status.Say("%v", err) },
		Flush: out.flush,
	})
	out.flush()
	closeErr := t.Close()
	st := t.Stats()
	status.Summary(output.RunStats{Events: st.Events, Lost: st.Lost, LossesExact: st.LossesExact, Foreign: st.Foreign})
	return errors.Join(runErr, closeErr, out.err)
}

// printListenSource prints the C text listen would load (--ebpf).
func printListenSource(stdout io.Writer, cfg listen.Config) error {
	plan, err := listen.PlanSource(cfg)
	if err != nil {
		return err
	}
	spec, err := listen.SessionSpec(cfg, plan)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, spec.Source)
	return err
}

// reportListenStart says how the probe was attached and loaded.
func reportListenStart(status *output.Status, t *listen.Tracer, verbose bool) {
	plan := t.Plan()
	status.Say("attached with %s (%s); struct offsets %s", plan.Strategy, plan.StrategyReason, plan.OffsetsReason)
	status.Say("backend %s", t.Backend())
	if verbose {
		status.Say("compiled against kernel headers %s", t.Headers().Desc)
	}
	reportStale(status, t)
}

// whileOpening covers the compile and attach, which libbcc cannot cut
// short: a first SIGINT or SIGTERM ends the run cleanly once they are done,
// and gives the signals back to the default action, so that a second one
// ends the process at once. Call the returned function when Open returns.
func whileOpening(ctx context.Context, stop func(), status *output.Status) (opened func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
			stop()
			status.Say("stopping once the probe is loaded (a second signal ends evtrace now)")
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// mountTracing mounts the tracing file systems evtrace reads, when they
// are missing and evtrace runs as root, and says what it mounted. A
// failure is not reported here: the step that needs them says what is
// missing.
func mountTracing(status *output.Status) {
	if os.Geteuid() != 0 {
		return
	}
	mounted, _ := kernel.MountTracing()
	for _, m := range mounted {
		status.Say("mounted %s", m)
	}
}

// reportStale says which kprobes of dead evtrace (or bcc) processes the
// start removed.
func reportStale(status *output.Status, s interface {
	StaleKprobesRemoved() ([]string, error)
}) {
	stale, err := s.StaleKprobesRemoved()
	for _, name := range stale {
		status.Say("removed stale kprobe %s (its process is gone)", name)
	}
	if err != nil {
		status.Warn(err)
	}
}

// perfFlags tune the perf rings, for the commands that read them.
func perfFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "perf-pages", Value: perf.DefaultPages, Usage: fmt.Sprintf("perf ring size per CPU, in `N` pages (a power of two, at most %d)", perf.MaxPages())},
		&cli.IntFlag{Name: "perf-wakeup", Value: 0, Usage: "wake evtrace every `N` records (1 = every record, as bcc); 0: when a ring is a quarter full. Rings are read every 100ms anyway"},
	}
}

func parsePerfFlags(c *cli.Context) (pages, wakeup int, err error) {
	pages = c.Int("perf-pages")
	if err := perf.CheckPages(pages); err != nil {
		return 0, 0, usagef("--perf-pages %w", err)
	}
	wakeup = c.Int("perf-wakeup")
	switch {
	case wakeup < 0:
		return 0, 0, usagef("--perf-wakeup %d: want 0 (a quarter ring) or a number of records", wakeup)
	case wakeup == 0:
		wakeup = perf.WakeupWatermark
	}
	return pages, wakeup, nil
}
