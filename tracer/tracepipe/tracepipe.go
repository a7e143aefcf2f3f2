// Package tracepipe reads the kernel's trace_pipe, where bpf_trace_printk
// writes, and parses its lines (task, pid, cpu, flags, time, message), the
// kernel's notes of lost lines included. The pipe has one reader per
// machine: a line read here is gone for every other reader.
package tracepipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"golang.org/x/sys/unix"
)

// Line is one line of the kernel's trace_pipe, as bpf_trace_printk
// writes it:
//
//	nc-4940  [000] d... 22666.991714: : Hello World!                (4.4)
//	nc-1234  [001] d..31  1234.567890: bpf_trace_printk: Hello      (>= 5.13)
//
// Kernels since 5.13 print a fifth flags character, and an option adds the
// TGID in parentheses after the PID. The kernel also writes lines of the
// form "CPU:1 [LOST 12 EVENTS]" when its trace buffer overflowed; those come
// back with Lost set and only CPU filled in.
type Line struct {
	Task    string        // comm of the task; "<...>" when the kernel no longer knew it
	PID     int           // the task's thread id (the kernel's pid)
	TGID    int           // process id, when the trace shows it; else 0
	CPU     int           // CPU the line was written on
	Flags   string        // irqs-off, need-resched, hard/softirq, preempt depth[, migrate-disable]
	Time    time.Duration // trace clock timestamp (since boot for the default "local" clock)
	Message string        // what the program printed, without the trailing newline
	Lost    uint64        // for a loss line: events the kernel dropped on CPU
}

// ErrBlankLine is returned by ParseLine for lines that carry nothing:
// empty lines (current kernels write one after many printk lines) and
// comment lines of the trace file.
var ErrBlankLine = errors.New("blank trace line")

// taskColumns is the width the kernel pads a task name to ("%16s-%d"); a
// name is at most 15 bytes (TASK_COMM_LEN 16 with its NUL), so on a line
// the kernel wrote, column 16 is always the '-' before the PID.
const taskColumns = 16

var (
	traceLineRe = regexp.MustCompile(`^\s*(.*?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S{4,5})\s+)?(\d+\.\d+):\s?(.*)$`)
	// What follows the padded task name: the same fields as traceLineRe.
	traceRestRe = regexp.MustCompile(`^(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S{4,5})\s+)?(\d+\.\d+):\s?(.*)$`)
	traceLostRe = regexp.MustCompile(`^CPU:(\d+) \[LOST (\d+) EVENTS\]$`)
	// What the kernel puts between the timestamp and the message: the
	// event name ("bpf_trace_printk:"), or on old kernels an empty name
	// or the program's address (": ", "0x00000001: ").
	traceMsgPrefixRe = regexp.MustCompile(`^(?:bpf_trace_printk:|0x[0-9a-f]+:|:)\s?`)
)

// ParseLine parses one line of trace_pipe. It returns ErrBlankLine for
// lines without content and an error naming the line for anything else it
// cannot read. A task name that holds a newline splits its entry over
// several lines; parseTraceLines puts them back together.
func ParseLine(s string) (Line, error) {
	s = strings.TrimRight(s, "\r\n")
	trimmed := strings.TrimSpace(s)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return Line{}, ErrBlankLine
	}
	if m := traceLostRe.FindStringSubmatch(trimmed); m != nil {
		cpu, _ := strconv.Atoi(m[1])
		lost, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return Line{}, fmt.Errorf("trace line %q: %w", s, err)
		}
		return Line{CPU: cpu, Lost: lost}, nil
	}
	if l, ok, err := parseColumns(s); ok {
		return l, err
	}
	m := traceLineRe.FindStringSubmatch(s)
	if m == nil {
		return Line{}, fmt.Errorf("trace line %q: not in trace_pipe format", s)
	}
	return traceFields(s, m[1], m[2:])
}

// parseColumns reads a line by the kernel's own layout: a task name padded
// to taskColumns, '-', then the rest. It is exact where the pattern of
// ParseLine has to guess (a name may itself hold "-123 [000]"); ok is
// false for lines not in that layout (hand-trimmed samples, a name split by
// a newline).
func parseColumns(s string) (l Line, ok bool, err error) {
	if len(s) <= taskColumns || s[taskColumns] != '-' {
		return Line{}, false, nil
	}
	task := strings.TrimLeft(s[:taskColumns], " ")
	m := traceRestRe.FindStringSubmatch(s[taskColumns+1:])
	if task == "" || m == nil {
		return Line{}, false, nil
	}
	l, err = traceFields(s, task, m[1:])
	return l, true, err
}

// traceFields fills a Line from the task name and the submatches of
// the fields after it: pid, tgid, cpu, flags, time, message.
func traceFields(s, task string, m []string) (Line, error) {
	var l Line
	l.Task = task
	l.PID, _ = strconv.Atoi(m[0])
	if m[1] != "" && m[1][0] != '-' {
		l.TGID, _ = strconv.Atoi(m[1])
	}
	l.CPU, _ = strconv.Atoi(m[2])
	l.Flags = m[3]
	secs, frac, _ := strings.Cut(m[4], ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return Line{}, fmt.Errorf("trace line %q: timestamp: %w", s, err)
	}
	// The fraction has 6 digits (µs) by default, 9 with some clocks.
	for len(frac) < 9 {
		frac += "0"
	}
	nsec, err := strconv.ParseInt(frac[:9], 10, 64)
	if err != nil {
		return Line{}, fmt.Errorf("trace line %q: timestamp: %w", s, err)
	}
	l.Time = time.Duration(sec)*time.Second + time.Duration(nsec)
	l.Message = traceMsgPrefixRe.ReplaceAllString(m[5], "")
	return l, nil
}

// parseTraceLines parses the complete lines of one read of trace_pipe,
// without their newlines. Lines that carry nothing are dropped; lines that
// cannot be parsed are passed on with only Message set.
//
// Any process may put a newline in its own name (prctl PR_SET_NAME), and
// the kernel prints the name as it is: the head of the entry then arrives
// as lines of its own, and the last line starts with the name's tail. As
// the kernel pads names to taskColumns, the tail is joined with the lines
// before it when together they fill exactly those columns; so the entry
// comes back whole, with its true name, and forges no line.
func parseTraceLines(lines []string) []Line {
	var out []Line
	var held []string // lines not parsed (yet): the head of a split entry, or noise
	release := func() {
		for _, h := range held {
			if _, err := ParseLine(h); !errors.Is(err, ErrBlankLine) {
				out = append(out, Line{Message: h})
			}
		}
		held = nil
	}
	for _, line := range lines {
		l, err := ParseLine(line)
		if err != nil {
			held = append(held, line)
			continue
		}
		if l.Lost == 0 && len(held) > 0 {
			if _, exact, _ := parseColumns(line); !exact {
				for k := 1; k <= len(held) && k < taskColumns; k++ {
					joined := strings.Join(held[len(held)-k:], "\n") + "\n" + line
					if jl, ok, jerr := parseColumns(joined); ok && jerr == nil {
						l = jl
						held = held[:len(held)-k]
						break
					}
				}
			}
		}
		release()
		out = append(out, l)
	}
	release()
	return out
}

// Pipe reads trace_pipe line by line. The pipe is consumed: a line read
// here is gone for every other reader on the machine.
type Pipe struct {
	f *os.File
}

func Open() (*Pipe, error) {
	dir, err := kernel.TraceFS()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "trace_pipe")
	f, err := os.Open(path)
	if errors.Is(err, unix.EBUSY) {
		return nil, errTracePipeBusy(path, tracePipeReaders("/proc", os.Getpid()))
	}
	if err != nil {
		return nil, fmt.Errorf("open trace pipe: %w", err)
	}
	return &Pipe{f: f}, nil
}

// ErrBusy: another process reads the trace pipe. Since Linux 6.5
// the kernel lets one process at a time open it (EBUSY for the others);
// before, readers took lines from each other.
var ErrBusy = errors.New("another reader holds it (the kernel allows one at a time)")

// tracePipeReader is a process that has a trace pipe open.
type tracePipeReader struct {
	PID  int
	Comm string
}

// errTracePipeBusy names the readers found, or says none was visible.
func errTracePipeBusy(path string, readers []tracePipeReader) error {
	if len(readers) == 0 {
		return fmt.Errorf("open %s: %w; its reader is not visible in /proc here: stop it and try again", path, ErrBusy)
	}
	var names []string
	for _, r := range readers {
		names = append(names, fmt.Sprintf("PID %d (%q)", r.PID, r.Comm))
	}
	return fmt.Errorf("open %s: %w: %s; stop it and try again", path, ErrBusy, strings.Join(names, ", "))
}

// tracePipeReaders lists the processes under procDir, other than self,
// that have the top-level trace pipe or a per-CPU one open (either makes
// the other busy), found by reading their descriptors' links. Processes
// that end or cannot be read meanwhile are skipped.
func tracePipeReaders(procDir string, self int) []tracePipeReader {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil
	}
	var readers []tracePipeReader
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		fdDir := filepath.Join(procDir, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !isTracePipe(target) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(procDir, e.Name(), "comm"))
			readers = append(readers, tracePipeReader{PID: pid, Comm: strings.TrimSuffix(string(comm), "\n")})
			break
		}
	}
	return readers
}

// isTracePipe says whether a descriptor's link names the top-level trace
// pipe or one of its per-CPU pipes (per_cpu/cpuN/trace_pipe), wherever
// tracefs or debugfs is mounted. Those of other instances
// (instances/NAME/...) are separate buffers.
func isTracePipe(target string) bool {
	return filepath.Base(target) == "trace_pipe" && !strings.Contains(target, "/instances/")
}

// run sends parsed lines to out, a batch per read, until the pipe is
// closed or stop is closed. It reads again at once: the kernel's trace
// buffer can be as small as 7 KiB per CPU (buffer_size_kb), a few dozen
// lines. Lines that cannot be parsed are passed on with only
// Message set, so that nothing the kernel printed is hidden.
func (p *Pipe) Run(out chan<- []Line, stop <-chan struct{}) error {
	buf := make([]byte, 64*1024)
	var partial []byte // a line cut by the end of a read
	for {
		n, err := p.f.Read(buf)
		data := buf[:n]
		if len(partial) > 0 {
			data = append(partial, data...)
			partial = nil
		}
		var lines []string
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				partial = append([]byte(nil), data...)
				break
			}
			lines = append(lines, string(data[:i]))
			data = data[i+1:]
		}
		// The kernel hands out whole entries per read (one that does not
		// fit waits for the next), so the lines of a split entry are here
		// together.
		batch := parseTraceLines(lines)
		if len(batch) > 0 {
			select {
			case out <- batch:
			case <-stop:
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) {
				return nil
			}
			select {
			case <-stop:
				return nil
			default:
			}
			return fmt.Errorf("read trace pipe: %w", err)
		}
	}
}

// close ends a blocked read in run.
func (p *Pipe) Close() error { return p.f.Close() }
