package readable

import (
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
)

// record lays out a struct as libbcc describes it and fills it with the
// bytes a program would have written, so the tests format what the
// decoder really gives.
func record(t *testing.T, descs []string, fill func(b []byte, d *layout.Decoder)) (*layout.Decoder, []any) {
	t.Helper()
	d, err := layout.NewDecoder(descs)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, d.Size)
	fill(b, d)
	vals, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d, vals
}

func TestAddresses(t *testing.T) {
	loopback6 := []byte{15: 1}
	mapped := []byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	d, vals := record(t, []string{"saddr#u32", "v6#unsigned __int128", "b6#u8[16]", "w6#u32[4]", "m6#__int128", "b4#u8[4]", "s4#s32"},
		func(b []byte, d *layout.Decoder) {
			copy(b[d.Fields[0].Offset:], []byte{127, 0, 0, 1}) // network order, as the kernel keeps it
			copy(b[d.Fields[1].Offset:], loopback6)
			copy(b[d.Fields[2].Offset:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x42})
			copy(b[d.Fields[3].Offset:], []byte{0xfe, 0x80, 15: 9})
			copy(b[d.Fields[4].Offset:], mapped)
			copy(b[d.Fields[5].Offset:], []byte{10, 1, 2, 3})
			copy(b[d.Fields[6].Offset:], []byte{192, 168, 0, 200}) // negative as an s32
		})
	fm := &Formatter{}
	if got := vals[0]; got != uint64(16777343) {
		t.Fatalf("127.0.0.1 decoded as %v, want 16777343 (bcc's tools see the same u32)", got)
	}
	cases := []struct {
		i      int
		format Format
		want   string
	}{
		{0, IPv4, "127.0.0.1"},
		{1, IPv6, "::1"},
		{2, IPv6, "2001:db8::42"},
		{3, IPv6, "fe80::9"},
		{4, IPv6, "::ffff:127.0.0.1"},
		{5, IPv4, "10.1.2.3"},
		{6, IPv4, "192.168.0.200"},
	}
	for _, c := range cases {
		f := d.Fields[c.i]
		if err := Check(c.format, f); err != nil {
			t.Errorf("%s=%s: %v", f.Name, c.format, err)
		}
		if got := fm.Format(c.format, f, vals[c.i], false); got != c.want {
			t.Errorf("%s=%s: %q, want %q", f.Name, c.format, got, c.want)
		}
	}
}

func TestErrnoHexTime(t *testing.T) {
	d, vals := record(t, []string{"ret#s32", "pos#s64", "err#u32", "odd#s32", "flags#u16", "neg#s16", "arr#u8[3]", "ts#u64", "ptr#void *", "big#__int128"},
		func(b []byte, d *layout.Decoder) {
			put := func(i int, v ...byte) { copy(b[d.Fields[i].Offset:], v) }
			put(0, 0xfe, 0xff, 0xff, 0xff) // -2
			put(1, 13)                     // 13
			put(2, 111)                    // ECONNREFUSED
			put(3, 0x10, 0x27)             // 10000: no errno
			put(4, 0x34, 0x12)
			put(5, 0xff, 0xff) // -1
			put(6, 1, 0xab, 0xff)
			put(7, 0x00, 0xca, 0x9a, 0x3b) // 1e9 ns: one second after boot
			put(8, 0xef, 0xbe, 0xad, 0xde, 0x80, 0x88, 0xff, 0xff)
			put(9, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // -2
		})
	boot := time.Date(2026, 12, 4, 10, 0, 0, 0, time.Local)
	fm := &Formatter{clock: kernel.WallClockAt(boot)}
	cases := []struct {
		i      int
		format Format
		long   bool
		want   string
	}{
		{0, Errno, false, "-ENOENT"},
		{1, Errno, false, "EACCES"},
		{2, Errno, false, "ECONNREFUSED"},
		{3, Errno, false, "10000"},
		{4, Hex, false, "0x1234"},
		{5, Hex, false, "0xffff"},
		{6, Hex, false, "[0x1 0xab 0xff]"},
		{7, Time, false, "10:00:01.000000"},
		{7, Time, true, boot.Add(time.Second).Format(time.RFC3339Nano)},
		{8, Hex, false, "0xffff8880deadbeef"},
		{9, Hex, false, "0xfffffffffffffffffffffffffffffffe"},
		{0, Hex, false, "0xfffffffe"},
	}
	for _, c := range cases {
		f := d.Fields[c.i]
		if err := Check(c.format, f); err != nil {
			t.Errorf("%s=%s: %v", f.Name, c.format, err)
		}
		if got := fm.Format(c.format, f, vals[c.i], c.long); got != c.want {
			t.Errorf("%s=%s: %q, want %q", f.Name, c.format, got, c.want)
		}
	}
}

func TestKsym(t *testing.T) {
	k, err := parseKsyms(strings.NewReader(`ffffffff81000000 T _stext
ffffffff81001000 t do_one_initcall
ffffffff81002000 D some_data
ffffffff81003000 T do_syscall_64
ffffffffc0100000 t ext4_sync_fs	[ext4]
`), "kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{
		0xffffffff81003000: "do_syscall_64+0x0",
		0xffffffff81002010: "do_one_initcall+0x1010", // data symbols are not functions
		0xffffffff8100301a: "do_syscall_64+0x1a",
		0xffffffffc0100040: "ext4_sync_fs+0x40 [ext4]",
		0x7fff00001000:     "[unknown]",
		0:                  "[unknown]",
	} {
		if got := k.Symbolize(addr); got != want {
			t.Errorf("%#x: %q, want %q", addr, got, want)
		}
	}
	d, vals := record(t, []string{"ip#u64", "p#void *"}, func(b []byte, d *layout.Decoder) {
		copy(b, []byte{0x1a, 0x30, 0x00, 0x81, 0xff, 0xff, 0xff, 0xff})
		copy(b[8:], []byte{0x00, 0x10, 0x00, 0x81, 0xff, 0xff, 0xff, 0xff})
	})
	fm := &Formatter{ksyms: k}
	if got := fm.Format(Ksym, d.Fields[0], vals[0], false); got != "do_syscall_64+0x1a" {
		t.Errorf("u64: %q", got)
	}
	if got := fm.Format(Ksym, d.Fields[1], vals[1], false); got != "do_one_initcall+0x0" {
		t.Errorf("pointer: %q", got)
	}
	if _, err := parseKsyms(strings.NewReader("0000000000000000 T _stext\n"), "kallsyms"); err == nil {
		t.Error("kallsyms with hidden addresses accepted")
	}
}

// TestKsymHost symbolizes a function of the running kernel by its own
// address (root: others see zeros).
func TestKsymHost(t *testing.T) {
	k, err := LoadKsyms("/proc/kallsyms")
	if err != nil {
		t.Skipf("kallsyms: %v", err)
	}
	for i, name := range k.names {
		if name == "do_syscall_64" {
			if got := k.Symbolize(k.addrs[i] + 5); got != "do_syscall_64+0x5" {
				t.Errorf("do_syscall_64+5: %q", got)
			}
			return
		}
	}
	t.Error("no do_syscall_64 in /proc/kallsyms")
}

func TestCheckRefuses(t *testing.T) {
	d, err := layout.NewDecoder([]string{"a#u16", "c#char[16]", "w#u64", "s#u32", "arr#u32[2]", "p#void *"})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Fields
	for _, c := range []struct {
		format Format
		f      layout.Field
		want   string
	}{
		{IPv4, f[0], "a is a u16; ipv4 wants a 4-byte member"},
		{IPv6, f[2], "w is a u64; ipv6 wants a 16-byte member"},
		{IPv6, f[1], "c is a char[16]"},
		{Errno, f[1], "errno wants an integer member"},
		{Time, f[3], "time wants a 64-bit member"},
		{Ksym, f[4], "ksym wants a 64-bit member or a pointer"},
		{Errno, f[5], "errno wants an integer member"},
		{Usym, f[2], "usym is not supported yet"},
	} {
		err := Check(c.format, c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want an error with %q", c.f.Name, c.format, err, c.want)
		}
	}
	for _, bad := range []string{"saddr", "saddr=", "=ipv4", "saddr=ip4", "1x=hex", "a.b=hex", "ip=usym"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("--field %q accepted", bad)
		}
	}
	if s, err := ParseSpec("saddr=ipv4"); err != nil || s != (Spec{"saddr", IPv4}) {
		t.Errorf("saddr=ipv4: %+v, %v", s, err)
	}
}
