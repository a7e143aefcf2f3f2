package tracer

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FieldKind is how a perf event field is decoded.
type FieldKind int

const (
	FieldInt     FieldKind = iota // signed integer
	FieldUint                     // unsigned integer
	FieldString                   // char[N], up to its first NUL
	FieldPointer                  // printed as hex
	FieldBytes                    // the whole record, as hex (RawDecoder)
)

// Field is one member of a struct submitted to a perf table, laid out with
// C's rules for x86-64 and arm64 (natural alignment).
type Field struct {
	Name   string
	Type   string // as libbcc recorded it, e.g. "u32", "char [16]"
	Kind   FieldKind
	Size   int   // of one element
	Align  int   // alignment in the struct (Size, but 16 for __int128)
	Dims   []int // array dimensions, outermost first; none for a scalar
	Offset int   // from the start of the struct
}

// Decoder turns perf records of one struct type into values.
type Decoder struct {
	Fields []Field
	Size   int // sizeof the struct, padding included
}

// fieldDescRe splits libbcc's "name#type" field descriptions.
var (
	fieldDescRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)#(.+)$`)
	arrayRe     = regexp.MustCompile(`^(.*?)\s*((?:\[\d+\]\s*)+)$`)
	dimRe       = regexp.MustCompile(`\[(\d+)\]`)
)

// scalar types libbcc may name, by their C spelling: size and signedness.
var scalarTypes = map[string]struct {
	size   int
	signed bool
}{}

func init() {
	add := func(size int, signed bool, names ...string) {
		for _, n := range names {
			scalarTypes[n] = struct {
				size   int
				signed bool
			}{size, signed}
		}
	}
	add(1, true, "char", "signed char", "s8", "__s8", "int8_t")
	add(1, false, "unsigned char", "u8", "__u8", "uint8_t", "_Bool", "bool")
	add(2, true, "short", "short int", "signed short", "signed short int", "s16", "__s16", "int16_t")
	add(2, false, "unsigned short", "unsigned short int", "u16", "__u16", "uint16_t", "__be16", "__le16", "umode_t")
	add(4, true, "int", "signed int", "signed", "s32", "__s32", "int32_t", "pid_t", "ssize32_t")
	add(4, false, "unsigned int", "unsigned", "u32", "__u32", "uint32_t", "__be32", "__le32", "uid_t", "gid_t", "dev_t")
	add(8, true, "long", "long int", "signed long", "signed long int", "long long", "long long int",
		"signed long long", "signed long long int", "s64", "__s64", "int64_t", "ssize_t", "loff_t")
	add(8, false, "unsigned long", "unsigned long int", "unsigned long long", "unsigned long long int",
		"u64", "__u64", "uint64_t", "size_t", "__be64", "__le64", "uintptr_t")
}

// RawDecoder decodes records of a perf table whose struct libbcc did not
// record (perf_submit of something that is not a struct): one field,
// "data", the record's bytes in hex, as the kernel delivered them (with up
// to 7 bytes of padding at the end).
func RawDecoder() *Decoder {
	return &Decoder{Fields: []Field{{Name: "data", Type: "bytes", Kind: FieldBytes}}}
}

// int128Types are the 128-bit integer spellings, by signedness.
var int128Types = map[string]FieldKind{
	"__int128": FieldInt, "signed __int128": FieldInt, "__int128_t": FieldInt,
	"unsigned __int128": FieldUint, "__uint128_t": FieldUint, "__int128 unsigned": FieldUint,
}

// NewDecoder builds a decoder from libbcc's field descriptions of a struct
// ("name#type", in declaration order). A type it cannot decode is an error
// naming the field.
func NewDecoder(descs []string) (*Decoder, error) {
	if len(descs) == 0 {
		return nil, fmt.Errorf("no fields")
	}
	d := &Decoder{}
	align := 1
	for _, desc := range descs {
		m := fieldDescRe.FindStringSubmatch(strings.TrimSpace(desc))
		if m == nil {
			return nil, fmt.Errorf("field description %q: want NAME#TYPE", desc)
		}
		f, err := parseFieldType(m[1], strings.TrimSpace(m[2]))
		if err != nil {
			return nil, err
		}
		d.Size = alignUp(d.Size, f.Align)
		f.Offset = d.Size
		d.Size += f.Size * f.count()
		align = max(align, f.Align)
		d.Fields = append(d.Fields, f)
	}
	d.Size = alignUp(d.Size, align)
	return d, nil
}

func parseFieldType(name, typ string) (Field, error) {
	f := Field{Name: name, Type: typ}
	base := typ
	if m := arrayRe.FindStringSubmatch(typ); m != nil {
		base = m[1]
		for _, dm := range dimRe.FindAllStringSubmatch(m[2], -1) {
			n, err := strconv.Atoi(dm[1])
			if err != nil || n <= 0 {
				return f, fmt.Errorf("field %s: type %q: bad array size", name, typ)
			}
			f.Dims = append(f.Dims, n)
		}
	}
	base = strings.Join(strings.Fields(base), " ")
	for _, q := range []string{"const ", "volatile "} {
		base = strings.TrimPrefix(base, q)
	}
	switch {
	case strings.HasSuffix(base, "*"):
		f.Kind, f.Size, f.Align = FieldPointer, 8, 8
		return f, nil
	case strings.HasPrefix(base, "enum "):
		f.Kind, f.Size, f.Align = FieldInt, 4, 4 // what the compiler makes of a plain enum
		return f, nil
	}
	if kind, ok := int128Types[base]; ok {
		// As bcc's Python does: two 64-bit halves, in memory order
		// (low half first on little-endian machines), 16-byte aligned.
		f.Kind, f.Size, f.Align = kind, 8, 16
		f.Dims = append(f.Dims, 2)
		return f, nil
	}
	st, ok := scalarTypes[base]
	if !ok {
		return f, fmt.Errorf("field %s: type %q is not supported (integers of every width, enums, pointers, char arrays and arrays of these are)", name, typ)
	}
	f.Size, f.Align = st.size, st.size
	f.Kind = FieldUint
	if st.signed {
		f.Kind = FieldInt
	}
	if base == "char" && len(f.Dims) == 1 {
		f.Kind = FieldString
	}
	return f, nil
}

func (f Field) count() int {
	n := 1
	for _, d := range f.Dims {
		n *= d
	}
	return n
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// Decode returns one value per field: int64, uint64, string, or for
// arrays []any (nested for several dimensions); pointers are "0x..." strings.
// The kernel may pad a record, so longer input is accepted.
func (d *Decoder) Decode(b []byte) ([]any, error) {
	if len(b) < d.Size {
		return nil, fmt.Errorf("record of %d bytes, want %d", len(b), d.Size)
	}
	vals := make([]any, len(d.Fields))
	for i, f := range d.Fields {
		vals[i] = f.decode(b[f.Offset:])
	}
	return vals, nil
}

func (f Field) decode(b []byte) any {
	if f.Kind == FieldBytes {
		return hex.EncodeToString(b)
	}
	if f.Kind == FieldString {
		s := b[:f.Dims[0]]
		for i, c := range s {
			if c == 0 {
				s = s[:i]
				break
			}
		}
		return string(s)
	}
	if len(f.Dims) == 0 {
		return f.scalar(b)
	}
	return f.array(b, f.Dims)
}

func (f Field) array(b []byte, dims []int) []any {
	inner := f.Size
	for _, d := range dims[1:] {
		inner *= d
	}
	out := make([]any, dims[0])
	for i := range out {
		if len(dims) == 1 {
			out[i] = f.scalar(b[i*f.Size:])
		} else {
			out[i] = f.array(b[i*inner:], dims[1:])
		}
	}
	return out
}

func (f Field) scalar(b []byte) any {
	ne := binary.NativeEndian
	var u uint64
	switch f.Size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(ne.Uint16(b))
	case 4:
		u = uint64(ne.Uint32(b))
	case 8:
		u = ne.Uint64(b)
	}
	switch f.Kind {
	case FieldPointer:
		return "0x" + strconv.FormatUint(u, 16)
	case FieldInt, FieldString: // a lone char is a small integer
		shift := 64 - 8*f.Size
		return int64(u<<shift) >> shift
	}
	return u
}
