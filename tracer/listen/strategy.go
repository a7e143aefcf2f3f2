package listen

import (
	"errors"
	"fmt"
	"os"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// Strategy is how the listen probe attaches to the kernel.
type Strategy string

const (
	StrategyAuto       Strategy = "auto"       // the best the kernel supports
	StrategyKprobe     Strategy = "kprobe"     // entry of inet_listen (the tutorial's way)
	StrategyKretprobe  Strategy = "kretprobe"  // entry and return: bound port and result
	StrategyTracepoint Strategy = "tracepoint" // syscalls:*_listen + sock:inet_sock_set_state
	StrategyFentry     Strategy = "fentry"     // fexit trampoline: arguments and result (BTF)
)

// ParseStrategy accepts auto, kprobe, kretprobe and tracepoint.
func ParseStrategy(s string) (Strategy, error) {
	switch Strategy(s) {
	case StrategyAuto, StrategyKprobe, StrategyKretprobe, StrategyTracepoint, StrategyFentry:
		return Strategy(s), nil
	}
	return "", fmt.Errorf("unknown attach strategy %q (want auto, kprobe, kretprobe, tracepoint or fentry)", s)
}

// ReportsReturn says whether events of this strategy carry inet_listen's
// result and the port bound inside it.
func (a Strategy) ReportsReturn() bool {
	return a == StrategyKretprobe || a == StrategyTracepoint || a == StrategyFentry
}

// Features is what the running kernel offers the listen probe.
type Features struct {
	Kprobes           bool // kprobes can be created
	ListenTracepoints bool // syscalls:sys_{enter,exit}_listen and sock:inet_sock_set_state exist
	// TracepointsErr says why the tracepoints could not be looked for
	// (tracefs not readable without root, not mountable); then
	// ListenTracepoints is false but unknown.
	TracepointsErr error
	BTF            bool // /sys/kernel/btf/vmlinux exists
}

var listenTracepoints = []string{"syscalls:sys_enter_listen", "syscalls:sys_exit_listen", "sock:inet_sock_set_state"}

// DetectFeatures looks at the running kernel.
func DetectFeatures() Features {
	f := Features{Kprobes: kernel.KprobesSupported(), ListenTracepoints: true}
	for _, tp := range listenTracepoints {
		if err := kernel.CheckTracepoint(tp); err != nil {
			f.ListenTracepoints = false
			if !errors.Is(err, kernel.ErrNoTracepoint) {
				f.TracepointsErr = err
				break
			}
		}
	}
	if _, err := os.Stat(kernel.BTF); err == nil {
		f.BTF = true
	}
	return f
}

// ChooseStrategy resolves a requested strategy against the kernel's features
// and says why, in words for the user.
func ChooseStrategy(req Strategy, f Features) (Strategy, string, error) {
	switch req {
	case StrategyAuto, "":
		switch {
		case f.Kprobes:
			return StrategyKretprobe, "kprobes available: kretprobe reports the port bound and the result", nil
		case f.ListenTracepoints:
			return StrategyTracepoint, "no kprobes in this kernel: using tracepoints syscalls:sys_{enter,exit}_listen and sock:inet_sock_set_state", nil
		case f.TracepointsErr != nil:
			hint := ""
			if errors.Is(f.TracepointsErr, os.ErrPermission) {
				hint = " (run as root, or choose with --attach)"
			}
			return "", "", fmt.Errorf("%w, and the listen tracepoints cannot be looked for: %v%s", kernel.ErrNoKprobes, f.TracepointsErr, hint)
		}
		return "", "", fmt.Errorf("%w, and no listen tracepoints (syscalls:sys_enter_listen, syscalls:sys_exit_listen, sock:inet_sock_set_state): nothing to attach to", kernel.ErrNoKprobes)
	case StrategyKprobe, StrategyKretprobe:
		if !f.Kprobes {
			hint := ""
			if f.ListenTracepoints {
				hint = " (try --attach tracepoint)"
			}
			return "", "", fmt.Errorf("--attach %s: %w%s", req, kernel.ErrNoKprobes, hint)
		}
		return req, "as asked", nil
	case StrategyFentry:
		// Whether the kernel lets fentry/fexit programs load cannot be
		// told without loading one (this project's CI host refuses them
		// with EPERM despite BTF), so auto never picks it; asked for, a
		// refusal is reported by the load.
		if !f.BTF {
			return "", "", fmt.Errorf("--attach fentry: this kernel has no BTF (%s), which fentry/fexit need", kernel.BTF)
		}
		return req, "as asked", nil
	case StrategyTracepoint:
		if f.TracepointsErr != nil {
			return "", "", fmt.Errorf("--attach tracepoint: cannot look for %v: %w", listenTracepoints, f.TracepointsErr)
		}
		if !f.ListenTracepoints {
			return "", "", fmt.Errorf("--attach tracepoint: %w: this kernel lacks one of %v", kernel.ErrNoTracepoint, listenTracepoints)
		}
		return req, "as asked", nil
	}
	return "", "", fmt.Errorf("unknown attach strategy %q", req)
}

// ChooseOffsets resolves where struct offsets come from.
func ChooseOffsets(req OffsetSource, f Features) (OffsetSource, string, error) {
	switch req {
	case OffsetsAuto, "":
		if f.BTF {
			return OffsetsBTF, "from the running kernel's BTF", nil
		}
		return OffsetsHeaders, "no kernel BTF: from the kernel headers", nil
	case OffsetsBTF:
		if !f.BTF {
			return "", "", fmt.Errorf("--offsets btf: this kernel has no BTF (%s)", kernel.BTF)
		}
		return req, "from the running kernel's BTF, as asked", nil
	case OffsetsHeaders:
		return req, "from the kernel headers, as asked", nil
	}
	return "", "", fmt.Errorf("unknown offsets source %q", req)
}

// probesFor are the attachments of each strategy, and with trackClose the
// tracepoint that reports sockets leaving TCP_LISTEN (the tracepoint
// strategy has it already).
func probesFor(a Strategy, trackClose bool) []backend.Probe {
	ps := strategyProbes(a)
	if trackClose && a != StrategyTracepoint && ps != nil {
		ps = append(ps, backend.Probe{Kind: backend.Tracepoint, Target: "sock:inet_sock_set_state", Program: "tracepoint__sock__inet_sock_set_state"})
	}
	return ps
}

func strategyProbes(a Strategy) []backend.Probe {
	switch a {
	case StrategyKprobe:
		return []backend.Probe{{Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"}}
	case StrategyKretprobe:
		return []backend.Probe{
			{Kind: backend.Kretprobe, Target: "inet_listen", Program: "kretprobe__inet_listen"},
			{Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"},
		}
	case StrategyFentry:
		return []backend.Probe{{Kind: backend.Fexit, Target: "inet_listen", Program: "kretfunc__inet_listen"}}
	case StrategyTracepoint:
		return []backend.Probe{
			{Kind: backend.Tracepoint, Target: "syscalls:sys_exit_listen", Program: "tracepoint__syscalls__sys_exit_listen"},
			{Kind: backend.Tracepoint, Target: "sock:inet_sock_set_state", Program: "tracepoint__sock__inet_sock_set_state"},
			{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"},
		}
	}
	return nil
}
