// Package tabletype reads the key and leaf type descriptions libbcc records
// for each BPF table (the JSON-like strings bpf_table_key_desc and
// bpf_table_leaf_desc return, from which bcc's Python builds its ctypes),
// lays the types out as clang lays out C on x86_64 and arm64, and decodes
// a map's raw bytes into values: integers of every width and sign, char
// arrays as strings, arrays, nested structs and unions, bit-fields, and
// per-CPU values summed per key.
//
// What libbcc records does not always say enough: it drops all but the
// first dimension of multi-dimensional arrays, writes a flexible array
// member as a single element, and does not say whether a struct is packed.
// Such types are either told apart by the size libbcc recorded (CheckSize)
// or refused with an *Error naming the member, never guessed.
//
// The package is pure Go and imports nothing else of evtrace.
package tabletype
