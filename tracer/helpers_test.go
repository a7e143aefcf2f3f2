package tracer

import "encoding/binary"

func nativeU32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
