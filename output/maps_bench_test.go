package output

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bpfmap"
	"github.com/evtrace/evtrace/tracer/tables"
	"golang.org/x/sys/unix"
)

// fakeBig is a 100,000-entry hash as bpfmap reads it.
type fakeBig struct{ entries []bpfmap.Entry }

func (f *fakeBig) Dump() ([]bpfmap.Entry, error)         { return f.entries, nil }
func (f *fakeBig) DumpAndClear() ([]bpfmap.Entry, error) { return f.entries, nil }
func (f *fakeBig) Close() error                          { return nil }

// BenchmarkPrintBigHash is the CPU side of make bench's map row: decoding,
// sorting and printing a hash of struct {u32 pid; char comm[16];} -> u64
// with 100,000 entries.
func BenchmarkPrintBigHash(b *testing.B) {
	f := &fakeBig{}
	for i := range 100000 {
		k := binary.LittleEndian.AppendUint32(nil, uint32(i))
		k = append(k, "loadgen\x00\x00\x00\x00\x00\x00\x00\x00\x00"...)
		f.entries = append(f.entries, bpfmap.Entry{Key: k, Values: [][]byte{binary.LittleEndian.AppendUint64(nil, uint64(i))}})
	}
	info := backend.MapInfo{Name: "big", Kind: "hash", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 20, ValueSize: 8, MaxEntries: 131072,
		KeyDesc: `["bench_key", [["pid","unsigned int"], ["comm","char", [16]]], "struct_packed"]`, LeafDesc: `"unsigned long long"`}
	s, err := tables.OpenWith([]backend.MapInfo{info}, tables.Config{}, func(backend.MapInfo) (tables.Reader, error) { return f, nil })
	if err != nil {
		b.Fatal(err)
	}
	p := NewMapPrinter(io.Discard, Text)
	b.ReportAllocs()
	for b.Loop() {
		snaps, err := s.Read(time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Print(snaps); err != nil {
			b.Fatal(err)
		}
	}
}
