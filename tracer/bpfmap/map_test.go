package bpfmap

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// kind is one kind of data map with the contents a test puts in it.
type kind struct {
	spec Spec
	fill func(tb testing.TB, m *Map) []Entry // puts entries, returns what Dump must give
}

// pidComm is the key of the benchmark map:
// struct { u32 pid; char comm[16]; }.
func pidComm(pid uint32) []byte {
	k := u32(pid)
	return fmt.Appendf(k, "%-16.16s", fmt.Sprintf("task-%d", pid))
}

// fillHash puts n entries pid → pid*3 into a hash of pidComm keys and u64
// values.
func fillHash(n int) func(testing.TB, *Map) []Entry {
	return func(tb testing.TB, m *Map) []Entry {
		var want []Entry
		for pid := uint32(1); pid <= uint32(n); pid++ {
			e := Entry{Key: pidComm(pid), Values: [][]byte{u64(uint64(pid) * 3)}}
			put(tb, m, e.Key, e.Values)
			want = append(want, e)
		}
		return want
	}
}

// fillPerCPU puts n entries whose value on each CPU differs: key k holds
// k*100+cpu on CPU cpu, in valueSize bytes (the low bytes of a u64).
// Arrays get every other index, and zeros elsewhere.
func fillPerCPU(n int) func(testing.TB, *Map) []Entry {
	return func(tb testing.TB, m *Map) []Entry {
		vs := int(m.spec.ValueSize)
		var want []Entry
		for k := uint32(0); k < uint32(n); k++ {
			values := make([][]byte, m.ncpu)
			for cpu := range values {
				values[cpu] = make([]byte, vs)
				copy(values[cpu], u64(uint64(k)*100+uint64(cpu)+1))
			}
			if IsArray(m.spec.Type) && k%2 == 1 {
				for cpu := range values {
					values[cpu] = make([]byte, vs)
				}
			} else {
				put(tb, m, u32(k), values)
			}
			want = append(want, Entry{Key: u32(k), Values: values})
		}
		return want
	}
}

func kinds() []kind {
	hashSpec := func(name string, typ uint32) Spec {
		return Spec{Name: name, Type: typ, KeySize: 20, ValueSize: 8, MaxEntries: 1024}
	}
	return []kind{
		{hashSpec("counts", unix.BPF_MAP_TYPE_HASH), fillHash(500)},
		{hashSpec("lru", unix.BPF_MAP_TYPE_LRU_HASH), fillHash(100)},
		{Spec{Name: "dist", Type: unix.BPF_MAP_TYPE_ARRAY, KeySize: 4, ValueSize: 8, MaxEntries: 64}, fillPerCPU(64)},
		{Spec{Name: "pcpu_hash", Type: unix.BPF_MAP_TYPE_PERCPU_HASH, KeySize: 4, ValueSize: 4, MaxEntries: 256}, fillPerCPU(100)},
		{Spec{Name: "pcpu_array", Type: unix.BPF_MAP_TYPE_PERCPU_ARRAY, KeySize: 4, ValueSize: 12, MaxEntries: 32}, fillPerCPU(32)},
		{Spec{Name: "lru_pcpu", Type: unix.BPF_MAP_TYPE_LRU_PERCPU_HASH, KeySize: 4, ValueSize: 8, MaxEntries: 256}, fillPerCPU(50)},
	}
}

// TestDump puts known entries in each kind of data map and reads them
// back on each path.
func TestDump(t *testing.T) {
	for _, k := range kinds() {
		for _, p := range paths {
			t.Run(k.spec.Name+"/"+p.name, func(t *testing.T) {
				m := testMap(t, k.spec)
				want := k.fill(t, m)
				p.force(m)
				got, err := m.Dump()
				if err != nil {
					t.Fatal(err)
				}
				p.check(t, m)
				if !equalEntries(got, want) {
					t.Fatalf("Dump gave %d entries, want %d:\ngot  %v\nwant %v", len(got), len(want), sorted(got), sorted(want))
				}
				again, err := m.Dump()
				if err != nil || !equalEntries(again, want) {
					t.Fatalf("second Dump changed the map: %v", err)
				}
			})
		}
	}
}

// TestDumpAndClear checks bcc's clear semantics on each path: a hash is
// left empty, an array keeps every index, zeroed; the map then fills and
// clears again, as at the next interval.
func TestDumpAndClear(t *testing.T) {
	for _, k := range kinds() {
		for _, p := range paths {
			t.Run(k.spec.Name+"/"+p.name, func(t *testing.T) {
				m := testMap(t, k.spec)
				p.force(m)
				for interval := 1; interval <= 2; interval++ {
					want := k.fill(t, m)
					got, err := m.DumpAndClear()
					if err != nil {
						t.Fatal(err)
					}
					p.check(t, m)
					if !equalEntries(got, want) {
						t.Fatalf("interval %d: DumpAndClear gave %v, want %v", interval, sorted(got), sorted(want))
					}
					after, err := m.Dump()
					if err != nil {
						t.Fatal(err)
					}
					if !IsArray(k.spec.Type) {
						if len(after) != 0 {
							t.Fatalf("interval %d: %d entries left after clear", interval, len(after))
						}
						continue
					}
					if len(after) != int(k.spec.MaxEntries) {
						t.Fatalf("interval %d: array has %d entries after clear, want %d", interval, len(after), k.spec.MaxEntries)
					}
					for _, e := range after {
						for cpu, v := range e.Values {
							if strings.Trim(string(v), "\x00") != "" {
								t.Fatalf("interval %d: index %x CPU %d is %x after clear", interval, e.Key, cpu, v)
							}
						}
					}
				}
			})
		}
	}
}

// Test100k reads a 100,000-entry hash (the benchmark map) on both
// paths and clears it.
func Test100k(t *testing.T) {
	spec := Spec{Name: "big", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 20, ValueSize: 8, MaxEntries: 100000}
	m := testMap(t, spec)
	want := fillHash(100000)(t, m)
	var dumps [][]Entry
	for _, p := range []path{paths[0], paths[2]} {
		p.force(m)
		got, err := m.Dump()
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		p.check(t, m)
		if !equalEntries(got, want) {
			t.Fatalf("%s: Dump gave %d entries, not the %d put", p.name, len(got), len(want))
		}
		dumps = append(dumps, got)
	}
	m.batch = unknown
	got, err := m.DumpAndClear()
	if err != nil || !equalEntries(got, want) {
		t.Fatalf("DumpAndClear: %d entries, %v", len(got), err)
	}
	if left, err := m.Dump(); err != nil || len(left) != 0 {
		t.Fatalf("after DumpAndClear: %d entries left, %v", len(left), err)
	}
}

func TestOpen(t *testing.T) {
	t.Run("not a data map", func(t *testing.T) {
		_, err := Open(0, Spec{Name: "events", Type: unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY, KeySize: 4, ValueSize: 4, MaxEntries: 2})
		if !errors.Is(err, ErrNotDataMap) || !strings.Contains(err.Error(), "events") {
			t.Fatalf("Open(perf event array) = %v, want ErrNotDataMap naming the map", err)
		}
	})
	t.Run("spec mismatch", func(t *testing.T) {
		spec := Spec{Name: "counts", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 4, ValueSize: 8, MaxEntries: 16}
		fd := createMap(t, spec)
		spec.ValueSize = 4
		_, err := Open(fd, spec)
		if !errors.Is(err, ErrSpecMismatch) || !strings.Contains(err.Error(), "counts") {
			t.Fatalf("Open with the wrong value size = %v, want ErrSpecMismatch naming the map", err)
		}
	})
	t.Run("close keeps the loader's fd", func(t *testing.T) {
		spec := Spec{Name: "counts", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 4, ValueSize: 8, MaxEntries: 16}
		fd := createMap(t, spec)
		m, err := Open(fd, spec)
		if err != nil {
			t.Fatal(err)
		}
		if m.fd == fd {
			t.Fatal("Open did not duplicate the fd")
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := m.Dump(); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "counts") {
			t.Fatalf("Dump after Close = %v, want ErrClosed naming the map", err)
		}
		if err := updateElem(fd, u32(1), u64(1), unix.BPF_ANY); err != nil {
			t.Fatalf("the loader's fd no longer works after Close: %v", err)
		}
	})
}

// TestFdinfo covers how Open checks a Spec on kernels 4.10 to 4.12,
// which describe a map in /proc/self/fdinfo only.
func TestFdinfo(t *testing.T) {
	spec := Spec{Name: "pcpu", Type: unix.BPF_MAP_TYPE_PERCPU_HASH, KeySize: 12, ValueSize: 24, MaxEntries: 77}
	fd := createMap(t, spec)
	info, ok := fdinfo(fd)
	want := kernelInfo{Type: spec.Type, KeySize: spec.KeySize, ValueSize: spec.ValueSize, MaxEntries: spec.MaxEntries}
	if !ok || info != want {
		t.Fatalf("fdinfo = %+v, %v; want %+v", info, ok, want)
	}
	if _, ok := fdinfo(0); ok {
		t.Fatal("fdinfo of stdin described a map")
	}
}

// TestAbsentKey covers the start of a key walk on kernels before 4.12,
// which cannot ask for the first key: the key after an absent one.
func TestAbsentKey(t *testing.T) {
	m := testMap(t, Spec{Name: "counts", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	put(t, m, u32(0), [][]byte{u64(1)})
	key, err := m.absentKey()
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != "\x55\x55\x55\x55" {
		t.Fatalf("absentKey = %x, want 55555555 (0 is in the map)", key)
	}
	next := make([]byte, 4)
	if err := nextKey(m.fd, key, next); err != nil || string(next) != string(u32(0)) {
		t.Fatalf("next key after an absent one = %x, %v; want the map's only key", next, err)
	}
}

func TestIsDataMap(t *testing.T) {
	data := map[uint32]bool{
		unix.BPF_MAP_TYPE_HASH: true, unix.BPF_MAP_TYPE_ARRAY: true,
		unix.BPF_MAP_TYPE_PERCPU_HASH: true, unix.BPF_MAP_TYPE_PERCPU_ARRAY: true,
		unix.BPF_MAP_TYPE_LRU_HASH: true, unix.BPF_MAP_TYPE_LRU_PERCPU_HASH: true,
	}
	for typ := uint32(0); typ <= unix.BPF_MAP_TYPE_CGRP_STORAGE; typ++ {
		if got := IsDataMap(typ); got != data[typ] {
			t.Errorf("IsDataMap(%d) = %v, want %v", typ, got, data[typ])
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0\n", "[0]"},
		{"0-1\n", "[0 1]"},
		{"0-3,8,10-11", "[0 1 2 3 8 10 11]"},
		{"", "error"},
		{"0-", "error"},
		{"3-1", "error"},
		{"4,2", "error"},
		{"a", "error"},
	} {
		cpus, err := parseCPUList(tc.in)
		got := fmt.Sprint(cpus)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("parseCPUList(%q) = %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

// BenchmarkDump100k reads the benchmark map, a 100,000-entry hash
// of struct {u32 pid; char comm[16];} → u64, on each path.
func BenchmarkDump100k(b *testing.B) {
	const n = 100000
	spec := Spec{Name: "big", Type: unix.BPF_MAP_TYPE_HASH, KeySize: 20, ValueSize: 8, MaxEntries: n}
	m := testMap(b, spec)
	fillHash(n)(b, m)
	for _, p := range []path{paths[0], paths[2]} {
		b.Run(p.name, func(b *testing.B) {
			m.batch = unknown
			p.force(m)
			for b.Loop() {
				got, err := m.Dump()
				if err != nil || len(got) != n {
					b.Fatalf("Dump: %d entries, %v", len(got), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
		})
	}
}
