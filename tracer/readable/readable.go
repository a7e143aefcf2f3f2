// Package readable formats members of decoded events for people (evtrace
// run --field MEMBER=FORMAT): IPv4 and IPv6 addresses, errno names, hex,
// kernel timestamps as wall clock times, kernel addresses as symbols. It
// says which formats fit which members, so that a bad --field is refused
// before the program is attached. Pure Go.
package readable

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"golang.org/x/sys/unix"
)

// Format is how a member is shown.
type Format string

const (
	IPv4  Format = "ipv4"  // a u32 (or u8[4]) holding an address in network order, as bcc's tools read it
	IPv6  Format = "ipv6"  // 16 bytes: unsigned __int128, u8[16], u16[8], u32[4], u64[2]
	Errno Format = "errno" // an integer: -ENOENT, ENOENT, or the number when it names no errno
	Hex   Format = "hex"   // an integer (or an array of them) in hex, negative ones as their type's bits
	Time  Format = "time"  // a bpf_ktime_get_ns timestamp (u64) as wall clock time
	Ksym  Format = "ksym"  // a kernel address (u64 or pointer) as symbol+0xoffset, from /proc/kallsyms
	Usym  Format = "usym"  // a user address: not supported (see Check)
)

// Formats lists the formats, for messages.
const Formats = "ipv4, ipv6, errno, hex, time, ksym, usym"

// Spec is one --field: a member's name and its format.
type Spec struct {
	Member string
	Format Format
}

// ParseSpec reads MEMBER=FORMAT.
func ParseSpec(s string) (Spec, error) {
	member, format, ok := strings.Cut(s, "=")
	if !ok || !isIdent(member) {
		return Spec{}, fmt.Errorf("--field %q: want MEMBER=FORMAT, MEMBER a member of the events' struct", s)
	}
	switch f := Format(format); f {
	case IPv4, IPv6, Errno, Hex, Time, Ksym:
		return Spec{Member: member, Format: f}, nil
	case Usym:
		return Spec{}, fmt.Errorf("--field %q: %w", s, Check(Usym, layout.Field{}))
	}
	return Spec{}, fmt.Errorf("--field %q: unknown format %q (want one of %s)", s, format, Formats)
}

func isIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// integer says whether f is a scalar integer member (a bitfield too).
func integer(f layout.Field) bool {
	return len(f.Dims) == 0 && (f.Kind == layout.FieldInt || f.Kind == layout.FieldUint)
}

// intArray says whether f is a one-dimensional array of integers.
func intArray(f layout.Field) bool {
	return len(f.Dims) == 1 && (f.Kind == layout.FieldInt || f.Kind == layout.FieldUint)
}

// Check says whether format can show member f; the error says what the
// format wants.
func Check(format Format, f layout.Field) error {
	ok := false
	want := ""
	switch format {
	case IPv4:
		ok = integer(f) && f.Bits == 0 && f.Size == 4 || intArray(f) && f.Size == 1 && f.Dims[0] == 4
		want = "a 4-byte member: u32, __be32 or u8[4]"
	case IPv6:
		ok = integer(f) && f.Size == 16 || intArray(f) && f.Size*f.Dims[0] == 16
		want = "a 16-byte member: unsigned __int128, u8[16], u16[8], u32[4] or u64[2]"
	case Errno:
		ok = integer(f) && f.Size <= 8
		want = "an integer member"
	case Hex:
		ok = integer(f) || intArray(f) || f.Kind == layout.FieldPointer
		want = "an integer, an array of integers, or a pointer"
	case Time:
		ok = integer(f) && f.Bits == 0 && f.Size == 8
		want = "a 64-bit member holding bpf_ktime_get_ns()"
	case Ksym:
		ok = integer(f) && f.Bits == 0 && f.Size == 8 || f.Kind == layout.FieldPointer && len(f.Dims) == 0
		want = "a 64-bit member or a pointer holding a kernel address"
	case Usym:
		return fmt.Errorf("usym is not supported yet: a user address is symbolized from its process's mappings and ELF symbols, which evtrace's stack symbolizer will give")
	default:
		return fmt.Errorf("unknown format %q (want one of %s)", format, Formats)
	}
	if !ok {
		return fmt.Errorf("%s is a %s; %s wants %s", f.Name, typeName(f), format, want)
	}
	return nil
}

func typeName(f layout.Field) string {
	if f.Bits > 0 {
		return fmt.Sprintf("%s:%d bitfield", f.Type, f.Bits)
	}
	return f.Type
}

// Width is the column a format's values start with in text.
func Width(format Format, f layout.Field) int {
	switch format {
	case IPv4:
		return len("255.255.255.255")
	case IPv6:
		return len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	case Errno:
		return len("-EPROTONOSUPPORT")
	case Hex:
		if len(f.Dims) > 0 {
			return 12
		}
		return 2 + 2*f.Size
	case Time:
		return len(timeLayout)
	case Ksym:
		return 24
	}
	return 12
}

// timeLayout is a time in text: the time of day, to the microsecond.
const timeLayout = "15:04:05.000000"

// Formatter formats values; it holds the wall clock and, once a ksym was
// asked for, the kernel's symbols.
type Formatter struct {
	clock kernel.WallClock
	ksyms *Ksyms
}

// NewFormatter formats with clock; specs says which formats will be used
// (ksym reads /proc/kallsyms now, not at the first event).
func NewFormatter(clock kernel.WallClock, specs []Spec) (*Formatter, error) {
	fm := &Formatter{clock: clock}
	for _, s := range specs {
		if s.Format == Ksym && fm.ksyms == nil {
			k, err := LoadKsyms("/proc/kallsyms")
			if err != nil {
				return nil, fmt.Errorf("--field %s=ksym: %w", s.Member, err)
			}
			fm.ksyms = k
		}
	}
	return fm, nil
}

// Format shows v, member f's decoded value (see layout.Decoder.Decode), in
// format; long gives times as RFC 3339 with nanoseconds (JSON), rather
// than the time of day.
func (fm *Formatter) Format(format Format, f layout.Field, v any, long bool) string {
	switch format {
	case IPv4, IPv6:
		b := memory(f, v)
		if a, ok := netip.AddrFromSlice(b); ok {
			return a.String()
		}
	case Errno:
		n, ok := signed(v)
		if !ok {
			break
		}
		neg, abs := "", n
		if n < 0 {
			neg, abs = "-", -n
		}
		if abs > 0 && abs < 1<<16 {
			if name := unix.ErrnoName(unix.Errno(abs)); name != "" {
				return neg + name
			}
		}
		return strconv.FormatInt(n, 10)
	case Hex:
		return hexOf(f, v)
	case Time:
		n, ok := signed(v)
		if !ok {
			break
		}
		t := fm.clock.Wall(time.Duration(n)).Local()
		if long {
			return t.Format(time.RFC3339Nano)
		}
		return t.Format(timeLayout)
	case Ksym:
		addr, ok := address(v)
		if !ok || fm.ksyms == nil {
			break
		}
		return fm.ksyms.Symbolize(addr)
	}
	return fmt.Sprint(v)
}

// memory gives back the bytes of an address member as they were in the
// record: the decoder read its integers in the machine's byte order.
func memory(f layout.Field, v any) []byte {
	ne := binary.NativeEndian
	put := func(b []byte, size int, x uint64) []byte {
		switch size {
		case 1:
			return append(b, byte(x))
		case 2:
			return ne.AppendUint16(b, uint16(x))
		case 4:
			return ne.AppendUint32(b, uint32(x))
		}
		return ne.AppendUint64(b, x)
	}
	switch x := v.(type) {
	case uint64:
		return put(nil, f.Size, x)
	case int64:
		return put(nil, f.Size, uint64(x))
	case *big.Int:
		u := new(big.Int).Set(x)
		if u.Sign() < 0 {
			u.Add(u, new(big.Int).Lsh(big.NewInt(1), 128))
		}
		be := u.FillBytes(make([]byte, 16))
		if ne.Uint16([]byte{1, 0}) == 1 { // little-endian: the low byte first
			for i, j := 0, 15; i < j; i, j = i+1, j-1 {
				be[i], be[j] = be[j], be[i]
			}
		}
		return be
	case []any:
		var b []byte
		for _, e := range x {
			switch n := e.(type) {
			case uint64:
				b = put(b, f.Size, n)
			case int64:
				b = put(b, f.Size, uint64(n))
			}
		}
		return b
	}
	return nil
}

func signed(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

func address(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case int64:
		return uint64(x), true
	case string: // a pointer: "0x..."
		n, err := strconv.ParseUint(strings.TrimPrefix(x, "0x"), 16, 64)
		return n, err == nil
	}
	return 0, false
}

// hexOf writes integers in hex: negative ones as their type's bits.
func hexOf(f layout.Field, v any) string {
	switch x := v.(type) {
	case uint64:
		return "0x" + strconv.FormatUint(x, 16)
	case int64:
		bits := 8 * f.Size
		if f.Bits > 0 {
			bits = f.Bits
		}
		u := uint64(x)
		if bits < 64 {
			u &= 1<<bits - 1
		}
		return "0x" + strconv.FormatUint(u, 16)
	case *big.Int:
		u := x
		if x.Sign() < 0 {
			u = new(big.Int).Add(x, new(big.Int).Lsh(big.NewInt(1), 128))
		}
		return "0x" + u.Text(16)
	case string: // a pointer, already hex
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = hexOf(f, e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}
