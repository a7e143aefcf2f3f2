//go:build mips

package bpfmap

import "unsafe"

// pointer is a user-space address in a bpf_attr: 64 bits in the kernel's
// layout, the low half last on a big-endian machine.
type pointer struct {
	_ uint32
	p unsafe.Pointer
}
