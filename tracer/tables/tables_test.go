package tables

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bpfmap"
	"golang.org/x/sys/unix"
)

// Type descriptions as libbcc 0.26 records them.
const (
	u32Desc   = `"unsigned int"`
	u64Desc   = `"unsigned long long"`
	intDesc   = `"int"`
	pidComm   = `["key_t", [["pid","unsigned int"], ["comm","char", [16]]], "struct_packed"]`
	diskSlot  = `["disk_key_t", [["disk","char", [8]], ["slot","unsigned long long"]], "struct_packed"]`
	countTime = `["val_t", [["count","unsigned long long"], ["total_ns","unsigned long long"]], "struct_packed"]`
)

// fakeMap is a map's entries, as bpfmap would read them.
type fakeMap struct {
	entries []bpfmap.Entry
	dumps   []string // "dump" or "clear", per read
	closed  bool
}

func (f *fakeMap) Dump() ([]bpfmap.Entry, error) {
	f.dumps = append(f.dumps, "dump")
	return f.entries, nil
}

func (f *fakeMap) DumpAndClear() ([]bpfmap.Entry, error) {
	f.dumps = append(f.dumps, "clear")
	e := f.entries
	f.entries = nil
	return e, nil
}

func (f *fakeMap) Close() error { f.closed = true; return nil }

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func str(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

func entry(key []byte, values ...[]byte) bpfmap.Entry { return bpfmap.Entry{Key: key, Values: values} }

// openFake opens maps over fakes; fakes are keyed by map name.
func openFake(t *testing.T, maps []backend.MapInfo, fakes map[string]*fakeMap, cfg Config) (*Set, error) {
	t.Helper()
	return OpenWith(maps, cfg, func(m backend.MapInfo) (Reader, error) {
		f, ok := fakes[m.Name]
		if !ok {
			t.Fatalf("map %s opened, but the test has no entries for it", m.Name)
		}
		return f, nil
	})
}

func hashInfo(name, key, leaf string, keySize, valueSize uint32) backend.MapInfo {
	return backend.MapInfo{Name: name, Kind: "hash", Type: unix.BPF_MAP_TYPE_HASH, KeyDesc: key, LeafDesc: leaf, KeySize: keySize, ValueSize: valueSize, MaxEntries: 10240}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A hash of struct keys and struct values prints as a table sorted by the
// value's first numeric member, largest first, ties by key; --top cuts it;
// each read clears the map.
func TestTableSortedAndCleared(t *testing.T) {
	m := hashInfo("data", pidComm, countTime, 20, 16)
	f := &fakeMap{entries: []bpfmap.Entry{
		entry(cat(u32(10), str("a", 16)), cat(u64(5), u64(100))),
		entry(cat(u32(11), str("b", 16)), cat(u64(9), u64(1))),
		entry(cat(u32(9), str("c", 16)), cat(u64(5), u64(999))),
		entry(cat(u32(12), str("d", 16)), cat(u64(1), u64(7))),
	}}
	s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"data": f}, Config{Top: 3})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	snaps, err := s.Read(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots, want 1", len(snaps))
	}
	sn := snaps[0]
	if sn.Mode != Table || sn.Total != 4 || len(sn.Entries) != 3 || !sn.Time.Equal(now) || sn.Kind != "hash" {
		t.Fatalf("snapshot %+v: want a table of 3 of 4 entries at %v", sn, now)
	}
	got := asJSON(t, sn.Entries)
	want := `[{"Key":{"pid":11,"comm":"b"},"Value":{"count":9,"total_ns":1},"CPUs":null},` +
		`{"Key":{"pid":9,"comm":"c"},"Value":{"count":5,"total_ns":999},"CPUs":null},` +
		`{"Key":{"pid":10,"comm":"a"},"Value":{"count":5,"total_ns":100},"CPUs":null}]`
	if got != want {
		t.Errorf("entries\n%s\nwant\n%s", got, want)
	}
	var keys []string
	for _, l := range sn.KeyLeaves {
		keys = append(keys, l.Name)
	}
	for _, l := range sn.ValueLeaves {
		keys = append(keys, l.Name)
	}
	if want := []string{"pid", "comm", "count", "total_ns"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("columns %q, want %q", keys, want)
	}
	if snaps, _ = s.Read(now); len(snaps[0].Entries) != 0 {
		t.Errorf("second read: %d entries, want 0 after the clear", len(snaps[0].Entries))
	}
	if want := []string{"clear", "clear"}; !reflect.DeepEqual(f.dumps, want) {
		t.Errorf("reads %q, want %q", f.dumps, want)
	}
	if err := s.Close(); err != nil || !f.closed {
		t.Errorf("Close: %v, closed %v", err, f.closed)
	}
}

// --cumulative reads without clearing.
func TestCumulative(t *testing.T) {
	f := &fakeMap{entries: []bpfmap.Entry{entry(u32(1), u64(2))}}
	s, err := openFake(t, []backend.MapInfo{hashInfo("c", u32Desc, u64Desc, 4, 8)}, map[string]*fakeMap{"c": f}, Config{Cumulative: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		snaps, err := s.Read(time.Now())
		if err != nil || len(snaps[0].Entries) != 1 {
			t.Fatalf("read: %v, %+v", err, snaps)
		}
	}
	if want := []string{"dump", "dump"}; !reflect.DeepEqual(f.dumps, want) {
		t.Errorf("reads %q, want %q", f.dumps, want)
	}
}

// A per-CPU array: values summed per key, each CPU's kept; entries that
// are zero on every CPU (never written) are left out.
func TestPerCPUArray(t *testing.T) {
	m := backend.MapInfo{Name: "pc", Kind: "percpu_array", Type: unix.BPF_MAP_TYPE_PERCPU_ARRAY, KeyDesc: intDesc, LeafDesc: u64Desc, KeySize: 4, ValueSize: 8, MaxEntries: 3}
	f := &fakeMap{entries: []bpfmap.Entry{
		entry(u32(0), u64(1), u64(2)),
		entry(u32(1), u64(0), u64(0)),
		entry(u32(2), u64(40), u64(0)),
	}}
	s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"pc": f}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Read(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := asJSON(t, snaps[0].Entries)
	want := `[{"Key":2,"Value":40,"CPUs":[40,0]},{"Key":0,"Value":3,"CPUs":[1,2]}]`
	if got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
}

// BPF_HISTOGRAM with bpf_log2l: a log2 histogram, one section per disk,
// sections in order of their values; without bpf_log2, linear.
func TestHistogramSections(t *testing.T) {
	m := hashInfo("dist", diskSlot, u64Desc, 16, 8)
	entries := []bpfmap.Entry{
		entry(cat(str("sdb", 8), u64(3)), u64(7)),
		entry(cat(str("sda", 8), u64(1)), u64(2)),
		entry(cat(str("sda", 8), u64(4)), u64(5)),
	}
	src := "BPF_HISTOGRAM(dist, disk_key_t);\nint f(void *c) { key.slot = bpf_log2l(d); return 0; }"
	f := &fakeMap{entries: entries}
	s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"dist": f}, Config{Source: src, Labels: map[string]string{"dist": "usecs"}})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Read(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sn := snaps[0]
	if sn.Mode != Log2 || sn.Label != "usecs" || len(sn.Sections) != 2 {
		t.Fatalf("snapshot %+v: want a log2 histogram labelled usecs with 2 sections", sn)
	}
	a, b := sn.Sections[0], sn.Sections[1]
	if !reflect.DeepEqual(a.Names, []string{"disk"}) || a.Values[0].Str != "sda" || !reflect.DeepEqual(a.Counts, []uint64{0, 2, 0, 0, 5}) {
		t.Errorf("section 0: %+v", a)
	}
	if b.Values[0].Str != "sdb" || !reflect.DeepEqual(b.Counts, []uint64{0, 0, 0, 7}) {
		t.Errorf("section 1: %+v", b)
	}

	f = &fakeMap{entries: entries}
	s, err = openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"dist": f}, Config{Source: "BPF_HISTOGRAM(dist, disk_key_t);"})
	if err != nil {
		t.Fatal(err)
	}
	if snaps, err = s.Read(time.Now()); err != nil || snaps[0].Mode != Linear || snaps[0].Label != DefaultLabel {
		t.Errorf("without bpf_log2: %v, %+v; want a linear histogram labelled value", err, snaps)
	}
}

// An integer-keyed histogram is one section even when empty; --hist
// overrides the mode, and table prints a histogram as a table.
func TestHistogramModes(t *testing.T) {
	m := backend.MapInfo{Name: "h", Kind: "array", Type: unix.BPF_MAP_TYPE_ARRAY, KeyDesc: intDesc, LeafDesc: u64Desc, KeySize: 4, ValueSize: 8, MaxEntries: 64}
	for _, tt := range []struct {
		src  string
		mode Mode
		want Mode
	}{
		{"BPF_HISTOGRAM(h);", Auto, Linear},
		{"BPF_ARRAY(h, u64, 64); bpf_log2l(x);", Auto, Table},
		{"BPF_ARRAY(h, u64, 64);", Log2, Log2},
		{"BPF_HISTOGRAM(h); bpf_log2(x);", Table, Table},
	} {
		s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"h": {}}, Config{Source: tt.src, Modes: map[string]Mode{"h": tt.mode}})
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		snaps, err := s.Read(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if snaps[0].Mode != tt.want {
			t.Errorf("%q with --hist %v: mode %v, want %v", tt.src, tt.mode, snaps[0].Mode, tt.want)
		}
		if tt.want != Table && len(snaps[0].Sections) != 1 {
			t.Errorf("%q: %d sections of an empty histogram, want 1", tt.src, len(snaps[0].Sections))
		}
	}
}

// A slot beyond a log2 histogram's 65 is an error naming the map, not a
// histogram printed wrong.
func TestHistogramSlotOutOfRange(t *testing.T) {
	m := hashInfo("h", u64Desc, u64Desc, 8, 8)
	f := &fakeMap{entries: []bpfmap.Entry{entry(u64(1234), u64(1))}}
	s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"h": f}, Config{Modes: map[string]Mode{"h": Log2}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(time.Now())
	if err == nil || !strings.HasPrefix(err.Error(), "map h: slot 1234 is beyond a log2 histogram's 65 slots") {
		t.Errorf("got %v, want an error about slot 1234 of map h", err)
	}
}

// What cannot be read is refused with the map's name: a selected map that
// is missing or not a data map, --hist on a map that has no slot or no
// count, a type libbcc's size contradicts.
func TestOpenRefuses(t *testing.T) {
	maps := []backend.MapInfo{
		hashInfo("counts", pidComm, u64Desc, 20, 8),
		{Name: "events", Kind: "perf_event_array", Type: unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY},
		hashInfo("vals", u32Desc, countTime, 4, 16),
		hashInfo("bad", u32Desc, u64Desc, 4, 12),
	}
	fakes := map[string]*fakeMap{"counts": {}, "vals": {}, "bad": {}}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Select: []string{"nope"}}, "--maps nope: no such map; its data maps are counts, vals, bad"},
		{Config{Select: []string{"events"}}, "--maps events: not a data map (perf_event_array); its data maps are counts, vals, bad"},
		{Config{Select: []string{"counts", "counts"}}, "--maps names counts twice"},
		{Config{Select: []string{"vals"}, Modes: map[string]Mode{"counts": Log2}}, "--hist counts: not selected by --maps"},
		{Config{Select: []string{"counts"}, Modes: map[string]Mode{"counts": Log2}}, "map counts: --hist log2: its key (struct key_t"},
		{Config{Select: []string{"vals"}, Modes: map[string]Mode{"vals": Linear}}, "map vals: --hist linear: its value (struct val_t"},
		{Config{Select: []string{"vals"}, Labels: map[string]string{"x": "usecs"}}, "--hist-label x: no such map"},
		{Config{}, "map bad: value: "},
	}
	for _, tt := range tests {
		_, err := openFake(t, maps, fakes, tt.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want an error starting %q", tt.cfg, err, tt.want)
		}
	}
	_, err := openFake(t, maps, fakes, Config{})
	if err == nil || !strings.HasSuffix(err.Error(), "(name the maps to print with --maps to leave it out)") {
		t.Errorf("unselected bad map: %v, want a hint about --maps", err)
	}
}

// Every data map is read by default, in the loader's order; others are
// not.
func TestDefaultSelection(t *testing.T) {
	maps := []backend.MapInfo{
		hashInfo("b", u32Desc, u64Desc, 4, 8),
		{Name: "events", Kind: "perf_event_array", Type: unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY},
		{Name: "stacks", Kind: "stack_trace", Type: unix.BPF_MAP_TYPE_STACK_TRACE},
		{Name: "a", Kind: "lru_percpu_hash", Type: unix.BPF_MAP_TYPE_LRU_PERCPU_HASH, KeyDesc: u32Desc, LeafDesc: u64Desc, KeySize: 4, ValueSize: 8, MaxEntries: 8},
	}
	s, err := openFake(t, maps, map[string]*fakeMap{"a": {}, "b": {}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("Names = %q, want [b a]", got)
	}
}

// An error while opening a map closes those opened before it.
func TestOpenClosesOnError(t *testing.T) {
	maps := []backend.MapInfo{hashInfo("a", u32Desc, u64Desc, 4, 8), hashInfo("b", u32Desc, u64Desc, 4, 8)}
	a := &fakeMap{}
	_, err := OpenWith(maps, Config{}, func(m backend.MapInfo) (Reader, error) {
		if m.Name == "b" {
			return nil, errors.New("map b: boom")
		}
		return a, nil
	})
	if err == nil || !a.closed {
		t.Errorf("err %v, a closed %v: want an error and a closed", err, a.closed)
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"log2": Log2, "linear": Linear, "table": Table} {
		if got, err := ParseMode(s); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseMode("lin"); err == nil {
		t.Error("ParseMode(lin): no error")
	}
}

// Sorting (typed keys, order applied in place) agrees with a plain sort by
// value, largest first, then key, on many entries with ties and negative
// values.
func TestSortMatchesReference(t *testing.T) {
	const n = 5000
	m := hashInfo("s", u32Desc, `"long long"`, 4, 8)
	f := &fakeMap{}
	type kv struct {
		k uint32
		v int64
	}
	var want []kv
	rnd := uint64(1)
	for i := range n {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		v := int64(rnd>>33)%200 - 100 // ties and negatives
		k := uint32(i*7919) % n
		want = append(want, kv{k, v})
		f.entries = append(f.entries, entry(u32(k), binary.LittleEndian.AppendUint64(nil, uint64(v))))
	}
	slices.SortFunc(want, func(a, b kv) int {
		if a.v != b.v {
			return cmp.Compare(b.v, a.v)
		}
		return cmp.Compare(a.k, b.k)
	})
	s, err := openFake(t, []backend.MapInfo{m}, map[string]*fakeMap{"s": f}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Read(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range snaps[0].Entries {
		if got := (kv{uint32(e.Key.Uint), e.Value.Int}); got != want[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got, want[i])
		}
	}
}
