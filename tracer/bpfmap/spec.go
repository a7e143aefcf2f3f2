package bpfmap

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

var (
	// ErrClosed is returned by the methods of a Map after Close.
	ErrClosed = errors.New("map closed")
	// ErrNotDataMap is returned by Open for a map type that does not hold
	// data to print (perf event arrays, ring buffers, stack traces,
	// program arrays and the like).
	ErrNotDataMap = errors.New("not a data map")
	// ErrSpecMismatch is returned by Open when the kernel describes the
	// map differently from the Spec: reading it with the Spec's sizes
	// would let the kernel write past the buffers.
	ErrSpecMismatch = errors.New("spec does not match the kernel's map")
)

// Spec describes a map as its loader (libbcc) already knows it, so that
// Open needs no query to the kernel.
type Spec struct {
	Name       string // the table's name, used in errors
	Type       uint32 // the kernel's map type, unix.BPF_MAP_TYPE_*
	KeySize    uint32 // bytes
	ValueSize  uint32 // bytes of one value (one CPU's, for per-CPU maps)
	MaxEntries uint32
}

// Entry is one key and its value as the kernel stores them, in the
// machine's byte order.
type Entry struct {
	Key []byte
	// Values holds one value of Spec.ValueSize bytes for an ordinary map,
	// and one per possible CPU for a per-CPU map, in the order of
	// PossibleCPUs (the kernel's padding of each to 8 bytes removed).
	// Summing a per-CPU counter is summing Values.
	Values [][]byte
}

// IsDataMap reports whether maps of the kernel's type typ hold data that
// a tool prints (bcc's BPF_HASH, BPF_ARRAY, BPF_HISTOGRAM and their per-CPU
// and LRU variants): hash, array, percpu_hash, percpu_array, lru_hash and
// lru_percpu_hash. Open accepts exactly these.
func IsDataMap(typ uint32) bool {
	switch typ {
	case unix.BPF_MAP_TYPE_HASH, unix.BPF_MAP_TYPE_ARRAY,
		unix.BPF_MAP_TYPE_PERCPU_HASH, unix.BPF_MAP_TYPE_PERCPU_ARRAY,
		unix.BPF_MAP_TYPE_LRU_HASH, unix.BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return true
	}
	return false
}

// IsPerCPU reports whether maps of the kernel's type typ hold one value
// per possible CPU for each key.
func IsPerCPU(typ uint32) bool {
	switch typ {
	case unix.BPF_MAP_TYPE_PERCPU_HASH, unix.BPF_MAP_TYPE_PERCPU_ARRAY,
		unix.BPF_MAP_TYPE_LRU_PERCPU_HASH, unix.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
		return true
	}
	return false
}

// IsArray reports whether maps of the kernel's type typ are arrays: every
// index from 0 to MaxEntries-1 always exists, entries cannot be deleted,
// and clearing one means setting it to zero.
func IsArray(typ uint32) bool {
	return typ == unix.BPF_MAP_TYPE_ARRAY || typ == unix.BPF_MAP_TYPE_PERCPU_ARRAY
}

// Describe asks the kernel for the type and sizes of the map fd refers to
// (BPF_OBJ_GET_INFO_BY_FD, Linux 4.13; /proc/self/fdinfo on 4.10 to
// 4.12), for loaders that record only the key and value sizes (libbcc's
// Go binding). The returned Spec has no Name.
func Describe(fd int) (Spec, error) {
	info, err := objInfo(fd)
	if err != nil {
		if !unsupported(err) {
			return Spec{}, fmt.Errorf("map info (fd %d): %w", fd, err)
		}
		var ok bool
		if info, ok = fdinfo(fd); !ok {
			return Spec{}, fmt.Errorf("map info (fd %d): %w; /proc/self/fdinfo does not describe it", fd, err)
		}
	}
	return Spec{Type: info.Type, KeySize: info.KeySize, ValueSize: info.ValueSize, MaxEntries: info.MaxEntries}, nil
}
