// Package tracer compiles, loads and attaches evtrace's BPF programs through
// libbcc (github.com/iovisor/gobpf/bcc), reads what they report — perf buffer
// samples and trace_pipe lines — and decodes it into Go values. It checks the
// machine first (root, kprobes, tracepoints, kernel headers) so that a missing
// piece is reported as one clear error instead of a compiler or kernel failure.
//
// The package prints nothing: events reach the caller through handler
// functions, and shutdown is driven by a context.
package tracer
