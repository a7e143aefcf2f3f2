// Package bpfmap reads the data maps of a loaded BPF program — hashes,
// arrays, their per-CPU and LRU variants: bcc's BPF_HASH, BPF_ARRAY and
// BPF_HISTOGRAM — by file descriptor, as raw keys and values, and clears
// them after each print the way bcc's tools do. Decoding the bytes is the
// caller's job; the sizes come from the loader (libbcc), in a Spec.
//
// It reads with the kernel's batch commands (BPF_MAP_LOOKUP_BATCH and
// LOOKUP_AND_DELETE_BATCH, Linux 5.6) where it can and key by key
// (BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM) otherwise, so that it
// works on every kernel bcc runs on, 4.1 onwards.
//
// The bpf(2) calls are made through golang.org/x/sys/unix rather than
// github.com/cilium/ebpf (v0.22), which was weighed for the job:
//
//   - ebpf.NewMapFromFD asks the kernel to describe the map with
//     BPF_OBJ_GET_INFO_BY_FD (Linux 4.13) and has no fallback; there is no
//     constructor from a known type and sizes. bcc runs on 4.1 onwards.
//   - Its batch calls count elements by the length of the key and value
//     slices, so raw []byte buffers are refused ("keys and values must
//     have the same length"); sizes known only at run time need slices
//     of reflect.ArrayOf types, and per-CPU values are unmarshalled by
//     reflection into one allocated []byte per CPU per entry.
//
// Here a batch is one syscall into buffers that become the returned
// entries without a copy, at the cost of about 200 lines of bpf_attr
// layout and syscall wrappers. BenchmarkDump100k, a 100,000-entry hash of
// struct {u32 pid; char comm[16];} → u64 on Linux 6.18 (2 vCPUs): about
// 180 ns an entry batched, of which 120 are the batch calls themselves
// (cilium/ebpf's BatchLookup into reflect.ArrayOf slices: 125) and the
// rest building the Entries; about 1.5 µs an entry key by key (cilium's
// Iterate: 1 µs, without the key walk's check for repeated keys).
package bpfmap
