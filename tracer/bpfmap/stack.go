package bpfmap

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// StackTable reads a BPF_STACK_TRACE map (bcc's stack_traces.walk):
// the addresses of one stack id, through its own duplicate of the
// loader's descriptor. It is not safe for concurrent use.
type StackTable struct {
	name  string
	fd    int // -1 after Close
	value []byte
}

// OpenStackTable reads the stack trace map fd refers to, whose values are
// valueSize bytes (8 a frame).
func OpenStackTable(name string, fd int, valueSize uint32) (*StackTable, error) {
	if valueSize == 0 || valueSize%8 != 0 {
		return nil, fmt.Errorf("stack table %s: value size %d is not a multiple of 8", name, valueSize)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("stack table %s: duplicate fd %d: %w", name, fd, err)
	}
	return &StackTable{name: name, fd: dup, value: make([]byte, valueSize)}, nil
}

// Name is the map's name.
func (t *StackTable) Name() string { return t.name }

// Lookup returns the addresses of stack id, innermost first, up to the
// first zero. An id not in the map is an error wrapping unix.ENOENT.
func (t *StackTable) Lookup(id uint32) ([]uint64, error) {
	if t.fd < 0 {
		return nil, ErrClosed
	}
	var key [4]byte
	binary.NativeEndian.PutUint32(key[:], id)
	if err := lookupElem(t.fd, key[:], t.value); err != nil {
		return nil, fmt.Errorf("stack table %s: stack id %d: %w", t.name, id, err)
	}
	var addrs []uint64
	for i := 0; i+8 <= len(t.value); i += 8 {
		a := binary.NativeEndian.Uint64(t.value[i:])
		if a == 0 {
			break
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// Close releases the descriptor. It is safe to call twice.
func (t *StackTable) Close() error {
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}
