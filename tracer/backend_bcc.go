package tracer

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/iovisor/gobpf/bcc"
	"golang.org/x/sys/unix"
)

// program is a loaded BPF object: what a backend gives a Session.
type program interface {
	// functionNames lists the object's functions, for AutoAttach.
	functionNames() []string
	// attach loads the program p.Program and attaches it to p.Target.
	attach(p Probe) error
	// mapFD returns the fd of the named map.
	mapFD(name string) (int, error)
	// perfTables names the perf event arrays the object writes to.
	perfTables() []string
	// perfFields describes the struct submitted to a perf table
	// ("name#type" per field), when the backend knows it.
	perfFields(table string) []string
	// close detaches and frees everything, going on after errors.
	close() error
}

// bccProgram is a program compiled at run time by libbcc.
type bccProgram struct {
	mod *bcc.Module
}

func (b *bccProgram) functionNames() []string { return b.mod.FunctionNames() }

func (b *bccProgram) mapFD(name string) (int, error) {
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
func (b *bccProgram) perfTables() []string {
	var names []string
	for id := uint64(0); id < b.mod.TableSize(); id++ {
		name, _ := b.mod.TableDesc(id)["name"].(string)
		fd, err := b.mapFD(name)
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

func (b *bccProgram) perfFields(table string) []string { return b.mod.PerfEventFields(table) }

func (b *bccProgram) close() error {
	b.mod.Close()
	return nil
}

func (b *bccProgram) attach(p Probe) error {
	var (
		load     func(string) (int, error)
		progType int
	)
	switch p.Kind {
	case Kprobe, Kretprobe:
		load, progType = b.mod.LoadKprobe, unix.BPF_PROG_TYPE_KPROBE
	case Tracepoint:
		load, progType = b.mod.LoadTracepoint, unix.BPF_PROG_TYPE_TRACEPOINT
	case RawTracepoint:
		load, progType = b.mod.LoadRawTracepoint, unix.BPF_PROG_TYPE_RAW_TRACEPOINT
	case Fentry, Fexit:
		load, progType = b.mod.LoadTracing, unix.BPF_PROG_TYPE_TRACING
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
	case Kprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKprobe(p.Target, fd, -1) })
	case Kretprobe:
		log, err = captureStderrErr(func() error { return b.mod.AttachKretprobe(p.Target, fd, -1) })
	case Tracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachTracepoint(p.Target, fd) })
	case RawTracepoint:
		log, err = captureStderrErr(func() error { return b.mod.AttachRawTracepoint(p.Target, fd) })
	case Fentry, Fexit:
		log, err = captureStderrErr(func() error { return b.mod.AttachKfunc(p.Program, fd) })
	}
	if err == nil {
		return nil
	}
	return attachError(p, err, firstDiagnostic(log))
}

// attachError explains a failed attach: a function that is not there, or
// what the kernel or the loader said.
func attachError(p Probe, err error, detail string) error {
	if p.Kind == Kprobe || p.Kind == Kretprobe {
		if found, kerr := kernel.LookupSymbol(p.Target); kerr == nil && !found {
			return fmt.Errorf("attach %s %s: %w (not in /proc/kallsyms)", p.Kind, p.Target, kernel.ErrNoFunction)
		}
	}
	if detail != "" {
		return fmt.Errorf("attach %s %s: %w: %s", p.Kind, p.Target, err, detail)
	}
	return fmt.Errorf("attach %s %s: %w", p.Kind, p.Target, err)
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
func (b *bccProgram) loadError(name string, progType int, err error, stderr string) *LoadError {
	log := verifierLog(func(level uint, buf []byte) string {
		var log string
		// libbcc's messages repeat the log, or misreport E2BIG.
		captureStderr(func() { _, log, _ = b.mod.LoadWithLog(name, progType, level, buf) })
		return log
	})
	verdict := verifierVerdict(log)
	if verdict == "" {
		return &LoadError{Program: name, Err: err, Log: strings.TrimSpace(stderr)}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "HINT: ") {
			log += "\n" + strings.TrimSpace(line)
		}
	}
	return &LoadError{Program: name, Err: err, Log: log, Verdict: verdict}
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
	if !endsWithStats(log) {
		// The start of the log: the kernel is older than 6.4.
		return strings.TrimSpace(load(verifierLogStats, buf))
	}
	// The end of the log, from the middle of a line.
	if i := strings.IndexByte(log, '\n'); i >= 0 {
		log = log[i+1:]
	}
	return fmt.Sprintf("... (the start of the verifier's log left out: it is longer than %d bytes)\n%s", len(buf), strings.TrimSpace(log))
}

// mapType returns the type of a BPF map (BPF_OBJ_GET_INFO_BY_FD).
func mapType(mapFD int) (uint32, error) {
	// The head of struct bpf_map_info: type, id, key_size, value_size,
	// max_entries, map_flags, name. The kernel fills what fits.
	info := new([16]uint32)
	attr := &struct {
		fd      uint32
		infoLen uint32
		info    uint64
	}{
		fd:      uint32(mapFD),
		infoLen: uint32(unsafe.Sizeof(*info)),
		info:    uint64(uintptr(unsafe.Pointer(info))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_OBJ_GET_INFO_BY_FD, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(info)
	if errno != 0 {
		return 0, fmt.Errorf("map info: %w", errno)
	}
	return info[0], nil
}
