package bpfmap

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errNotSupp is the kernel's internal ENOTSUPP (524), which older kernels
// leak to user space for an operation a map type lacks (batch operations
// on 5.6–5.x among them). It is not in package unix, being no POSIX errno.
const errNotSupp = syscall.Errno(524)

// unsupported reports whether err is how a kernel says it does not know a
// bpf(2) command, or a map type does not implement it: EINVAL for a
// command newer than the kernel, ENOTSUPP/EOPNOTSUPP for a missing map op.
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, errNotSupp)
}

func ptr(b []byte) pointer {
	if len(b) == 0 {
		return pointer{}
	}
	return pointer{p: unsafe.Pointer(&b[0])}
}

// elemAttr is bpf_attr for BPF_MAP_*_ELEM and BPF_MAP_GET_NEXT_KEY.
type elemAttr struct {
	mapFD uint32
	_     uint32
	key   pointer
	value pointer // next_key for BPF_MAP_GET_NEXT_KEY
	flags uint64
}

// batchAttr is bpf_attr for the BPF_MAP_*_BATCH commands (Linux 5.6).
type batchAttr struct {
	inBatch   pointer
	outBatch  pointer
	keys      pointer
	values    pointer
	count     uint32
	mapFD     uint32
	elemFlags uint64
	flags     uint64
}

// infoAttr is bpf_attr for BPF_OBJ_GET_INFO_BY_FD (Linux 4.13).
type infoAttr struct {
	fd      uint32
	infoLen uint32
	info    pointer
}

// kernelInfo is the head of struct bpf_map_info: what Open checks a Spec
// against. The kernel copies no more than infoLen bytes of its own struct.
type kernelInfo struct {
	Type       uint32
	ID         uint32
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) error {
	_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	runtime.KeepAlive(attr)
	if errno != 0 {
		return errno
	}
	return nil
}

func lookupElem(fd int, key, value []byte) error {
	attr := elemAttr{mapFD: uint32(fd), key: ptr(key), value: ptr(value)}
	return bpf(unix.BPF_MAP_LOOKUP_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

func updateElem(fd int, key, value []byte, flags uint64) error {
	attr := elemAttr{mapFD: uint32(fd), key: ptr(key), value: ptr(value), flags: flags}
	return bpf(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

func deleteElem(fd int, key []byte) error {
	attr := elemAttr{mapFD: uint32(fd), key: ptr(key)}
	return bpf(unix.BPF_MAP_DELETE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// lookupAndDeleteElem needs Linux 5.14 for hash maps.
func lookupAndDeleteElem(fd int, key, value []byte) error {
	attr := elemAttr{mapFD: uint32(fd), key: ptr(key), value: ptr(value)}
	return bpf(unix.BPF_MAP_LOOKUP_AND_DELETE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// nextKey writes the key after key into next; a nil key asks for the first
// (Linux 4.12; older kernels answer EFAULT).
func nextKey(fd int, key, next []byte) error {
	attr := elemAttr{mapFD: uint32(fd), key: ptr(key), value: ptr(next)}
	return bpf(unix.BPF_MAP_GET_NEXT_KEY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// batch runs one BPF_MAP_LOOKUP_BATCH, LOOKUP_AND_DELETE_BATCH or
// UPDATE_BATCH of at most count elements and returns how many the kernel
// did. A nil inBatch starts at the beginning of the map. The kernel may
// return elements together with ENOENT (the end of the map).
func batch(cmd uintptr, fd int, inBatch, outBatch, keys, values []byte, count int) (int, error) {
	attr := batchAttr{
		inBatch:  ptr(inBatch),
		outBatch: ptr(outBatch),
		keys:     ptr(keys),
		values:   ptr(values),
		count:    uint32(count),
		mapFD:    uint32(fd),
	}
	err := bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return int(attr.count), err
}

// objInfo asks the kernel for the map's type and sizes (Linux 4.13).
func objInfo(fd int) (kernelInfo, error) {
	var info kernelInfo
	attr := infoAttr{
		fd:      uint32(fd),
		infoLen: uint32(unsafe.Sizeof(info)),
		info:    pointer{p: unsafe.Pointer(&info)},
	}
	err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return info, err
}

// The kernel's sizes of the bpf_attr layouts above: a mismatch fails the
// build instead of handing the kernel misplaced fields.
var (
	_ [32]byte = [unsafe.Sizeof(elemAttr{})]byte{}
	_ [56]byte = [unsafe.Sizeof(batchAttr{})]byte{}
	_ [16]byte = [unsafe.Sizeof(infoAttr{})]byte{}
)
