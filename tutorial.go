package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/kernel"
)

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
			list.String() + `
The steps are kprobes. On a kernel without them, evtrace names the command
that runs a step in the project's Debian VM from a clone of evtrace
(make tutorial STEP=N: it boots the VM, starts the step, opens the
listeners the tutorial uses, prints what the step printed, and stops).

The tutorial's pitfalls, on demand, each explained beside the real error:
-D DIRECT_READ on step 3 (the verifier's "R1 invalid mem access"),
-D FOUR_ARGS on step 4 (bpf_trace_printk's three arguments), and
--second-reader on the steps that read trace_pipe (what a second reader
of trace_pipe gets on this kernel).

Examples:
   evtrace tutorial
   evtrace tutorial hello --source
   sudo evtrace tutorial 3
   sudo evtrace tutorial port-ip -D DIRECT_READ
   sudo evtrace tutorial hello --second-reader
   sudo evtrace tutorial maps -i 5s --hist-label backlogs=backlog`,
		Flags: append(programFlags(),
			&cli.BoolFlag{Name: "source", Usage: "print the step's C and exit"},
			&cli.BoolFlag{Name: "second-reader", Usage: "open trace_pipe a second time while the step reads it, and say what the kernel does"}),
		OnUsageError: onUsageError,
		Action:       tutorialAction,
	}
}

func tutorialAction(c *cli.Context) error {
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
	i := -1
	for j, s := range steps {
		if name == s.Name || name == fmt.Sprint(j+1) {
			i = j
		}
	}
	if i < 0 {
		return usagef("unknown tutorial step %q (see evtrace tutorial)", name)
	}
	step := steps[i]
	if c.Bool("source") {
		_, err := io.WriteString(c.App.Writer, step.Source)
		return err
	}
	var attached func(*output.Status) func()
	if c.Bool("second-reader") {
		if !strings.Contains(step.Source, "bpf_trace_printk") {
			return usagef("--second-reader: step %s does not read trace_pipe (steps 1 to 4 do)", step.Name)
		}
		attached = secondReader
	}
	err := runProgram(c, step.Name+".c", step.Source, attached)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kernel.ErrNoKprobes):
		return fmt.Errorf("%w\nThe tutorial's steps are kprobes. Run this one in the project's Debian VM, from a clone of evtrace on a Debian 12 machine:\n  make tutorial STEP=%d", err, i+1)
	}
	for _, p := range step.Pitfalls {
		if slices.Contains(c.StringSlice("define"), p.Define) {
			return pitfall{error: err, note: p.Explain}
		}
	}
	return err
}

// pitfall is an error the user asked for, with its explanation, which
// printError prints after the error and its log.
type pitfall struct {
	error
	note string
}

func (p pitfall) Unwrap() error { return p.error }

// secondReader opens trace_pipe once more while the step reads it, and
// says what the kernel did: since Linux 6.5 it refuses a second reader
// (EBUSY); before, it lets both read, and each line goes to one of them.
// Then the second reader reads until the run ends, and the returned
// function says how many lines it took.
func secondReader(status *output.Status) (ended func()) {
	dir, err := kernel.TraceFS()
	if err != nil {
		status.Warn(fmt.Errorf("--second-reader: %w", err))
		return func() {}
	}
	path := filepath.Join(dir, "trace_pipe")
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		status.Say("--second-reader: a second open of %s failed: %v. Since Linux 6.5 the kernel lets one reader at a time read trace_pipe: while this step (or bcc's trace_print, or cat) reads it, every other reader is refused. Real tools send their events through perf or ring buffers instead, one per program (step 5).", path, err)
		return func() {}
	}
	if err != nil {
		status.Warn(fmt.Errorf("--second-reader: open %s: %w", path, err))
		return func() {}
	}
	status.Say("--second-reader: a second open of %s succeeded: this kernel (before Linux 6.5) lets several readers read trace_pipe at once, and each line goes to only one of them. The second reader now takes its share; it says how many lines it took at the end.", path)
	var (
		wg      sync.WaitGroup
		lines   int
		readErr error
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		lines, readErr = drainLines(fd, stop)
	}()
	return func() {
		close(stop)
		wg.Wait()
		unix.Close(fd)
		if readErr != nil {
			status.Warn(fmt.Errorf("--second-reader: read %s: %w", path, readErr))
		}
		status.Say("--second-reader: took %d lines that this step's reader never saw: with two readers of trace_pipe, each gets some of the lines, and neither can tell what the other took. That is why bcc's tools and evtrace send events through perf buffers (step 5), one per program.", lines)
	}
}

// drainLines reads a non-blocking descriptor until stop is closed, and
// counts the lines it read.
func drainLines(fd int, stop <-chan struct{}) (int, error) {
	buf := make([]byte, 64*1024)
	lines := 0
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		select {
		case <-stop:
			return lines, nil
		default:
		}
		n, err := unix.Read(fd, buf)
		if n > 0 {
			lines += strings.Count(string(buf[:n]), "\n")
			continue
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return lines, err
		}
		unix.Poll(fds, 100)
	}
}
