package tabletype

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
)

// Kind is what a type is, as far as decoding cares.
type Kind int

const (
	Int    Kind = iota // signed integer, of any width up to 128 bits
	Uint               // unsigned integer, of any width up to 128 bits
	Bool               // _Bool
	Float              // float, double, long double
	Array              // fixed-size (or flexible) array
	Struct             // struct
	Union              // union
)

var kindNames = [...]string{"int", "uint", "bool", "float", "array", "struct", "union"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Arch is a target ABI whose C layout rules are known: the Go names of
// the architectures libbcc runs on that are handled.
type Arch string

const (
	AMD64 Arch = "amd64" // x86_64 System V: char is signed
	ARM64 Arch = "arm64" // AAPCS64: char is unsigned
)

// Type is a laid-out C type.
type Type struct {
	Kind Kind
	// Name is the C name libbcc wrote: "unsigned int", or a struct's tag
	// ("" for an anonymous struct).
	Name  string
	Size  int // bytes
	Align int // bytes
	// Char is set for plain char, whose arrays decode as strings.
	Char bool
	// Elem and Len describe arrays. Flexible is set for a flexible array
	// member (Len 0, Size 0).
	Elem     *Type
	Len      int
	Flexible bool
	// Members of a struct or union, in declaration order, with libbcc's
	// padding members (__pad_N, __pad_end) included and marked.
	Members []Member
	// Packed is set when libbcc wrote "struct_packed": every gap is then
	// an explicit padding member. (libbcc writes it for every struct
	// without bit-fields or flexible array, packed in C or not.)
	Packed bool

	arch Arch
	// alts are other layouts the description allows (packed or not, a
	// flexible array or not); CheckSize picks by libbcc's size.
	alts []*Type
}

// Member is a member of a struct or union.
type Member struct {
	Name string // "" for anonymous struct/union members and unnamed bit-fields
	Type *Type
	// Offset is the byte offset in the enclosing struct; for a bit-field,
	// the byte holding its first bit.
	Offset int
	// BitOffset is the offset in bits (8*Offset unless a bit-field).
	BitOffset int
	// BitSize is the width of a bit-field, 0 for other members.
	BitSize int
	// Padding marks members that carry no data: libbcc's __pad_N and
	// __pad_end, and unnamed bit-fields.
	Padding bool
	// Anonymous marks an anonymous struct or union, whose members C (and
	// Decode) treat as members of the enclosing type.
	Anonymous bool
}

// Error says which member of a type cannot be laid out or decoded, and why.
type Error struct {
	Member string // dotted path; "" for the type as a whole
	Reason string
}

func (e *Error) Error() string {
	if e.Member == "" {
		return e.Reason
	}
	return fmt.Sprintf("member %s: %s", e.Member, e.Reason)
}

func errorf(member, format string, args ...any) *Error {
	return &Error{Member: member, Reason: fmt.Sprintf(format, args...)}
}

// HostArch is the Arch of the running program.
func HostArch() Arch { return Arch(runtime.GOARCH) }

// Parse reads and lays out a libbcc type description for the running
// architecture.
func Parse(desc string) (*Type, error) { return ParseArch(desc, HostArch()) }

// ParseArch reads and lays out a libbcc type description for arch. Call
// CheckSize with libbcc's recorded size before decoding: it catches what
// libbcc's description loses and settles what it leaves open.
func ParseArch(desc string, arch Arch) (*Type, error) {
	if arch != AMD64 && arch != ARM64 {
		return nil, fmt.Errorf("type layout for %s is not known (only %s and %s)", arch, AMD64, ARM64)
	}
	d := json.NewDecoder(strings.NewReader(desc))
	d.UseNumber()
	var raw any
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("libbcc type description %q: %w", desc, err)
	}
	n, err := readNode(raw, "")
	if err != nil {
		return nil, err
	}
	// The layouts the description allows, most likely first.
	var found []*Type
	var firstErr error
	for _, o := range []layoutOpts{{natural: true}, {natural: false}, {natural: true, flexLast: true}, {natural: false, flexLast: true}} {
		t, err := layout(n, "", o, arch)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		dup := false
		for _, f := range found {
			dup = dup || signature(f) == signature(t)
		}
		if !dup {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return nil, firstErr
	}
	t := found[0]
	t.alts = found[1:]
	return t, nil
}

// CheckSize compares the layout with the size libbcc recorded for the type
// (bpf_table_key_size / bpf_table_leaf_size, clang's sizeof). When the
// description allowed several layouts, the one of that size is kept. A
// type whose description lost information is refused with an *Error. The
// one loss that can be repaired is a typedef'd array, which libbcc records
// as its element type: a scalar whose recorded size is a multiple of its
// own becomes an array (a multi-dimensional one reads as flat).
func (t *Type) CheckSize(size int) error {
	var fit []*Type
	for _, c := range append([]*Type{t}, t.alts...) {
		if c.Size == size {
			fit = append(fit, c)
		}
	}
	// Layouts of the right size that place every member alike differ
	// only in whether a last member is a flexible array, whose element
	// then lies in the tail padding: the first, reading it as a member,
	// reads nothing that is not the value's.
	for _, other := range fit[min(1, len(fit)):] {
		if member, a, b, differ := firstDifference(fit[0], other, ""); differ {
			return errorf(member, "libbcc's description fits more than one layout (at byte %d or %d): whether a struct is packed cannot be told from what libbcc records", a, b)
		}
	}
	if len(fit) > 0 {
		keep := *fit[0]
		keep.alts = nil
		*t = keep
		return nil
	}
	if t.Kind <= Float && len(t.alts) == 0 && t.Size > 0 && size > t.Size && size%t.Size == 0 {
		elem := *t
		*t = Type{Kind: Array, Name: elem.Name, Size: size, Align: elem.Align, Char: elem.Char, Elem: &elem, Len: size / elem.Size, arch: elem.arch}
		return nil
	}
	var arrays []string
	walkMembers(t, "", func(path string, m Member) {
		if m.Type.Kind == Array && !m.Padding {
			arrays = append(arrays, path)
		}
	})
	reason := fmt.Sprintf("laid out in %d bytes, but libbcc recorded %d", t.Size, size)
	if len(arrays) > 0 {
		reason += fmt.Sprintf("; libbcc records only the first dimension of a multi-dimensional array: is one of %s one?", strings.Join(arrays, ", "))
		return errorf(arrays[0], "%s", reason)
	}
	return errorf("", "%s", reason)
}

// Ambiguous is non-nil while the description allows several layouts and
// CheckSize has not chosen one; Decode refuses such a type.
func (t *Type) Ambiguous() error {
	if len(t.alts) == 0 {
		return nil
	}
	member, a, b, _ := firstDifference(t, t.alts[0], "")
	return errorf(member, "at byte %d or %d depending on what libbcc's description leaves open; check the type against libbcc's size first", a, b)
}

// String is the C-ish spelling of the type, for messages.
func (t *Type) String() string {
	switch t.Kind {
	case Array:
		return fmt.Sprintf("%s[%d]", t.Elem, t.Len)
	case Struct, Union:
		if t.Name == "" {
			return "anonymous " + t.Kind.String()
		}
		return t.Kind.String() + " " + t.Name
	}
	return t.Name
}

// node is a parsed description before layout.
type node struct {
	scalar string // a builtin type name, or else a record:
	name   string
	kind   string // "struct", "struct_packed", "union"
	fields []field
}

type field struct {
	name   string
	typ    *node
	arrLen int // -1: not an array
	bits   int // -1: not a bit-field
	anon   bool
}

func readNode(v any, path string) (*node, error) {
	switch v := v.(type) {
	case string:
		return &node{scalar: v}, nil
	case []any:
		return readRecord(v, path)
	}
	return nil, errorf(path, "unexpected %v in libbcc's type description", v)
}

func readRecord(v []any, path string) (*node, error) {
	if len(v) < 2 || len(v) > 3 {
		return nil, errorf(path, "record description %v has %d elements, want 2 or 3", v, len(v))
	}
	n := &node{kind: "struct"}
	var ok bool
	if n.name, ok = v[0].(string); !ok {
		return nil, errorf(path, "record name %v is not a string", v[0])
	}
	if len(v) == 3 {
		if n.kind, ok = v[2].(string); !ok || (n.kind != "struct" && n.kind != "struct_packed" && n.kind != "union") {
			return nil, errorf(path, "record kind %v is not struct, struct_packed or union", v[2])
		}
	}
	list, ok := v[1].([]any)
	if !ok {
		return nil, errorf(path, "record members %v are not a list", v[1])
	}
	for _, fv := range list {
		f, err := readField(fv, path)
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, f)
	}
	return n, nil
}

// readField reads one member: [name, type], [name, type, [len]],
// [name, type, bits], or an anonymous record [name, members, kind].
func readField(v any, parent string) (field, error) {
	f := field{arrLen: -1, bits: -1}
	t, ok := v.([]any)
	if !ok || len(t) < 2 || len(t) > 3 {
		return f, errorf(parent, "unexpected member description %v", v)
	}
	if f.name, ok = t[0].(string); !ok {
		return f, errorf(parent, "member name %v is not a string", t[0])
	}
	path := join(parent, f.name)
	if len(t) == 3 {
		if _, isKind := t[2].(string); isKind {
			n, err := readRecord(t, path)
			f.typ, f.anon = n, f.name == ""
			return f, err
		}
	}
	n, err := readNode(t[1], path)
	if err != nil {
		return f, err
	}
	f.typ = n
	if len(t) == 3 {
		switch x := t[2].(type) {
		case []any:
			if len(x) != 1 {
				return f, errorf(path, "array dimensions %v, want one", x)
			}
			l, err := count(x[0])
			if err != nil {
				return f, errorf(path, "array length: %v", err)
			}
			f.arrLen = l
		case json.Number:
			b, err := count(x)
			if err != nil {
				return f, errorf(path, "bit-field width: %v", err)
			}
			f.bits = b
		default:
			return f, errorf(path, "unexpected %v after the member's type", t[2])
		}
	}
	return f, nil
}

func count(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<31 {
		return 0, fmt.Errorf("%v is not a count", v)
	}
	return int(i), nil
}

type layoutOpts struct {
	// natural: a struct_packed struct whose members all sit at their
	// natural alignment is aligned naturally (not packed in C), and
	// unions are not packed. Otherwise both are taken as packed.
	natural bool
	// flexLast: in a struct with bit-fields, the last member (libbcc
	// writes a flexible array as a single element) is a flexible array.
	flexLast bool
}

type scalarInfo struct {
	kind  Kind
	size  int
	char  bool
	armUn bool // unsigned on arm64
}

var scalars = map[string]scalarInfo{
	"_Bool":              {kind: Bool, size: 1},
	"char":               {kind: Int, size: 1, char: true, armUn: true},
	"signed char":        {kind: Int, size: 1},
	"unsigned char":      {kind: Uint, size: 1},
	"short":              {kind: Int, size: 2},
	"unsigned short":     {kind: Uint, size: 2},
	"int":                {kind: Int, size: 4},
	"unsigned int":       {kind: Uint, size: 4},
	"long":               {kind: Int, size: 8},
	"unsigned long":      {kind: Uint, size: 8},
	"long long":          {kind: Int, size: 8},
	"unsigned long long": {kind: Uint, size: 8},
	"__int128":           {kind: Int, size: 16},
	"unsigned __int128":  {kind: Uint, size: 16},
	"wchar_t":            {kind: Int, size: 4, armUn: true},
	"float":              {kind: Float, size: 4},
	"double":             {kind: Float, size: 8},
	"long double":        {kind: Float, size: 16},
}

func scalarType(name, path string, arch Arch) (*Type, error) {
	s, ok := scalars[name]
	if !ok {
		return nil, errorf(path, "type %q is not one evtrace can lay out", name)
	}
	k := s.kind
	if s.armUn && arch == ARM64 {
		k = Uint
	}
	return &Type{Kind: k, Name: name, Size: s.size, Align: s.size, Char: s.char, arch: arch}, nil
}

func layout(n *node, path string, o layoutOpts, arch Arch) (*Type, error) {
	if n.fields == nil && n.kind == "" {
		return scalarType(n.scalar, path, arch)
	}
	switch n.kind {
	case "struct_packed":
		return layoutSequential(n, path, o, arch)
	case "union":
		return layoutUnion(n, path, o, arch)
	}
	return layoutStruct(n, path, o, arch)
}

func fieldType(f field, path string, o layoutOpts, arch Arch) (*Type, error) {
	t, err := layout(f.typ, path, o, arch)
	if err != nil || f.arrLen < 0 {
		return t, err
	}
	return &Type{Kind: Array, Name: t.Name, Size: t.Size * f.arrLen, Align: t.Align, Char: t.Char, Elem: t, Len: f.arrLen, arch: arch}, nil
}

func member(f field, t *Type) Member {
	return Member{Name: f.name, Type: t, Anonymous: f.anon,
		Padding: strings.HasPrefix(f.name, "__pad_") && t.Kind == Array && t.Char}
}

// layoutSequential lays out a struct_packed record: libbcc wrote every
// gap as a padding member, so members follow each other.
func layoutSequential(n *node, path string, o layoutOpts, arch Arch) (*Type, error) {
	t := &Type{Kind: Struct, Name: n.name, Packed: true, arch: arch}
	off, natural, aligned := 0, 1, true
	for _, f := range n.fields {
		p := join(path, f.name)
		if f.bits >= 0 {
			return nil, errorf(p, "bit-field in a struct libbcc describes as packed")
		}
		ft, err := fieldType(f, p, o, arch)
		if err != nil {
			return nil, err
		}
		m := member(f, ft)
		m.Offset, m.BitOffset = off, off*8
		aligned = aligned && off%ft.Align == 0
		natural = max(natural, ft.Align)
		off += ft.Size
		t.Members = append(t.Members, m)
	}
	t.Size = off
	aligned = aligned && off%natural == 0
	t.Align = 1
	if aligned && o.natural {
		t.Align = natural
	}
	return t, nil
}

func layoutUnion(n *node, path string, o layoutOpts, arch Arch) (*Type, error) {
	t := &Type{Kind: Union, Name: n.name, Align: 1, arch: arch}
	for _, f := range n.fields {
		p := join(path, f.name)
		ft, err := fieldType(f, p, o, arch)
		if err != nil {
			return nil, err
		}
		m := member(f, ft)
		size := ft.Size
		if f.bits >= 0 {
			if err := checkBitField(f, ft, p); err != nil {
				return nil, err
			}
			m.BitSize = f.bits
			m.Padding = f.name == ""
			size = (f.bits + 7) / 8
		}
		t.Size = max(t.Size, size)
		if !m.Padding {
			t.Align = max(t.Align, ft.Align)
		} else if ft.Align > t.Align {
			return nil, errorf(p, "an unnamed bit-field wider than the union's other members: whether it aligns the union differs by ABI")
		}
		t.Members = append(t.Members, m)
	}
	if !o.natural {
		t.Align = 1
	}
	t.Size = roundUp(t.Size, t.Align)
	return t, nil
}

func checkBitField(f field, ft *Type, path string) error {
	if ft.Kind != Int && ft.Kind != Uint && ft.Kind != Bool {
		return errorf(path, "bit-field of type %s", ft)
	}
	if f.bits > ft.Size*8 {
		return errorf(path, "bit-field of %d bits wider than its type %s", f.bits, ft)
	}
	if f.bits > 64 {
		return errorf(path, "bit-field of %d bits: wider than 64 bits is not decoded", f.bits)
	}
	return nil
}

// layoutStruct lays out a record libbcc left to its reader (it has
// bit-fields or a flexible array member), with the System V / AAPCS64
// rules both ABIs share: a bit-field starts at the next free bit unless
// it would cross a boundary of its type's alignment; an unnamed
// zero-width one moves to the next such boundary.
func layoutStruct(n *node, path string, o layoutOpts, arch Arch) (*Type, error) {
	t := &Type{Kind: Struct, Name: n.name, arch: arch}
	hasBits := false
	for _, f := range n.fields {
		hasBits = hasBits || f.bits >= 0
	}
	bits, align, unnamedAlign := 0, 1, 1
	for i, f := range n.fields {
		p := join(path, f.name)
		ft, err := fieldType(f, p, o, arch)
		if err != nil {
			return nil, err
		}
		m := member(f, ft)
		if f.bits >= 0 {
			if err := checkBitField(f, ft, p); err != nil {
				return nil, err
			}
			unit := ft.Align * 8
			if f.bits == 0 {
				bits = roundUp(bits, unit)
				unnamedAlign = max(unnamedAlign, ft.Align)
				continue
			}
			if bits/unit != (bits+f.bits-1)/unit {
				bits = roundUp(bits, unit)
			}
			m.BitOffset, m.Offset, m.BitSize = bits, bits/8, f.bits
			bits += f.bits
			if f.name == "" {
				m.Padding = true
				unnamedAlign = max(unnamedAlign, ft.Align)
			} else {
				align = max(align, ft.Align)
			}
			t.Members = append(t.Members, m)
			continue
		}
		// libbcc writes a flexible array member as one element. Without
		// bit-fields, that is the only reason it leaves a struct unpadded.
		if i == len(n.fields)-1 && f.arrLen < 0 && !f.anon && (!hasBits || o.flexLast) {
			m.Type = &Type{Kind: Array, Name: ft.Name, Align: ft.Align, Char: ft.Char, Elem: ft, Flexible: true, arch: arch}
		}
		off := roundUp((bits+7)/8, m.Type.Align)
		m.Offset, m.BitOffset = off, off*8
		bits = (off + m.Type.Size) * 8
		align = max(align, m.Type.Align)
		t.Members = append(t.Members, m)
	}
	t.Align = align
	t.Size = roundUp((bits+7)/8, align)
	if unnamedAlign > align && roundUp((bits+7)/8, unnamedAlign) != t.Size {
		return nil, errorf(path, "an unnamed bit-field's type is aligned more than the named members: whether it aligns the struct differs by ABI")
	}
	return t, nil
}

func roundUp(n, a int) int {
	if a <= 1 {
		return n
	}
	return (n + a - 1) / a * a
}

func join(parent, name string) string {
	if parent == "" || name == "" {
		return parent + name
	}
	return parent + "." + name
}

// signature lists every member's place and size, to compare layouts.
func signature(t *Type) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d;", t.Size)
	walkMembers(t, "", func(path string, m Member) {
		fmt.Fprintf(&b, "%s@%d+%d:%d;", path, m.BitOffset, m.BitSize, m.Type.Size)
	})
	return b.String()
}

// walkMembers calls fn for every member of t, nested ones included (not
// those inside arrays), with its dotted path; BitOffset is then relative
// to the start of t.
func walkMembers(t *Type, path string, fn func(string, Member)) {
	walkAt(t, path, 0, fn)
}

func walkAt(t *Type, path string, base int, fn func(string, Member)) {
	for _, m := range t.Members {
		p := join(path, m.Name)
		abs := m
		abs.BitOffset += base
		abs.Offset = abs.BitOffset / 8
		fn(p, abs)
		if m.Type.Kind == Struct || m.Type.Kind == Union {
			walkAt(m.Type, p, abs.BitOffset, fn)
		}
	}
}

// firstDifference names the first member placed at a different offset in
// a and b (or the whole type, when only the sizes differ).
func firstDifference(a, b *Type, path string) (member string, offA, offB int, differ bool) {
	pa := map[string]int{}
	var order []string
	walkMembers(a, path, func(p string, m Member) {
		pa[p] = m.BitOffset
		order = append(order, p)
	})
	pb := map[string]int{}
	walkMembers(b, path, func(p string, m Member) { pb[p] = m.BitOffset })
	for _, p := range order {
		if pa[p] != pb[p] {
			return p, pa[p] / 8, pb[p] / 8, true
		}
	}
	return "", a.Size, b.Size, a.Size != b.Size
}
