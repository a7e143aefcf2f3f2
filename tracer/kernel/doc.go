// Package kernel answers questions about the running kernel: its release
// and configuration, the symbols in kallsyms, whether kprobes, tracepoints
// and BTF are there, and where the tracing file system is. Queries have no
// side effects; MountTracing is the one function that changes the machine,
// and the CLI calls it as an explicit step and reports what it mounted.
package kernel
