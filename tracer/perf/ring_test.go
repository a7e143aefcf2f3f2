package perf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeRing is a perf ring in Go memory that a test writes records into as
// the kernel would.
type fakeRing struct {
	ring *cpuRing
	head uint64
}

func newFakeRing(size int) *fakeRing {
	return &fakeRing{ring: &cpuRing{meta: new(unix.PerfEventMmapPage), data: make([]byte, size)}}
}

func (f *fakeRing) put(rec []byte) {
	for i, b := range rec {
		f.ring.data[(f.head+uint64(i))%uint64(len(f.ring.data))] = b
	}
	f.head += uint64(len(rec))
	f.ring.meta.Data_head = f.head
}

// sample builds a PERF_RECORD_SAMPLE with raw data, padded to 8 bytes as
// the kernel pads it.
func sample(data []byte) []byte {
	n := 8 + 4 + len(data)
	n = (n + 7) &^ 7
	rec := make([]byte, n)
	binary.NativeEndian.PutUint32(rec[0:], unix.PERF_RECORD_SAMPLE)
	binary.NativeEndian.PutUint16(rec[6:], uint16(n))
	binary.NativeEndian.PutUint32(rec[8:], uint32(len(data)))
	copy(rec[12:], data)
	return rec
}

func lostRecord(n uint64) []byte {
	rec := make([]byte, 24)
	binary.NativeEndian.PutUint32(rec[0:], unix.PERF_RECORD_LOST)
	binary.NativeEndian.PutUint16(rec[6:], 24)
	binary.NativeEndian.PutUint64(rec[16:], n)
	return rec
}

func records(b *Batch) [][]byte {
	var out [][]byte
	b.Each(func(d []byte) { out = append(out, bytes.Clone(d)) })
	return out
}

func TestPerfRingDrain(t *testing.T) {
	f := newFakeRing(256)
	b := &Batch{buf: make([]byte, 0, 4096)}
	var want [][]byte
	// Enough records to wrap the 256-byte ring several times, of sizes
	// that put headers and bodies across the end.
	for round := 0; round < 10; round++ {
		b.reset()
		want = want[:0]
		for i := 0; i < 3; i++ {
			d := bytes.Repeat([]byte{byte(round*3 + i)}, 13+round*5+i)
			want = append(want, d)
			f.put(sample(d))
		}
		f.put(lostRecord(uint64(round + 1)))
		if full := f.ring.drain(b); full {
			t.Fatalf("round %d: batch full", round)
		}
		got := records(b)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d records, want %d", round, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("round %d record %d: %x, want %x", round, i, got[i], want[i])
			}
		}
		if b.lost != uint64(round+1) {
			t.Errorf("round %d: lost %d, want %d", round, b.lost, round+1)
		}
		if f.ring.meta.Data_tail != f.head {
			t.Errorf("round %d: tail %d, head %d: not all consumed", round, f.ring.meta.Data_tail, f.head)
		}
	}
}

func TestPerfRingDrainStopsWhenBatchIsFull(t *testing.T) {
	f := newFakeRing(1024)
	for i := 0; i < 5; i++ {
		f.put(sample(bytes.Repeat([]byte{byte(i)}, 40)))
	}
	b := &Batch{buf: make([]byte, 0, 100)} // room for two
	if !f.ring.drain(b) {
		t.Fatal("drain did not report a full batch")
	}
	if got := records(b); len(got) != 2 || got[1][0] != 1 {
		t.Fatalf("first pass: %d records", len(got))
	}
	var all []byte
	for pass := 0; pass < 3; pass++ {
		b.reset()
		f.ring.drain(b)
		for _, r := range records(b) {
			all = append(all, r[0])
		}
	}
	if fmt.Sprint(all) != "[2 3 4]" {
		t.Errorf("later passes read %v, want [2 3 4]", all)
	}
}

func TestPerfRingDrainCorruptHeader(t *testing.T) {
	f := newFakeRing(256)
	f.put(sample([]byte("ok")))
	bad := make([]byte, 8) // length 0: impossible
	binary.NativeEndian.PutUint32(bad, unix.PERF_RECORD_SAMPLE)
	f.put(bad)
	f.put(sample([]byte("after")))
	b := &Batch{buf: make([]byte, 0, 1024)}
	f.ring.drain(b)
	if got := records(b); len(got) != 1 || string(got[0]) != "ok" {
		t.Errorf("records %q, want only the one before the corrupt header", got)
	}
	if f.ring.meta.Data_tail != f.head {
		t.Error("the ring was not skipped past the corrupt header")
	}
}
