package perf

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The two map operations the reader needs, as raw bpf(2) calls, written
// when the vendored cilium/ebpf was its btf package only (for listen's
// offsets). Its map API (ebpf.NewMapFromFD), vendored since for ring
// buffers (tracer/ringbuf), would do as well.

// mapUpdateU32 stores value at key in a BPF map (BPF_MAP_UPDATE_ELEM).
func mapUpdateU32(mapFD int, key, value uint32) error {
	// On the heap, which Go never moves, for the kernel to read.
	k, v := new(uint32), new(uint32)
	*k, *v = key, value
	attr := &struct {
		mapFD uint32
		_     uint32
		key   uint64
		value uint64
		flags uint64
	}{
		mapFD: uint32(mapFD),
		key:   uint64(uintptr(unsafe.Pointer(k))),
		value: uint64(uintptr(unsafe.Pointer(v))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, 2 /* BPF_MAP_UPDATE_ELEM */, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(k)
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}

// mapDeleteU32 removes key from a BPF map (BPF_MAP_DELETE_ELEM).
func mapDeleteU32(mapFD int, key uint32) error {
	k := new(uint32)
	*k = key
	attr := &struct {
		mapFD uint32
		_     uint32
		key   uint64
	}{mapFD: uint32(mapFD), key: uint64(uintptr(unsafe.Pointer(k)))}
	_, _, errno := unix.Syscall(unix.SYS_BPF, 3 /* BPF_MAP_DELETE_ELEM */, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(k)
	if errno != 0 {
		return errno
	}
	return nil
}
