package tracer

import (
	"encoding/binary"
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
	want := []any{uint64(9), []any{uint64(1), uint64(1)}, []any{int64(-1), int64(-1)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}

	raw := RawDecoder()
	got, err = raw.Decode([]byte{0x2a, 0, 0, 0, 0xff})
	if err != nil || !reflect.DeepEqual(got, []any{"2a000000ff"}) {
		t.Errorf("raw: %#v, %v", got, err)
	}
}
