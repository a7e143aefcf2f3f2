//go:build amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x

package bpfmap

import "unsafe"

// pointer is a user-space address in a bpf_attr: always 64 bits in the
// kernel's layout. Keeping it an unsafe.Pointer (not a uintptr) keeps what
// it points to alive, and where the garbage collector can see it, while
// the syscall runs.
type pointer struct {
	p unsafe.Pointer
}
