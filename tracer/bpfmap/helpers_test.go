package bpfmap

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// requireBPF skips a test that needs to create BPF maps where it cannot
// (not root), and fails it instead in CI, where every test must run.
func requireBPF(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	const why = "needs root to create BPF maps"
	if os.Getenv("CI") == "true" {
		tb.Fatal(why)
	}
	tb.Skip(why)
}

// createAttr is bpf_attr for BPF_MAP_CREATE, as far as the tests need it.
type createAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
}

// testMap creates a kernel map described by spec, closed when the test
// ends, and opens it with Open.
func testMap(tb testing.TB, spec Spec) *Map {
	tb.Helper()
	fd := createMap(tb, spec)
	m, err := Open(fd, spec)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func createMap(tb testing.TB, spec Spec) int {
	tb.Helper()
	requireBPF(tb)
	attr := createAttr{spec.Type, spec.KeySize, spec.ValueSize, spec.MaxEntries, 0}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		tb.Fatalf("create map %s: %v", spec.Name, errno)
	}
	tb.Cleanup(func() { unix.Close(int(fd)) })
	return int(fd)
}

// put stores an entry whose per-CPU values (one for ordinary maps) are
// given without the kernel's padding.
func put(tb testing.TB, m *Map, key []byte, values [][]byte) {
	tb.Helper()
	if len(values) != m.ncpu {
		tb.Fatalf("put: %d values for %d CPUs", len(values), m.ncpu)
	}
	buf := make([]byte, m.ncpu*m.stride)
	for cpu, v := range values {
		copy(buf[cpu*m.stride:], v)
	}
	if err := updateElem(m.fd, key, buf, unix.BPF_ANY); err != nil {
		tb.Fatalf("put key %x: %v", key, err)
	}
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// sorted returns entries ordered by key, so that dumps read in different
// orders compare equal.
func sorted(entries []Entry) []Entry {
	s := slices.Clone(entries)
	slices.SortFunc(s, func(a, b Entry) int { return bytes.Compare(a.Key, b.Key) })
	return s
}

func equalEntries(a, b []Entry) bool {
	return slices.EqualFunc(sorted(a), sorted(b), func(x, y Entry) bool {
		return bytes.Equal(x.Key, y.Key) && slices.EqualFunc(x.Values, y.Values, bytes.Equal)
	})
}

// path is a way of reading: the kernel's batch commands, or key by key
// with or without the kernel's lookup-and-delete.
type path struct {
	name  string
	force func(*Map)
	check func(testing.TB, *Map) // what the path must have used
}

var paths = []path{
	{"batch", func(*Map) {}, func(tb testing.TB, m *Map) {
		tb.Helper()
		if m.batch != supported {
			tb.Fatalf("batch path did not use batch commands (kernel %s)", release())
		}
	}},
	// Batches of one entry: many calls, each resuming from the kernel's
	// cursor, and hash buckets of two or more entries, which the kernel
	// refuses (ENOSPC) until the batch grows.
	{"batch-of-1", func(m *Map) { m.chunk = 1 }, func(tb testing.TB, m *Map) {
		tb.Helper()
		if m.batch != supported {
			tb.Fatalf("batch path did not use batch commands (kernel %s)", release())
		}
	}},
	{"each", func(m *Map) { m.batch = missing }, func(tb testing.TB, m *Map) {}},
	{"each-lookup-then-delete", func(m *Map) { m.batch, m.lookupDelete = missing, missing }, func(tb testing.TB, m *Map) {}},
}

func release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
