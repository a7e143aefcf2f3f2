package kernel

import "errors"

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotRoot: loading BPF programs needs root.
	ErrNotRoot = errors.New("must be run as root (loading BPF programs needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)")
	// ErrNoKprobes: the running kernel was built without kprobe support.
	ErrNoKprobes = errors.New("this kernel has no kprobe support")
	// ErrNoFunction: a kprobe target is not a traceable kernel function.
	ErrNoFunction = errors.New("no such kernel function")
	// ErrNoTracepoint: a tracepoint does not exist in this kernel.
	ErrNoTracepoint = errors.New("no such tracepoint")
)

// BTF is where the running kernel publishes its BTF (CONFIG_DEBUG_INFO_BTF).
const BTF = "/sys/kernel/btf/vmlinux"
