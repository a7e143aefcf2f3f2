// Package bccbackend is the bcc backend: it compiles a probe's C with
// libbcc (github.com/iovisor/gobpf/bcc) at every start, in-process, loads
// and attaches it, and turns what libbcc prints on standard error into
// errors (the compiler's diagnostics, the verifier's log). It is the only
// package of evtrace with cgo.
package bccbackend

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/iovisor/gobpf/bcc"
	"golang.org/x/sys/unix"
)

// compileMu serializes libbcc compiles: each sets the process's
// BCC_KERNEL_SOURCE and captures its standard error.
var compileMu sync.Mutex

// Loader is the bcc backend, a backend.SourceLoader.
type Loader struct{}

// New returns the bcc backend.
func New() Loader { return Loader{} }

// LoadSource compiles source with libbcc; see backend.SourceLoader.
func (Loader) LoadSource(name, source string, cflags []string, headersDir string) (backend.Program, error) {
	mod, err := compile(name, source, cflags, headersDir)
	if err != nil {
		return nil, err
	}
	return &bccProgram{mod: mod}, nil
}

// compile builds a bcc module from C text, against the headers tree
// headersDir when it is not empty: libbcc reads it from BCC_KERNEL_SOURCE,
// which is set for this compile only, under compileMu (the environment is
// the process's), and restored after. libbcc prints clang's diagnostics
// on the process's standard error and gobpf returns a nil module without an
// error, so standard error is captured while the compiler runs and becomes
// the CompileError's log.
func compile(name, source string, cflags []string, headersDir string) (*bcc.Module, error) {
	compileMu.Lock()
	defer compileMu.Unlock()
	if headersDir != "" {
		old, had := os.LookupEnv("BCC_KERNEL_SOURCE")
		os.Setenv("BCC_KERNEL_SOURCE", headersDir)
		defer func() {
			if had {
				os.Setenv("BCC_KERNEL_SOURCE", old)
			} else {
				os.Unsetenv("BCC_KERNEL_SOURCE")
			}
		}()
	}
	var mod *bcc.Module
	log, err := captureStderr(func() { mod = bcc.NewModule(source, cflags) })
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	if mod == nil {
		return nil, &backend.CompileError{Name: name, Log: strings.TrimSpace(log)}
	}
	return mod, nil
}

// bccProgram is a program compiled at run time by libbcc.
type bccProgram struct {
	mod     *bcc.Module
	uprobes []attachedUprobe // see uprobe.go
	usdt    *usdtSet         // see usdt.go
}

func (b *bccProgram) FunctionNames() []string { return b.mod.FunctionNames() }

func (b *bccProgram) MapFD(name string) (int, error) {
	id := b.mod.TableId(name)
	if uint64(id) >= b.mod.TableSize() {
		return -1, fmt.Errorf("no map %s", name)
	}
	fd, ok := bcc.NewTable(id, b.mod).Config()["fd"].(int)
	if !ok || fd < 0 {
		return -1, fmt.Errorf("map %s has no fd", name)
	}
	return fd, nil
}

// perfTables names the perf event arrays: BPF_PERF_OUTPUT tables, whether
// or not libbcc recorded the struct submitted to them, and BPF_PERF_ARRAY
// counter arrays (the same map type; Session.Open leaves those out). Where
// the kernel will not tell a map's type, the tables libbcc recorded a
// struct for.
func (b *bccProgram) PerfTables() []string {
	var names []string
	for id := uint64(0); id < b.mod.TableSize(); id++ {
		name, _ := b.mod.TableDesc(id)["name"].(string)
		fd, err := b.MapFD(name)
		if err != nil {
			continue
		}
		typ, err := mapType(fd)
		if (err == nil && typ == unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY) || (err != nil && len(b.mod.PerfEventFields(name)) > 0) {
			names = append(names, name)
		}
	}
	return names
}

func (b *bccProgram) PerfFields(table string) []string { return b.mod.PerfEventFields(table) }

func (b *bccProgram) Close() error {
	b.detachUprobes()
	b.usdt.close()
	b.mod.Close()
	return nil
}

func (b *bccProgram) Attach(p backend.Probe) error {
	var (
		load     func(string) (int, error)
		progType int
	)
	switch p.Kind {
	case backend.Kprobe, backend.Kretprobe:
		load, progType = b.mod.LoadKprobe, unix.BPF_PROG_TYPE_KPROBE
	case backend.Tracepoint:
		load, progType = b.mod.LoadTracepoint, unix.BPF_PROG_TYPE_TRACEPOINT
	case backend.RawTracepoint:
		load, progType = b.mod.LoadRawTracepoint, unix.BPF_PROG_TYPE_RAW_TRACEPOINT
	case backend.Fentry, backend.Fexit:
		load, progType = b.mod.LoadTracing, unix.BPF_PROG_TYPE_TRACING
	case backend.Uprobe, backend.Uretprobe:
		load, progType = b.mod.LoadUprobe, unix.BPF_PROG_TYPE_KPROBE
	case backend.PerfEvent:
		load, progType = b.mod.LoadPerfEvent, unix.BPF_PROG_TYPE_PERF_EVENT
	default:
		return fmt.Errorf("load program %s: no loader for %s probes", p.Program, p.Kind)
	}
	var fd int
	stderr, err := captureStderrErr(func() error {
		var lerr error
		fd, lerr = load(p.Program)
		return lerr
	})
	if err != nil {
		return b.loadError(p.Program, progType, err, stderr)
	}

	var log string
	switch p.Kind {
	case backend.Kprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKprobe(p.Target, fd, -1) })
	case backend.Kretprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKretprobe(p.Target, fd, -1) })
	case backend.Tracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachTracepoint(p.Target, fd) })
	case backend.RawTracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachRawTracepoint(p.Target, fd) })
	case backend.Fentry, backend.Fexit:
		log, err = captureStderrErr(func() error { return b.mod.AttachKfunc(p.Program, fd) })
	case backend.Uprobe, backend.Uretprobe:
		log, err = captureStderrErr(func() error { return b.attachUprobe(p, fd) })
	case backend.PerfEvent:
		return attachPerfEvent(b.mod, p, fd)
	}
	if err == nil {
		return nil
	}
	return backend.AttachError(p, err, backend.FirstDiagnostic(log))
}

// The verifier's log when the kernel refuses a program: log level 1 (the
// instructions of the path that failed, with their source lines and the
// registers' states) and BPF_LOG_STATS (4: verification time and stack
// depth, before the "processed N insns" line that ends every log). Level 1
// shows where, but a refused loop makes it long: a 25-instruction loop
// that reaches the complexity limit (1,000,000 instructions processed)
// writes 82 MB of it on Linux 6.18, and its verification takes 0.95 s
// instead of 0.19 s at level 4 alone. Since Linux 6.4 the kernel keeps the
// end of a log that does not fit, which is where the verifier says why, and
// the buffer's size costs little up to a few megabytes (that verification:
// 0.96 s with 64 KiB, 1 MiB or 4 MiB, 1.02 s with 16 MiB, 1.2 s with
// 256 MiB); 1 MiB keeps its last 16,000 lines. Older kernels keep the start
// and drop the end, the verdict with it: then the program is loaded once
// more at level 4 alone, whose log is only the verifier's messages and its
// statistics, a few hundred bytes. (BPF_LOG_FIXED, which would show the old
// behaviour on 6.4, cannot be asked for: libbcc's libbpf refuses it.)
var (
	verifierLogLevel uint = 1 | 4
	verifierLogSize       = 1 << 20
)

const verifierLogStats = 4 // BPF_LOG_STATS

// loadError explains a program the kernel refused. The first load asks for
// no verifier log: it is the fast path, and when it fails libbcc prints no
// log for E2BIG, which the verifier's complexity limit returns ("Program
// too large (25 insns), at most 4096 insns" instead, without the name: it
// retried without one, for kernels that take none), and keeps none that it
// can be asked for. So the program is loaded once more into a
// log buffer evtrace owns, whose text becomes the LoadError's Log, and its
// last message the Verdict. What libbcc printed (stderr) is the Log when the
// kernel wrote no verifier log (no privilege, no such kernel function);
// libbcc's hints about well-known messages are kept after the verifier's log.
func (b *bccProgram) loadError(name string, progType int, err error, stderr string) *backend.LoadError {
	log := verifierLog(func(level uint, buf []byte) string {
		var log string
		// libbcc's messages repeat the log, or misreport E2BIG.
		captureStderr(func() { _, log, _ = b.mod.LoadWithLog(name, progType, level, buf) })
		return log
	})
	verdict := backend.VerifierVerdict(log)
	if verdict == "" {
		return &backend.LoadError{Program: name, Err: err, Log: strings.TrimSpace(stderr)}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "HINT: ") {
			log += "\n" + strings.TrimSpace(line)
		}
	}
	return &backend.LoadError{Program: name, Err: err, Log: log, Verdict: verdict}
}

// verifierLog loads a program again with load (at a log level, into a
// buffer) and returns the verifier's log, at level 1 and 4 if its end fits
// or the kernel keeps the end, else at level 4 alone.
func verifierLog(load func(level uint, buf []byte) string) string {
	buf := make([]byte, verifierLogSize)
	log := load(verifierLogLevel, buf)
	if len(log) < len(buf)-1 {
		return strings.TrimSpace(log)
	}
	if !backend.EndsWithStats(log) {
		// The start of the log: the kernel is older than 6.4.
		return strings.TrimSpace(load(verifierLogStats, buf))
	}
	// The end of the log, from the middle of a line.
	if i := strings.IndexByte(log, '\n'); i >= 0 {
		log = log[i+1:]
	}
	return fmt.Sprintf("... (the start of the verifier's log left out: it is longer than %d bytes)\n%s", len(buf), strings.TrimSpace(log))
}
