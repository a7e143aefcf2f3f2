package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/listeners"
)

func listenersCommand() *cli.Command {
	return &cli.Command{
		Name:      "listeners",
		Usage:     "the live set of TCP listening sockets: those at start, then each change",
		UsageText: "evtrace listeners [options]",
		Description: `Attaches the listen probe (see evtrace listen --attach) with a second
program on sock:inet_sock_set_state for sockets that stop listening, then
reads every TCP listening socket (IPv4 and IPv6) of every network
namespace (those of all processes, and /run/netns) through
NETLINK_SOCK_DIAG, with the processes that hold each (found through
/proc/PID/fd, as ss -p does) and their cgroups. It prints that set, then a
line for each socket that starts listening (listen), stops (close: close,
exit, shutdown), or changes its backlog (a second listen()). Events that
happen while the set is read are reconciled with it by socket inode:
none missed, none twice. If the kernel drops events, the set is read
again and a resync line says so, followed by the changes it found.

A socket's processes are those that held it when it was read or when they
called listen(): descriptors passed on later (fork, SCM_RIGHTS) show at
the next resync.

Examples:
   sudo evtrace listeners                 # the table, then one line per change
   sudo evtrace listeners -o json         # one object per socket, a snapshot_end marker, then changes
   sudo evtrace listeners --port 443      # only sockets on port 443
   sudo evtrace listeners -n 4026532195   # one network namespace`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "attach", Value: "auto", Usage: "how to attach the listen probe (`HOW`): auto, kretprobe, tracepoint or fentry"},
			&cli.StringFlag{Name: "offsets", Value: "auto", Usage: "struct offsets from `SOURCE`: auto, btf (the running kernel) or headers"},
			&cli.StringFlag{Name: "pid", Aliases: []string{"p"}, Usage: "only sockets that process `PID` holds"},
			&cli.StringFlag{Name: "netns", Aliases: []string{"n"}, Usage: "only this network namespace, by `INODE` (as in /proc/PID/ns/net)"},
			&cli.StringFlag{Name: "port", Usage: "only sockets listening on `PORT`"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "`FORMAT`: text or json (one object per line)"},
			&cli.StringFlag{Name: "kernel-source", Usage: "kernel headers tree `DIR` (passed to bcc as BCC_KERNEL_SOURCE)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which kernel headers were used; if the kernel refuses the probe, print the verifier's whole log"},
			&cli.StringFlag{Name: "backend", Value: "auto", Usage: "compile and load with `BACKEND`: auto, bcc or elf"},
			&cli.StringFlag{Name: "cache-dir", Value: elfobj.DefaultCacheDir, Usage: "`DIR` where the elf backend keeps compiled objects"},
		}, perfFlags()...),
		OnUsageError: onUsageError,
		Action:       listenersAction,
	}
}

type listenersOptions struct {
	cfg     listeners.Config
	format  output.Format
	verbose bool
}

func parseListenersFlags(c *cli.Context) (listenersOptions, error) {
	var o listenersOptions
	if c.NArg() > 0 {
		return o, usagef("listeners takes no arguments, got %q", c.Args().First())
	}
	var err error
	if o.format, err = output.ParseFormat(c.String("output")); err != nil {
		return o, usageError{err}
	}
	attach, err := listen.ParseStrategy(c.String("attach"))
	if err != nil {
		return o, usageError{err}
	}
	if attach == listen.StrategyKprobe {
		return o, usagef("--attach kprobe: the entry of inet_listen sees neither the port an unbound socket gets nor whether listen() succeeded (want auto, kretprobe, tracepoint or fentry)")
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
	var port uint64
	if s := c.String("port"); s != "" {
		if port, err = strconv.ParseUint(s, 10, 16); err != nil || port == 0 {
			return o, usagef("--port %q: want a port number (1 to 65535)", s)
		}
	}
	pages, wakeup, err := parsePerfFlags(c)
	if err != nil {
		return o, err
	}
	choice, err := backend.ParseChoice(c.String("backend"))
	if err != nil {
		return o, usageError{fmt.Errorf("--backend: %w", err)}
	}
	o.cfg = listeners.Config{
		Listen: listen.Config{
			Mode: listen.ModePerf, Strategy: attach, Offsets: offsets,
			KernelSource: c.String("kernel-source"), PerfPages: pages, PerfWakeup: wakeup,
			Backend: choice, CacheDir: c.String("cache-dir"),
		},
		Filter: listeners.Filter{PID: pid, NetNS: netns, Port: uint16(port)},
	}
	o.verbose = c.Bool("verbose")
	return o, nil
}

func listenersAction(c *cli.Context) error {
	o, err := parseListenersFlags(c)
	if err != nil {
		return err
	}
	stdout, status := c.App.Writer, output.NewStatus(c.App.ErrWriter)
	mountTracing(status)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opened := whileOpening(ctx, stop, status)
	w, err := listeners.Open(backends(), o.cfg)
	opened()
	if err != nil {
		if o.verbose {
			return wholeLog{err}
		}
		return err
	}
	defer w.Close()
	reportListenStart(status, w.Tracer(), o.verbose)
	out := newSink(stdout, stop)
	p := output.NewListenersPrinter(out.w, o.format)
	out.done(p.Header())
	runErr := w.Run(ctx, listeners.Handler{
		Snapshot: func(snap listeners.Snapshot) {
			out.done(p.Snapshot(snap, time.Now()))
			out.flush()
			status.Say("%d listening sockets in %d network namespaces (read in %v); watching for changes, Ctrl-C to stop",
				len(snap.Sockets), len(snap.DumpStart), snap.Duration.Round(time.Millisecond))
		},
		Change: func(ch listeners.Change) {
			if ch.Kind == listeners.Resync {
				status.Say("%d events lost: reading the set again", ch.Lost)
			}
			out.done(p.Change(ch))
		},
		Warn:  status.Warn,
		Flush: out.flush,
	})
	out.flush()
	closeErr := w.Close()
	st := w.Stats()
	status.Say("%d events, %d lost, %d resyncs; %d changes reported; %d listening sockets now",
		st.Events, st.Lost, st.Resyncs, st.Changes, st.Listeners)
	return errors.Join(runErr, closeErr, out.err)
}
