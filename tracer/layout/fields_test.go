package layout

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func TestDecoderLayout(t *testing.T) {
	tests := []struct {
		name    string
		descs   []string
		offsets []int
		size    int
	}{
		{"mixed widths", []string{"a#u8", "b#u16", "c#s32", "d#u64", "comm#char[16]", "pair#u32[2]"}, []int{0, 2, 4, 8, 16, 32}, 40},
		{"padding before a u64 and at the end", []string{"x#u8", "y#unsigned long long", "z#char"}, []int{0, 8, 16}, 24},
		{"char array spellings", []string{"a#char [16]", "b#char[3]", "c#int"}, []int{0, 16, 20}, 24},
		{"nested arrays", []string{"m#u16 [2][3]", "n#u8"}, []int{0, 12}, 14},
		{"enum and pointer", []string{"e#enum state", "p#struct sock *", "q#const char *"}, []int{0, 8, 16}, 24},
		{"__int128 aligned to 16", []string{"a#u8", "b#unsigned __int128", "c#u32"}, []int{0, 16, 32}, 48},
		{"__int128 arrays", []string{"a#u32", "addrs#__int128 [2]"}, []int{0, 16}, 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.descs)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int
			for _, f := range d.Fields {
				offs = append(offs, f.Offset)
			}
			if !reflect.DeepEqual(offs, tt.offsets) || d.Size != tt.size {
				t.Errorf("offsets %v size %d, want %v size %d", offs, d.Size, tt.offsets, tt.size)
			}
		})
	}
}

func TestDecoderUnsupported(t *testing.T) {
	for _, descs := range [][]string{
		{"ok#u32", "inner#struct in6_addr"},
		{"f#float"},
		{"u#union { int a; }"},
	} {
		_, err := NewDecoder(descs)
		bad := strings.SplitN(descs[len(descs)-1], "#", 2)[0]
		if err == nil || !strings.Contains(err.Error(), "field "+bad+":") {
			t.Errorf("%v: %v, want an error naming field %s", descs, err, bad)
		}
	}
	for _, descs := range [][]string{nil, {"nohash"}, {"a#u32[0]"}} {
		if _, err := NewDecoder(descs); err == nil {
			t.Errorf("%v accepted", descs)
		}
	}
}

func TestDecode(t *testing.T) {
	d, err := NewDecoder([]string{"a#u8", "b#u16", "c#s32", "d#u64", "comm#char[16]", "pair#u32[2]", "neg#s8", "m#s16[2][2]", "p#void *"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, d.Size+4) // the kernel may pad
	ne := binary.NativeEndian
	b[0] = 200
	ne.PutUint16(b[2:], 65000)
	ne.PutUint32(b[4:], uint32(0xffffffff)) // -1
	ne.PutUint64(b[8:], 1<<63)
	copy(b[16:], "getppid\x00junk")
	ne.PutUint32(b[32:], 7)
	ne.PutUint32(b[36:], 8)
	b[40] = 0xfe // -2
	for i, v := range []int16{-1, 2, -3, 4} {
		ne.PutUint16(b[42+2*i:], uint16(v))
	}
	ne.PutUint64(b[56:], 0xffff8880deadbeef)
	got, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{uint64(200), uint64(65000), int64(-1), uint64(1 << 63), "getppid", []any{uint64(7), uint64(8)}, int64(-2),
		[]any{[]any{int64(-1), int64(2)}, []any{int64(-3), int64(4)}}, "0xffff8880deadbeef"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	if _, err := d.Decode(b[:d.Size-1]); err == nil {
		t.Error("short record decoded")
	}
}

func TestDecodeInt128AndRaw(t *testing.T) {
	d, err := NewDecoder([]string{"x#u32", "addr#unsigned __int128", "s#__int128"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, d.Size)
	ne := binary.NativeEndian
	ne.PutUint32(b, 9)
	ne.PutUint64(b[16:], 0x0000000000000001) // ::1 as two halves, low first
	ne.PutUint64(b[24:], 0x1)
	ne.PutUint64(b[32:], ^uint64(0)) // -1
	ne.PutUint64(b[40:], ^uint64(0))
	got, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// One number each, as C has it (bcc's Python gives two halves).
	if got[0] != uint64(9) || fmt.Sprint(got[1]) != "18446744073709551617" || fmt.Sprint(got[2]) != "-1" {
		t.Errorf("got %v, want [9 18446744073709551617 -1]", got)
	}
	if _, ok := got[1].(*big.Int); !ok {
		t.Errorf("a 128-bit member decoded as %T, want *big.Int", got[1])
	}

	raw := RawDecoder()
	got, err = raw.Decode([]byte{0x2a, 0, 0, 0, 0xff})
	if err != nil || !reflect.DeepEqual(got, []any{"2a000000ff"}) {
		t.Errorf("raw: %#v, %v", got, err)
	}
}

// TestSourceDecoderLayout: libbcc records "name#type" only (on bcc 0.26:
// "a#u8" for `u8 a:3`, nothing for __attribute__((packed))), so the
// layout comes from the struct's definition in the source. The bytes are
// what clang (through libbcc) made of these structs on x86-64.
func TestSourceDecoderLayout(t *testing.T) {
	tests := []struct {
		name   string
		source string
		descs  []string
		record []byte
		want   []any
		size   int
	}{
		{"packed", `struct packed_ev { u8 a; u32 b; u8 c[3]; } __attribute__((packed));`,
			[]string{"a#u8", "b#u32", "c#u8[3]"}, []byte{0x11, 0x55, 0x44, 0x33, 0x22, 1, 2, 3, 0, 0, 0, 0},
			[]any{uint64(0x11), uint64(573785173), []any{uint64(1), uint64(2), uint64(3)}}, 8},
		{"packed before the tag", `struct __attribute__((__packed__)) p { u8 a; u16 b; };`,
			[]string{"a#u8", "b#u16"}, []byte{1, 2, 0, 0}, []any{uint64(1), uint64(2)}, 3},
		{"kernel's __packed", "typedef struct {\n\tu8 a;\n\tu16 b;\n} __packed p_t;",
			[]string{"a#u8", "b#u16"}, []byte{1, 2, 0, 0}, []any{uint64(1), uint64(2)}, 3},
		{"packed member", `struct m { u8 a; u32 b __attribute__((packed)); u8 c; };`,
			[]string{"a#u8", "b#u32", "c#u8"}, []byte{1, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0},
			[]any{uint64(1), uint64(2), uint64(3)}, 6}, // every member aligned to 1: so is the struct
		{"bitfields in one byte and the next", "struct bits_ev {\n\tu8 a:3, b:5, c:4;\n};",
			[]string{"a#u8", "b#u8", "c#u8"}, []byte{0x3d, 0x09, 0, 0}, []any{uint64(5), uint64(7), uint64(9)}, 2},
		{"wide and signed bitfields", `struct wide_bits { u32 x:3; u32 y:29; u64 z:40; s16 w:5; u8 last; };`,
			[]string{"x#u32", "y#u32", "z#u64", "w#s16", "last#u8"},
			[]byte{0xcd, 0x81, 0x01, 0, 0, 0, 0, 0, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x1d, 200, 0, 0, 0, 0, 0},
			[]any{uint64(5), uint64(12345), uint64(0xabcdef1234), int64(-3), uint64(200)}, 16},
		{"packed bitfields cross bytes", `struct pb { u8 a:3; u16 b:12; u8 c; } __attribute__((packed));`,
			// a=5 in bits 0-2, b=0xabc in bits 3-14, c at byte 2
			[]string{"a#u8", "b#u16", "c#u8"}, []byte{0x5 | 0xabc<<3&0xff, 0xabc >> 5, 7, 0}, []any{uint64(5), uint64(0xabc), uint64(7)}, 3},
		{"mixed bitfields and members", `struct mix { u8 a; u64 b:60; u32 c:7; s8 d:2; char name[5]; u16 e:1; };`,
			[]string{"a#u8", "b#u64", "c#u32", "d#s8", "name#char[5]", "e#u16"},
			[]byte{1, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x43, 0x65, 0x87, 0xa9, 0xcb, 0xed, 0x0f, 0x64, 0x02, 0x61, 0x62, 0x63, 0x64, 0, 1, 0, 0, 0, 0},
			[]any{uint64(1), uint64(0x0fedcba987654321), uint64(100), int64(-2), "abcd", uint64(1)}, 24},
		{"char, _Bool and int bitfields", `struct chb { char a:3; _Bool f:1; int g:20; };`,
			[]string{"a#char", "f#_Bool", "g#int"}, []byte{0x0d, 0xee, 0x85, 0}, []any{int64(-3), uint64(1), int64(-500000)}, 4},
		{"C23 attribute", `struct [[gnu::packed]] p { u8 a; u16 b; };`,
			[]string{"a#u8", "b#u16"}, []byte{1, 2, 0, 0}, []any{uint64(1), uint64(2)}, 3},
		{"pragma pack", "#pragma pack(push, 1)\nstruct pragma_ev { u8 a; u64 b; };\n#pragma pack(pop)\nstruct after { u8 x; };",
			[]string{"a#u8", "b#u64"}, []byte{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []any{uint64(1), uint64(2)}, 9},
		{"_Pragma", "_Pragma(\"pack(push, 1)\")\nstruct pragma_ev { u8 a; u64 b; };\n_Pragma(\"pack(pop)\")",
			[]string{"a#u8", "b#u64"}, []byte{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []any{uint64(1), uint64(2)}, 9},
		{"pragma pack popped", "#pragma pack(push, 1)\nstruct x { u8 a; };\n#pragma pack(pop)\nstruct natural { u8 a; u64 b; };",
			[]string{"a#u8", "b#u64"}, append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 2}, make([]byte, 11)...), []any{uint64(1), uint64(2)}, 16},
		{"same names, told apart by type", "struct one { u8 a; u32 b; } __attribute__((packed));\nstruct two { u8 a; u8 b; };",
			[]string{"a#u8", "b#u8"}, []byte{1, 2, 0, 0}, []any{uint64(1), uint64(2)}, 2},
		{"comments, strings and macros are not definitions", `
// struct fake { u8 a:1; u8 b:1; };
/* struct fake2 { u8 a:1; u8 b:1; } */
#define MAKE struct fake3 { u8 a:1; u8 b:1; }
static const char *s = "struct fake4 { u8 a:1; u8 b:1; }";
struct real { u8 a; u8 b; };`,
			[]string{"a#u8", "b#u8"}, []byte{1, 2, 0, 0}, []any{uint64(1), uint64(2)}, 2},
		{"harmless macros", "#define N 16\n#define X(a) ((a)+1)\nstruct ev { u8 a[N]; u8 b; };",
			[]string{"a#u8[16]", "b#u8"}, make([]byte, 20), []any{[]any{uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0)}, uint64(0)}, 17},
		{"enum defined in the file", `enum state { IDLE, BUSY = 7 }; struct e { enum state s; u8 n; };`,
			[]string{"s#enum state", "n#u8"}, []byte{7, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}, []any{int64(7), uint64(9)}, 8},
		{"nested definitions elsewhere", `struct outer { struct inner { u16 p; } in; u8 r; }; struct ev { u16 p; u64 q:9; };`,
			[]string{"p#u16", "q#u64"}, []byte{1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, []any{uint64(1), uint64(0x101)}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := SourceDecoder(tt.source, tt.descs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Size != tt.size {
				t.Errorf("size %d, want %d (fields %+v)", d.Size, tt.size, d.Fields)
			}
			got, err := d.Decode(tt.record)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v\nfields %+v", got, tt.want, d.Fields)
			}
		})
	}
}

// TestSourceDecoderRefuses: what evtrace cannot lay out for certain is an
// error naming the struct and the member, not a guess.
func TestSourceDecoderRefuses(t *testing.T) {
	tests := []struct {
		source string
		descs  []string
		want   string
	}{
		{`struct ev { u32 a; };`, []string{"b#u32"}, "struct with members b: its definition is not in the C file"},
		{`struct ev { u8 a; u32 b __attribute__((aligned(16))); };`, []string{"a#u8", "b#u32"}, "struct ev: field b: __attribute__((aligned))"},
		{`struct ev { u8 a; u32 b; } __attribute__((packed, aligned(4)));`, []string{"a#u8", "b#u32"}, "struct ev: __attribute__((aligned)) on the struct"},
		{`struct ev { u8 a:BITS; };`, []string{"a#u8"}, `struct ev: field a: bitfield width "BITS" is not a number`},
		{`struct ev { u32 a:3; u32 :2; u32 b:1; };`, []string{"a#u32", "#u32", "b#u32"}, "struct ev: the unnamed member after field a: an unnamed bitfield"},
		{`struct ev { u32 a:3; u32 :0; u32 b:1; };`, []string{"a#u32", "#u32", "b#u32"}, "struct ev: the unnamed member after field a: an unnamed bitfield"},
		{`enum e { X }; struct ev { enum e a:2; };`, []string{"a#enum e"}, "struct ev: field a: a bitfield of type enum e"},
		{`struct ev { u32 pid; enum sock_state st; };`, []string{"pid#u32", "st#enum sock_state"}, "field st: enum sock_state is not defined in the C file"},
		{`enum __attribute__((packed)) st { A, B }; struct ev { enum st s; };`, []string{"s#enum st"}, "field s: enum st: __attribute__((packed)) makes its size unknown"},
		{`enum big { A = 0x100000000ULL }; struct ev { enum big s; };`, []string{"s#enum big"}, "field s: enum big: value 0x100000000ULL may not fit an int"},
		{"#if X\nstruct ev { u8 a; u32 b; };\n#else\nstruct ev { u8 a; u32 b; } __attribute__((packed));\n#endif",
			[]string{"a#u8", "b#u32"}, "struct ev and struct ev have the same members but not the same layout"},
		{`struct ev { u32 a; union { u32 b; u16 c; }; };`, []string{"a#u32", "#union ev::(anonymous at /virtual/main.c:1:23)"}, `struct ev: the unnamed member after field a: type "union ev::(anonymous at /virtual/main.c:1:23)": evtrace does not decode nested structs`},
		{`struct ev { struct { u32 p; } in; u8 r; };`, []string{"in#struct (unnamed struct at /virtual/main.c:1:13)", "r#u8"}, "struct ev: field in: type \"struct (unnamed struct at /virtual/main.c:1:13)\": evtrace does not decode nested structs"},
		{`struct ev { u32 n; u8 data[]; };`, []string{"n#u32", "data#u8[]"}, "struct ev: field data: type \"u8[]\": an array of unknown length"},
		{"#pragma pack(push, 1)\nstruct ev { u8 a:3; };\n#pragma pack(pop)", []string{"a#u8"}, "struct ev: field a: a bitfield under #pragma pack"},
		{"#pragma pack(push, r1, 1)\nstruct ev { u8 a; };", []string{"a#u8"}, "struct ev: a #pragma pack form evtrace does not read"},
		{`struct ev { u8 x; __attribute__((packed)) u32 a, b; };`, []string{"x#u8", "a#u32", "b#u32"}, "struct ev: field a: an attribute in a declaration of several members"},
		{`struct ev { u8 a; u32 b [[gnu::aligned(16)]]; };`, []string{"a#u8", "b#u32"}, "struct ev: field b: __attribute__((aligned))"},
		{`struct ev { u8 a; u32 b; } [[gnu::aligned(8)]];`, []string{"a#u8", "b#u32"}, "struct ev: __attribute__((aligned)) on the struct"},
		{"#define __my_packed __attribute__((packed))\nstruct ev { u8 a; u32 b; } __my_packed;", []string{"a#u8", "b#u32"}, "struct ev: macro __my_packed (evtrace does not expand macros"},
		{"#define ALIGN(n) __attribute__((aligned(n)))\nstruct ev { u8 a; u32 b ALIGN(8); };", []string{"a#u8", "b#u32"}, "struct ev: field b: macro ALIGN"},
		{"#define PACK1 _Pragma(\"pack(1)\")\nPACK1\nstruct ev { u8 a; u32 b; };", []string{"a#u8", "b#u32"}, "struct ev: a #pragma pack form evtrace does not read"},
		{"struct ev { u8 a; u32 b; } ____cacheline_aligned;", []string{"a#u8", "b#u32"}, "struct ev: macro ____cacheline_aligned"},
		{`struct ev { u8 a; float f; };`, []string{"a#u8", "f#float"}, `struct ev: field f: type "float" is not supported`},
		{`typedef u32 myint; struct ev { myint x; };`, []string{"x#myint"}, `struct ev: field x: type "myint" is not supported`},
	}
	for _, tt := range tests {
		_, err := SourceDecoder(tt.source, tt.descs)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %q:\n got  %v\n want %q", tt.source, tt.descs, err, tt.want)
		}
	}
}

// TestDecodeRecordSize: a record longer than the struct and the kernel's
// padding, or shorter than the struct, was not made by the struct as
// laid out: an error, not values.
func TestDecodeRecordSize(t *testing.T) {
	d, err := NewDecoder([]string{"a#u8", "b#u8", "c#u8"}) // 3 bytes; the kernel pads to 4
	if err != nil {
		t.Fatal(err)
	}
	for n, ok := range map[int]bool{2: false, 3: true, 4: true, 5: false, 12: false} {
		_, err := d.Decode(make([]byte, n))
		if (err == nil) != ok {
			t.Errorf("record of %d bytes: %v", n, err)
		}
	}
	// perf_submit_skb sends the packet after the struct.
	d.Trailing = true
	if _, err := d.Decode(make([]byte, 100)); err != nil {
		t.Errorf("perf_submit_skb record: %v", err)
	}
	if _, err := d.Decode(make([]byte, 2)); err == nil {
		t.Error("short perf_submit_skb record decoded")
	}
	if !SubmitsSkb("events.perf_submit_skb(skb, skb->len, &e, sizeof(e));", "events") || SubmitsSkb("events.perf_submit(ctx, &e, sizeof(e));", "events") || SubmitsSkb("myevents.perf_submit_skb(", "events") {
		t.Error("SubmitsSkb")
	}
}
