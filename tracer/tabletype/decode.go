package tabletype

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Value is a decoded map key or value.
type Value struct {
	Type *Type
	// Int holds signed integers up to 64 bits (char, bit-fields, ...).
	Int int64
	// Uint holds unsigned integers up to 64 bits, and _Bool (0 or 1).
	Uint uint64
	// Big holds 128-bit integers (either sign).
	Big *big.Int
	// Float holds float, double and long double (rounded to a float64).
	Float float64
	// Str holds a char array: its bytes before the first NUL, as they
	// are (not necessarily UTF-8).
	Str string
	// Elems holds the elements of other arrays.
	Elems []Value
	// Fields holds a struct's or union's members in order, padding left
	// out; an anonymous member's members are inlined, as C reads them.
	Fields []Field
}

// Field is a named member of a decoded struct or union.
type Field struct {
	Name  string
	Value Value
}

// IsString says whether v is a char array, decoded to Str.
func (v Value) IsString() bool {
	return v.Type != nil && v.Type.Kind == Array && v.Type.Elem.Char
}

// Decode reads a value of type t from b, which must be exactly t.Size
// bytes (little-endian, as on both handled architectures).
func (t *Type) Decode(b []byte) (Value, error) {
	if err := t.Ambiguous(); err != nil {
		return Value{}, err
	}
	if len(b) != t.Size {
		return Value{}, fmt.Errorf("decode %s: %d bytes, want %d", t, len(b), t.Size)
	}
	return decodeAt(t, b, 0, 0), nil
}

// decodeAt decodes t at bit offset bit of b; bitSize is non-zero for
// bit-fields. Layout has already checked everything fits.
func decodeAt(t *Type, b []byte, bit, bitSize int) Value {
	v := Value{Type: t}
	off := bit / 8
	switch t.Kind {
	case Int, Uint, Bool:
		if t.Size == 16 {
			v.Big = readInt128(b[off:off+16], t.Kind == Int)
			return v
		}
		var u uint64
		width := t.Size * 8
		if bitSize > 0 {
			u = readBits(b, bit, bitSize)
			width = bitSize
		} else {
			u = readUint(b[off : off+t.Size])
		}
		if t.Kind == Int {
			v.Int = int64(u<<(64-width)) >> (64 - width)
		} else {
			v.Uint = u
		}
	case Float:
		v.Float = readFloat(b[off:off+t.Size], t.arch)
	case Array:
		raw := b[off : off+t.Size]
		if t.Elem.Char {
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			v.Str = string(raw)
			return v
		}
		v.Elems = make([]Value, t.Len)
		for i := range v.Elems {
			v.Elems[i] = decodeAt(t.Elem, b, bit+i*t.Elem.Size*8, 0)
		}
	case Struct, Union:
		members := visible(t)
		v.Fields = make([]Field, len(members))
		for i, m := range members {
			v.Fields[i] = Field{Name: m.Name, Value: decodeAt(m.Type, b, bit+m.BitOffset, m.BitSize)}
		}
	}
	return v
}

// visible lists the members a reader sees: padding left out, anonymous
// members' members inlined, BitOffset relative to t.
func visible(t *Type) []Member {
	if !slices.ContainsFunc(t.Members, func(m Member) bool { return m.Padding || m.Anonymous }) {
		return t.Members // nothing to leave out or inline: no copy
	}
	var out []Member
	for _, m := range t.Members {
		switch {
		case m.Padding:
		case m.Anonymous:
			for _, in := range visible(m.Type) {
				in.BitOffset += m.BitOffset
				in.Offset = in.BitOffset / 8
				out = append(out, in)
			}
		default:
			out = append(out, m)
		}
	}
	return out
}

func readUint(b []byte) uint64 {
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:])
}

func readBits(b []byte, bit, n int) uint64 {
	var u uint64
	for i := 0; i < n; i++ {
		p := bit + i
		u |= uint64(b[p/8]>>(p%8)&1) << i
	}
	return u
}

func readInt128(b []byte, signed bool) *big.Int {
	be := make([]byte, 16)
	for i := range be {
		be[i] = b[15-i]
	}
	x := new(big.Int).SetBytes(be)
	if signed && be[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	return x
}

func readFloat(b []byte, arch Arch) float64 {
	switch len(b) {
	case 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	lo, hi := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
	if arch == AMD64 { // x87 80-bit extended: explicit integer bit
		sign, exp := hi>>15&1, int(hi&0x7fff)
		var f float64
		switch exp {
		case 0x7fff:
			f = math.Inf(1)
			if lo<<1 != 0 {
				f = math.NaN()
			}
		default:
			f = math.Ldexp(float64(lo), exp-16383-63)
		}
		if sign == 1 {
			f = -f
		}
		return f
	}
	// IEEE binary128 (arm64)
	sign, exp := hi>>63, int(hi>>48&0x7fff)
	frac := hi & (1<<48 - 1)
	var f float64
	switch exp {
	case 0x7fff:
		f = math.Inf(1)
		if frac != 0 || lo != 0 {
			f = math.NaN()
		}
	case 0:
		f = math.Ldexp(float64(frac), -16382-48) // subnormal: far below float64's range
	default:
		f = math.Ldexp(float64(frac|1<<48), exp-16383-48) + math.Ldexp(float64(lo), exp-16383-112)
	}
	if sign == 1 {
		f = -f
	}
	return f
}

// String formats v for text output: integers in decimal, strings as they
// are, arrays as [a, b], structs as {name: value, ...}.
func (v Value) String() string { return string(v.appendText(nil)) }

// AppendText appends what String returns to b (encoding.TextAppender),
// without the allocations of String.
func (v Value) AppendText(b []byte) ([]byte, error) { return v.appendText(b), nil }

func (v Value) appendText(b []byte) []byte {
	if v.Type == nil {
		return b
	}
	switch v.Type.Kind {
	case Int, Uint, Float:
		return v.appendNumber(b)
	case Bool:
		if v.Big != nil || v.Uint != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case Array:
		if v.IsString() {
			return append(b, v.Str...)
		}
		b = append(b, '[')
		for i, e := range v.Elems {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = e.appendText(b)
		}
		return append(b, ']')
	case Struct, Union:
		b = append(b, '{')
		for i, f := range v.Fields {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, f.Name...)
			b = append(b, ": "...)
			b = f.Value.appendText(b)
		}
		return append(b, '}')
	}
	return b
}

// appendNumber appends an integer or floating-point value in decimal.
func (v Value) appendNumber(b []byte) []byte {
	switch {
	case v.Big != nil:
		return v.Big.Append(b, 10)
	case v.Type.Kind == Int:
		return strconv.AppendInt(b, v.Int, 10)
	case v.Type.Kind == Float:
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	}
	return strconv.AppendUint(b, v.Uint, 10)
}

func (v Value) number() string { return string(v.appendNumber(nil)) }

// MarshalJSON writes numbers as JSON numbers (128-bit ones too; NaN and
// infinities as strings), _Bool as true/false, char arrays as strings,
// arrays as arrays, and structs as objects with members in order.
func (v Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := v.writeJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (v Value) writeJSON(b *bytes.Buffer) error {
	if v.Type == nil {
		b.WriteString("null")
		return nil
	}
	switch v.Type.Kind {
	case Int, Uint:
		b.WriteString(v.number())
	case Float:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			b.WriteString(strconv.Quote(v.number()))
		} else {
			b.WriteString(v.number())
		}
	case Bool:
		b.WriteString(v.String())
	case Array:
		if v.IsString() {
			s, err := json.Marshal(v.Str)
			b.Write(s)
			return err
		}
		b.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case Struct, Union:
		b.WriteByte('{')
		for i, f := range v.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			name, _ := json.Marshal(f.Name)
			b.Write(name)
			b.WriteByte(':')
			if err := f.Value.writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	}
	return nil
}

// Compare orders two values of the same type: numbers by value, strings
// bytewise, other values member by member (arrays element by element).
func Compare(a, b Value) int {
	if a.Type == nil || b.Type == nil {
		return 0
	}
	switch a.Type.Kind {
	case Int, Uint, Bool, Float:
		return compareNumbers(a, b)
	case Array:
		if a.IsString() {
			return strings.Compare(a.Str, b.Str)
		}
		for i := 0; i < len(a.Elems) && i < len(b.Elems); i++ {
			if c := Compare(a.Elems[i], b.Elems[i]); c != 0 {
				return c
			}
		}
		return len(a.Elems) - len(b.Elems)
	}
	for i := 0; i < len(a.Fields) && i < len(b.Fields); i++ {
		if c := Compare(a.Fields[i].Value, b.Fields[i].Value); c != 0 {
			return c
		}
	}
	return 0
}

func compareNumbers(a, b Value) int {
	if a.Type.Kind == Float || b.Type.Kind == Float {
		fa, fb := a.float(), b.float()
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	if a.Big == nil && b.Big == nil { // up to 64 bits: no big.Int
		aNeg := a.Type.Kind == Int && a.Int < 0
		bNeg := b.Type.Kind == Int && b.Int < 0
		switch {
		case aNeg && bNeg:
			return cmp.Compare(a.Int, b.Int)
		case aNeg:
			return -1
		case bNeg:
			return 1
		}
		return cmp.Compare(a.magnitude(), b.magnitude())
	}
	return a.bigInt().Cmp(b.bigInt())
}

// magnitude is a non-negative integer of up to 64 bits as a uint64.
func (v Value) magnitude() uint64 {
	if v.Type.Kind == Int {
		return uint64(v.Int)
	}
	return v.Uint
}

func (v Value) float() float64 {
	switch {
	case v.Type.Kind == Float:
		return v.Float
	case v.Big != nil:
		f, _ := new(big.Float).SetInt(v.Big).Float64()
		return f
	case v.Type.Kind == Int:
		return float64(v.Int)
	}
	return float64(v.Uint)
}

func (v Value) bigInt() *big.Int {
	switch {
	case v.Big != nil:
		return v.Big
	case v.Type.Kind == Int:
		return big.NewInt(v.Int)
	}
	return new(big.Int).SetUint64(v.Uint)
}

// PerCPU is a per-CPU map's value for one key.
type PerCPU struct {
	// Sum adds the CPUs' values: numbers are added (in 64 bits, or 128
	// for 128-bit integers: a sum of 32-bit counters is not cut to 32
	// bits, unlike bcc's ctypes), _Bool members are or-ed, and strings
	// are the first CPU's non-empty one.
	Sum Value
	// CPUs holds each possible CPU's value, by CPU number.
	CPUs []Value
}

// PerCPUStride is how many bytes each CPU's value takes in the buffer the
// kernel fills for a per-CPU map lookup: the size rounded up to 8.
func (t *Type) PerCPUStride() int { return roundUp(t.Size, 8) }

// DecodePerCPU reads a per-CPU map value: ncpu values (ncpu is the
// number of possible CPUs), each PerCPUStride bytes.
func (t *Type) DecodePerCPU(b []byte, ncpu int) (PerCPU, error) {
	stride := t.PerCPUStride()
	if ncpu <= 0 || len(b) != stride*ncpu {
		return PerCPU{}, fmt.Errorf("decode per-CPU %s: %d bytes for %d CPUs, want %d", t, len(b), ncpu, stride*max(ncpu, 0))
	}
	var p PerCPU
	for cpu := 0; cpu < ncpu; cpu++ {
		v, err := t.Decode(b[cpu*stride : cpu*stride+t.Size])
		if err != nil {
			return PerCPU{}, fmt.Errorf("cpu %d: %w", cpu, err)
		}
		p.CPUs = append(p.CPUs, v)
	}
	p.Sum = p.CPUs[0]
	for _, v := range p.CPUs[1:] {
		p.Sum = sum(p.Sum, v)
	}
	return p, nil
}

func sum(a, b Value) Value {
	switch a.Type.Kind {
	case Int, Uint:
		if a.Big != nil {
			a.Big = new(big.Int).Add(a.Big, b.Big)
		}
		a.Int += b.Int
		a.Uint += b.Uint
	case Bool:
		a.Uint |= b.Uint
	case Float:
		a.Float += b.Float
	case Array:
		if a.IsString() {
			if a.Str == "" {
				a.Str = b.Str
			}
			return a
		}
		elems := make([]Value, len(a.Elems))
		for i := range elems {
			elems[i] = sum(a.Elems[i], b.Elems[i])
		}
		a.Elems = elems
	case Struct, Union:
		fields := make([]Field, len(a.Fields))
		for i := range fields {
			fields[i] = Field{Name: a.Fields[i].Name, Value: sum(a.Fields[i].Value, b.Fields[i].Value)}
		}
		a.Fields = fields
	}
	return a
}
