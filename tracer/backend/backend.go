// Package backend says what a backend is: what compiles a probe's C and
// loads it into the kernel (libbcc at every start, or clang once and an
// ELF loader), the probes it attaches, and the errors it reports. It holds
// no backend: bccbackend and elfbackend implement these interfaces, main
// builds a Set of them and hands it to the session. Pure Go.
package backend

import (
	"fmt"

	"github.com/evtrace/evtrace/tracer/kernel"
)

// ProbeKind is how a program is attached to the kernel.
type ProbeKind int

const (
	Kprobe        ProbeKind = iota // entry of a kernel function
	Kretprobe                      // return of a kernel function
	Tracepoint                     // a static tracepoint, "category:event"
	RawTracepoint                  // a raw tracepoint, "event"
	Fentry                         // BPF trampoline at a function's entry (BTF)
	Fexit                          // BPF trampoline at its return, with its arguments
	Uprobe                         // entry of a user function, or an address in a binary
	Uretprobe                      // return of a user function
	PerfEvent                      // a perf event's overflow, on every CPU (sampling)
)

func (k ProbeKind) String() string {
	switch k {
	case Kprobe:
		return "kprobe"
	case Kretprobe:
		return "kretprobe"
	case Tracepoint:
		return "tracepoint"
	case RawTracepoint:
		return "raw_tracepoint"
	case Fentry:
		return "fentry"
	case Fexit:
		return "fexit"
	case Uprobe:
		return "uprobe"
	case Uretprobe:
		return "uretprobe"
	case PerfEvent:
		return "perf"
	}
	return fmt.Sprintf("ProbeKind(%d)", int(k))
}

// Probe attaches the C function Program to Target.
type Probe struct {
	Kind ProbeKind
	// Target is the kernel function, "category:event" for a tracepoint,
	// the binary's path for a uprobe (resolved: an absolute path), or a
	// perf event's name for a PerfEvent.
	Target  string
	Program string // name of the C function in the source

	// Pattern, for a kprobe or kretprobe, is a regular expression (whole
	// names) over the traceable kernel functions: the session attaches
	// the program to each function it matches. Target then says the
	// pattern as the user wrote it.
	Pattern string

	// Uprobes: Symbol in Target plus Offset, or, when Symbol is empty, the
	// file offset Offset itself (what USDT probes and raw addresses give).
	Symbol string
	Offset uint64
	// Pid limits a uprobe to one process; 0 or -1: every process.
	Pid int

	// PerfEvent: the event's type and config (perf_event_attr's), and
	// its sampling: Freq samples a second, or one sample every Period
	// events (one of them is not zero).
	PerfType, PerfConfig uint64
	Freq, Period         uint64
}

// Choice is how a program is compiled and loaded (--backend).
type Choice string

const (
	// Auto takes the ELF backend when the program allows it and
	// clang is installed, else bcc.
	Auto Choice = "auto"
	// BCC compiles at every start, in-process, with libbcc.
	BCC Choice = "bcc"
	// ELF compiles once with clang into the object cache and loads
	// the object with gobpf/elf: no LLVM in the process.
	ELF Choice = "elf"
)

// ParseChoice parses --backend.
func ParseChoice(s string) (Choice, error) {
	switch b := Choice(s); b {
	case Auto, BCC, ELF:
		return b, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("unknown backend %q (want auto, bcc or elf)", s)
}

// Report says which backend a session used, why, and what the
// object cache did.
type Report struct {
	Choice Choice
	Why    string // why this backend
	Cache  string // ELF: "hit", or how the object was (re)built; bcc: ""
	Key    string // ELF: the cache key
}

func (r Report) String() string {
	s := string(r.Choice) + " (" + r.Why + ")"
	if r.Cache != "" {
		s += "; object " + r.Key + ": " + r.Cache
	}
	return s
}

// Program is a compiled program loaded into the kernel.
type Program interface {
	// FunctionNames are the program's C functions (libbcc's list), for
	// attaching by bcc's naming conventions; nil when the backend cannot
	// tell.
	FunctionNames() []string
	// Attach loads the probe's program and attaches it.
	Attach(p Probe) error
	// MapFD is the descriptor of the named map.
	MapFD(name string) (int, error)
	// PerfTables names the program's BPF_PERF_OUTPUT tables.
	PerfTables() []string
	// PerfFields is libbcc's description of the struct submitted to a
	// perf table ("name#type" per field; see layout.NewDecoder); nil when
	// the backend has none.
	PerfFields(table string) []string
	// Maps lists the program's maps; nil when the backend cannot.
	Maps() []MapInfo
	// Close detaches every probe and frees the program.
	Close() error
}

// SourceLoader compiles C and loads it, at every start, in-process
// (libbcc: bccbackend).
type SourceLoader interface {
	// LoadSource compiles source and loads it. headersDir, when not empty, is
	// the kernel headers tree to compile against (libbcc's
	// BCC_KERNEL_SOURCE, for this compile only).
	LoadSource(name, source string, cflags []string, headersDir string) (Program, error)
}

// ObjectLoader loads objects compiled ahead of time (elfobj compiles
// them; elfbackend loads them).
type ObjectLoader interface {
	// Load loads an object, sizing the perf maps named by perfTables for
	// this machine's CPUs.
	Load(object []byte, perfTables []string) (Program, error)
}

// Set is the backends a session may use. A nil member is a backend this
// build does not have.
type Set struct {
	BCC SourceLoader
	ELF ObjectLoader
}

// MapInfo describes one map of a loaded program.
type MapInfo struct {
	Name string
	Kind string // the kernel's map type: "hash", "array", "ringbuf", ...
	// FD is the loader's descriptor of the map (-1: none); readers
	// duplicate it.
	FD int
	// Type, KeySize, ValueSize and MaxEntries are what the kernel says of
	// the map (unix.BPF_MAP_TYPE_*; ValueSize is one CPU's for per-CPU
	// maps); Type is 0 when the kernel did not say.
	Type                           uint32
	KeySize, ValueSize, MaxEntries uint32
	// KeyDesc and LeafDesc are libbcc's descriptions of the key and leaf
	// types (see tabletype.Parse); empty when the loader has none.
	KeyDesc, LeafDesc string
}

func (m MapInfo) String() string { return m.Name + ": " + m.Kind }

// AttachError says why attaching p failed: the function is missing from
// kallsyms (ErrNoFunction), or err with the loader's detail.
func AttachError(p Probe, err error, detail string) error {
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
