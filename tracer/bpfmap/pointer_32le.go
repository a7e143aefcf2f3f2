//go:build 386 || arm || mipsle

package bpfmap

import "unsafe"

// pointer is a user-space address in a bpf_attr: 64 bits in the kernel's
// layout, the low half first on a little-endian machine.
type pointer struct {
	p unsafe.Pointer
	_ uint32
}
