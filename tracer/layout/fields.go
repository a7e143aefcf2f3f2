package layout

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"reflect"
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
// C's rules for x86-64 and arm64 (natural alignment; bitfields and packing
// as GCC and clang lay them out on little-endian machines).
type Field struct {
	Name   string
	Type   string // as libbcc recorded it, e.g. "u32", "char [16]"
	Kind   FieldKind
	Size   int   // of one element (for a bitfield: of its declared type)
	Align  int   // alignment in the struct (Size, but 16 for __int128)
	Dims   []int // array dimensions, outermost first; none for a scalar
	Offset int   // from the start of the struct, in bytes (a bitfield's first byte)
	Bits   int   // a bitfield's width; 0 for other members
	BitOff int   // a bitfield's offset from the start of the struct, in bits
}

// Decoder turns perf records of one struct type into values.
type Decoder struct {
	Fields []Field
	Size   int // sizeof the struct, padding included
	// Trailing accepts records longer than the struct: perf_submit_skb
	// sends the packet's bytes after it (see SubmitsSkb).
	Trailing bool
}

// SubmitsSkb says whether source sends table's records with
// perf_submit_skb, which appends packet bytes to the struct.
func SubmitsSkb(source, table string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(table) + `\s*\.\s*perf_submit_skb\s*\(`).MatchString(source)
}

// fieldDescRe splits libbcc's "name#type" field descriptions; unnamed
// members (an unnamed bitfield, an anonymous struct or union) have no name.
var (
	fieldDescRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)?#(.+)$`)
	arrayRe     = regexp.MustCompile(`^(.*?)\s*((?:\[\d*\]\s*)+)$`)
	dimRe       = regexp.MustCompile(`\[(\d*)\]`)
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
// ("name#type", in declaration order), laid out with C's natural alignment.
// libbcc does not record bitfield widths or packing: use NewDecoder only
// for a struct known to have neither (and whose enums are ints);
// SourceDecoder reads them from the struct's definition. A type it cannot
// decode is an error naming the field.
func NewDecoder(descs []string) (*Decoder, error) {
	return layout(descs, nil, nil)
}

// SourceDecoder builds a decoder for the struct that libbcc described
// (descs, as for NewDecoder), reading what libbcc does not record from the
// struct's definition in source, the C text that was compiled: bitfield
// widths, __attribute__((packed)) on the struct or a member, #pragma pack,
// the definitions of enums. It refuses, with an error naming the struct
// and the field, what it cannot lay out for certain: a struct whose
// definition is not in source (from a header, or made by a macro), one
// defined there twice with different layouts, a width that is not a
// number, other layout attributes, an enum not defined in source.
func SourceDecoder(source string, descs []string) (*Decoder, error) {
	names := make([]string, len(descs))
	types := make([]string, len(descs))
	for i, desc := range descs {
		m := fieldDescRe.FindStringSubmatch(strings.TrimSpace(desc))
		if m == nil {
			return nil, fmt.Errorf("field description %q: want NAME#TYPE", desc)
		}
		names[i], types[i] = m[1], strings.TrimSpace(m[2])
	}
	defs := findDefs(source)
	var found, typed []*cStruct
	for i := range defs.structs {
		s := &defs.structs[i]
		if s.union || !sameNames(s.members, names) {
			continue
		}
		found = append(found, s)
		if sameTypes(s.members, types) {
			typed = append(typed, s)
		}
	}
	if len(typed) > 0 {
		found = typed
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("struct with members %s: its definition is not in the C file, and libbcc does not record bitfield widths or packing, which evtrace reads from it: define the struct in the file (not in a header or a macro)", strings.Join(names, ", "))
	}
	d, err := layout(descs, found[0], defs.enums)
	for _, s := range found[1:] {
		d2, err2 := layout(descs, s, defs.enums)
		same := (err == nil) == (err2 == nil)
		if same && err != nil {
			same = err.Error() == err2.Error()
		} else if same {
			same = d.Size == d2.Size && reflect.DeepEqual(d.Fields, d2.Fields)
		}
		if !same {
			return nil, fmt.Errorf("%s and %s have the same members but not the same layout: evtrace cannot tell which one is submitted; rename one's members", found[0], s)
		}
	}
	return d, err
}

// sameTypes says whether the members declared could have the types libbcc
// recorded: arrays, pointers and the integer types evtrace knows must agree.
func sameTypes(members []cMember, types []string) bool {
	for i, m := range members {
		_, base, _ := parseFieldType("", types[i])
		if m.isArray != arrayRe.MatchString(types[i]) || m.ptr != strings.HasSuffix(base, "*") {
			return false
		}
		declared, ok1 := scalarTypes[m.typ]
		recorded, ok2 := scalarTypes[base]
		if ok1 && ok2 && declared != recorded {
			return false
		}
	}
	return true
}

func sameNames(members []cMember, names []string) bool {
	if len(members) != len(names) {
		return false
	}
	for i, m := range members {
		if m.name != names[i] {
			return false
		}
	}
	return true
}

// layout lays out the struct libbcc described. decl is its definition,
// nil for C's natural layout without bitfields; enums, when not nil, the
// enums that source defines.
func layout(descs []string, decl *cStruct, enums map[string]string) (*Decoder, error) {
	if len(descs) == 0 {
		return nil, fmt.Errorf("no fields")
	}
	prefix := ""
	if decl != nil {
		prefix = decl.String() + ": "
		if decl.problem != "" {
			return nil, fmt.Errorf("%s%s: evtrace cannot lay it out", prefix, decl.problem)
		}
	}
	littleEndian := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	d := &Decoder{}
	bit, align := 0, 1 // offset in bits; the struct's alignment
	prev := ""         // the last named field, for messages
	for i, desc := range descs {
		m := fieldDescRe.FindStringSubmatch(strings.TrimSpace(desc))
		if m == nil {
			return nil, fmt.Errorf("%sfield description %q: want NAME#TYPE", prefix, desc)
		}
		name, typ := m[1], strings.TrimSpace(m[2])
		what := "field " + name
		if name == "" {
			what = "the unnamed member after field " + prev
			if prev == "" {
				what = "the unnamed first member"
			}
		}
		member := cMember{bits: -1}
		if decl != nil {
			member = decl.members[i]
		}
		if member.problem != "" {
			return nil, fmt.Errorf("%s%s: %s: evtrace cannot lay it out", prefix, what, member.problem)
		}
		f, base, err := parseFieldType(name, typ)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, what, err)
		}
		if tag, isEnum := strings.CutPrefix(base, "enum "); isEnum && enums != nil {
			problem, defined := enums[tag]
			switch {
			case !defined:
				return nil, fmt.Errorf("%s%s: enum %s is not defined in the C file, so its size is unknown: give the member a fixed-width type (u32, s32, ...)", prefix, what, tag)
			case problem != "":
				return nil, fmt.Errorf("%s%s: enum %s: %s: give the member a fixed-width type (u32, s32, ...)", prefix, what, tag, problem)
			}
		}
		packed := decl != nil && (decl.packed || member.packed)
		fieldAlign := f.Align
		if packed {
			fieldAlign = 1
		}
		if decl != nil && decl.pack > 0 {
			fieldAlign = min(fieldAlign, decl.pack)
		}
		if member.bits < 0 {
			if name == "" {
				return nil, fmt.Errorf("%s%s: an anonymous struct or union: evtrace does not decode nested structs and unions; put their members in the submitted struct itself", prefix, what)
			}
			bit = alignUp(bit, 8*fieldAlign)
			f.Offset = bit / 8
			bit += 8 * f.Size * f.count()
			align = max(align, fieldAlign)
			d.Fields = append(d.Fields, f)
			prev = name
			continue
		}
		// A bitfield.
		_, scalar := scalarTypes[base]
		switch {
		case name == "":
			return nil, fmt.Errorf("%s%s: an unnamed bitfield: evtrace does not lay those out; name it", prefix, what)
		case !scalar || len(f.Dims) > 0:
			return nil, fmt.Errorf("%s%s: a bitfield of type %s: evtrace decodes bitfields of integer types only", prefix, what, typ)
		case member.bits == 0 || member.bits > 8*f.Size:
			return nil, fmt.Errorf("%s%s: bitfield width %d for type %s", prefix, what, member.bits, typ)
		case decl.pack != 0:
			return nil, fmt.Errorf("%s%s: a bitfield under #pragma pack: evtrace does not lay those out", prefix, what)
		case !littleEndian:
			return nil, fmt.Errorf("%s%s: a bitfield on a big-endian machine: evtrace does not lay those out", prefix, what)
		}
		// GCC and clang: a bitfield starts at the next free bit, unless
		// it would then cross a boundary of its type's alignment, where
		// it starts instead; in a packed struct, at the next free bit.
		unit := 8 * f.Size
		if !packed {
			if bit%unit+member.bits > unit {
				bit = alignUp(bit, unit)
			}
			align = max(align, f.Align)
		}
		f.Bits, f.BitOff, f.Offset = member.bits, bit, bit/8
		bit += member.bits
		d.Fields = append(d.Fields, f)
		prev = name
	}
	if decl != nil && decl.pack > 0 {
		align = min(align, decl.pack)
	}
	d.Size = alignUp((bit+7)/8, align)
	return d, nil
}

// parseFieldType returns the field a type makes, and the type's base
// (without array dimensions and qualifiers).
func parseFieldType(name, typ string) (Field, string, error) {
	f := Field{Name: name, Type: typ}
	base := typ
	if m := arrayRe.FindStringSubmatch(typ); m != nil {
		base = m[1]
		for _, dm := range dimRe.FindAllStringSubmatch(m[2], -1) {
			if dm[1] == "" {
				return f, "", fmt.Errorf("type %q: an array of unknown length (a flexible array member): its length is not in the struct; use a fixed size", typ)
			}
			n, err := strconv.Atoi(dm[1])
			if err != nil || n <= 0 {
				return f, "", fmt.Errorf("type %q: bad array size", typ)
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
		return f, base, nil
	case strings.HasPrefix(base, "enum "):
		f.Kind, f.Size, f.Align = FieldInt, 4, 4 // what the compiler makes of a plain enum
		return f, base, nil
	case strings.HasPrefix(base, "struct ") || strings.HasPrefix(base, "union "):
		return f, base, fmt.Errorf("type %q: evtrace does not decode nested structs and unions; put their members in the submitted struct itself", typ)
	}
	if kind, ok := int128Types[base]; ok {
		// One number (a *big.Int), 16-byte aligned; bcc's Python gives
		// two 64-bit halves instead.
		f.Kind, f.Size, f.Align = kind, 16, 16
		return f, base, nil
	}
	st, ok := scalarTypes[base]
	if !ok {
		return f, base, fmt.Errorf("type %q is not supported (integers of every width, enums, pointers, char arrays and arrays of these are; a typedef of these is not: use the type itself)", typ)
	}
	f.Size, f.Align = st.size, st.size
	f.Kind = FieldUint
	if st.signed {
		f.Kind = FieldInt
	}
	if base == "char" && len(f.Dims) == 1 {
		f.Kind = FieldString
	}
	return f, base, nil
}

func (f Field) count() int {
	n := 1
	for _, d := range f.Dims {
		n *= d
	}
	return n
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// Decode returns one value per field: int64, uint64, *big.Int (128-bit
// integers), string, or for arrays []any (nested for several dimensions);
// pointers are "0x..." strings.
// The kernel pads a perf record so that it and its 4-byte size end on 8
// bytes, so input that much longer is accepted; a record of another size
// was not made by the struct as laid out, and is an error.
func (d *Decoder) Decode(b []byte) ([]any, error) {
	if padded := alignUp(d.Size+4, 8) - 4; d.Size > 0 && (len(b) < d.Size || (len(b) > padded && !d.Trailing)) {
		return nil, fmt.Errorf("record of %d bytes, but the struct is laid out in %d (%d with the kernel's padding): the program sent something else, or a struct evtrace lays out differently than the compiler did; its records are not decoded", len(b), d.Size, padded)
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
	if f.Bits > 0 {
		return f.bitfield(b)
	}
	if len(f.Dims) == 0 {
		return f.scalar(b)
	}
	return f.array(b, f.Dims)
}

// bitfield extracts a bitfield from b, which starts at its first byte:
// little-endian, the first member in the lowest bits.
func (f Field) bitfield(b []byte) any {
	shift := f.BitOff % 8
	var u uint64
	for i := 0; i*8 < shift+f.Bits; i++ {
		pos := i*8 - shift
		if pos < 0 {
			u |= uint64(b[i]) >> -pos
		} else {
			u |= uint64(b[i]) << pos
		}
	}
	u &= 1<<f.Bits - 1
	if f.Kind == FieldInt {
		s := 64 - f.Bits
		return int64(u<<s) >> s
	}
	return u
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
	case 16:
		return int128(b, f.Kind == FieldInt)
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

// int128 reads a 128-bit integer in the machine's byte order.
func int128(b []byte, signed bool) *big.Int {
	ne := binary.NativeEndian
	lo, hi := ne.Uint64(b[0:8]), ne.Uint64(b[8:16])
	if ne.Uint16([]byte{1, 0}) != 1 { // big-endian: the high half first
		lo, hi = hi, lo
	}
	x := new(big.Int).SetUint64(hi)
	x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(lo))
	if signed && hi>>63 == 1 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	return x
}
