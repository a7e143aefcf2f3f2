// Package tables reads a loaded program's data maps (bcc's BPF_HASH,
// BPF_ARRAY, BPF_HISTOGRAM and their per-CPU and LRU variants) as bcc's
// tools read them: every entry decoded from the key and leaf types libbcc
// recorded, per-CPU values summed, histograms gathered into slots and
// sections, other maps sorted by value, and the maps cleared after each
// read unless asked to keep them. It prints nothing: output formats the
// Snapshots it returns.
package tables

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bpfmap"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tabletype"
)

// Mode is how a map is printed.
type Mode int

const (
	// Auto: a histogram if the source declares the map with
	// BPF_HISTOGRAM and its key has a slot, else a table.
	Auto Mode = iota
	// Table: key and value columns, sorted by value, largest first.
	Table
	// Log2: bcc's print_log2_hist.
	Log2
	// Linear: bcc's print_linear_hist.
	Linear
)

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Table:
		return "table"
	case Log2:
		return "log2"
	case Linear:
		return "linear"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses the MODE of --hist NAME=MODE.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "log2":
		return Log2, nil
	case "linear":
		return Linear, nil
	case "table":
		return Table, nil
	}
	return Auto, fmt.Errorf("unknown histogram mode %q (want log2, linear or table)", s)
}

// DefaultLabel labels a histogram's value column when the program does
// not say (bcc's val_type default).
const DefaultLabel = "value"

// Config says which maps to read and how to print them.
type Config struct {
	// Select names the maps to read, in this order; nil: every data map,
	// in the loader's order. Naming a map that is not a data map is an
	// error.
	Select []string
	// Modes overrides how the named maps print (--hist).
	Modes map[string]Mode
	// Labels names the value column of the named histograms (bcc's
	// val_type, e.g. "usecs").
	Labels map[string]string
	// Top keeps the N largest entries of each table; 0: all.
	Top int
	// Cumulative keeps the maps' contents after each read; by default
	// they are cleared, as bcc's tools clear after each interval.
	Cumulative bool
	// Source is the program's C: which maps are histograms, and whether
	// it buckets by bpf_log2.
	Source string
}

// Reader is what a Set needs of an open map: bpfmap.Map, or a test's.
type Reader interface {
	Dump() ([]bpfmap.Entry, error)
	DumpAndClear() ([]bpfmap.Entry, error)
	Close() error
}

// table is one map to read.
type table struct {
	info      backend.MapInfo
	r         Reader
	key, leaf *tabletype.Type
	perCPU    bool
	array     bool
	mode      Mode // Table, Log2 or Linear
	label     string
	hist      tabletype.HistKey
	sortBy    []int // path of the leaf's first numeric member; nil: the whole value
}

// Set is the maps of one program being read. It is not safe for
// concurrent use.
type Set struct {
	tables     []*table
	top        int
	cumulative bool
}

// Open prepares the data maps among maps (the loader's list) for reading,
// as cfg says. A map whose types cannot be laid out is an error naming it
// and the member, never a guess.
func Open(maps []backend.MapInfo, cfg Config) (*Set, error) {
	return OpenWith(maps, cfg, func(m backend.MapInfo) (Reader, error) {
		return bpfmap.Open(m.FD, bpfmap.Spec{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries})
	})
}

// OpenWith is Open with the maps read through openMap (for tests and
// benchmarks without a kernel).
func OpenWith(maps []backend.MapInfo, cfg Config, openMap func(backend.MapInfo) (Reader, error)) (*Set, error) {
	chosen, err := choose(maps, cfg.Select)
	if err != nil {
		return nil, err
	}
	for name := range cfg.Modes {
		if !hasMap(chosen, name) {
			return nil, fmt.Errorf("--hist %s: %s", name, notRead(maps, name))
		}
	}
	for name := range cfg.Labels {
		if !hasMap(chosen, name) {
			return nil, fmt.Errorf("--hist-label %s: %s", name, notRead(maps, name))
		}
	}
	hists := conventions.Histograms(cfg.Source)
	log2 := conventions.UsesLog2(cfg.Source)
	s := &Set{top: cfg.Top, cumulative: cfg.Cumulative}
	for _, m := range chosen {
		t, err := newTable(m, cfg, slices.Contains(hists, m.Name), log2)
		if err == nil {
			t.r, err = openMap(m)
		}
		if err != nil {
			s.Close()
			if len(cfg.Select) == 0 {
				err = fmt.Errorf("%w (name the maps to print with --maps to leave it out)", err)
			}
			return nil, err
		}
		s.tables = append(s.tables, t)
	}
	return s, nil
}

// choose picks the maps to read: the selected ones, or every data map.
func choose(maps []backend.MapInfo, selected []string) ([]backend.MapInfo, error) {
	if len(selected) == 0 {
		var data []backend.MapInfo
		for _, m := range maps {
			if bpfmap.IsDataMap(m.Type) {
				data = append(data, m)
			}
		}
		return data, nil
	}
	var chosen []backend.MapInfo
	for _, name := range selected {
		i := slices.IndexFunc(maps, func(m backend.MapInfo) bool { return m.Name == name })
		switch {
		case i < 0 || !bpfmap.IsDataMap(maps[i].Type):
			return nil, fmt.Errorf("--maps %s: %s", name, notRead(maps, name))
		case hasMap(chosen, name):
			return nil, fmt.Errorf("--maps names %s twice", name)
		}
		chosen = append(chosen, maps[i])
	}
	return chosen, nil
}

func hasMap(maps []backend.MapInfo, name string) bool {
	return slices.ContainsFunc(maps, func(m backend.MapInfo) bool { return m.Name == name })
}

// notRead says why the map name is not among those read.
func notRead(maps []backend.MapInfo, name string) string {
	var data []string
	var found *backend.MapInfo
	for i, m := range maps {
		if bpfmap.IsDataMap(m.Type) {
			data = append(data, m.Name)
		}
		if m.Name == name {
			found = &maps[i]
		}
	}
	list := "the program has no data maps"
	if len(data) > 0 {
		list = "its data maps are " + strings.Join(data, ", ")
	}
	switch {
	case found == nil:
		return "no such map; " + list
	case !bpfmap.IsDataMap(found.Type):
		return fmt.Sprintf("not a data map (%s); %s", found.Kind, list)
	}
	return "not selected by --maps"
}

// newTable lays out m's key and value and decides how it prints.
func newTable(m backend.MapInfo, cfg Config, declaredHist, log2 bool) (*table, error) {
	t := &table{info: m, perCPU: bpfmap.IsPerCPU(m.Type), array: bpfmap.IsArray(m.Type), label: DefaultLabel}
	var err error
	if t.key, err = parseType(m.Name, "key", m.KeyDesc, m.KeySize); err != nil {
		return nil, err
	}
	if t.leaf, err = parseType(m.Name, "value", m.LeafDesc, m.ValueSize); err != nil {
		return nil, err
	}
	if l, ok := cfg.Labels[m.Name]; ok {
		t.label = l
	}
	if f, ok := t.leaf.FirstNumeric(); ok {
		t.sortBy = f.Path
	}
	mode := cfg.Modes[m.Name]
	hist, histKey := t.key.HistKey()
	numeric := t.leaf.Kind == tabletype.Int || t.leaf.Kind == tabletype.Uint
	switch {
	case mode == Auto && declaredHist && histKey && numeric && log2:
		mode = Log2
	case mode == Auto && declaredHist && histKey && numeric:
		mode = Linear
	case mode == Auto:
		mode = Table
	case mode != Table && !histKey:
		return nil, fmt.Errorf("map %s: --hist %s: its key (%s) is neither an integer nor a struct with an integer member slot", m.Name, mode, t.key)
	case mode != Table && !numeric:
		return nil, fmt.Errorf("map %s: --hist %s: its value (%s) is not an integer count", m.Name, mode, t.leaf)
	}
	if _, labelled := cfg.Labels[m.Name]; labelled && mode == Table {
		return nil, fmt.Errorf("--hist-label %s: map %s prints as a table, not a histogram (--hist %s=log2 or linear makes it one)", m.Name, m.Name, m.Name)
	}
	t.mode, t.hist = mode, hist
	return t, nil
}

// parseType reads libbcc's description of a map's key or value, checked
// against the size the kernel has.
func parseType(mapName, what, desc string, size uint32) (*tabletype.Type, error) {
	if desc == "" {
		return nil, fmt.Errorf("map %s: the loader recorded no %s type", mapName, what)
	}
	t, err := tabletype.Parse(desc)
	if err == nil {
		err = t.CheckSize(int(size))
	}
	if err == nil {
		err = t.Ambiguous()
	}
	if err != nil {
		return nil, fmt.Errorf("map %s: %s: %w", mapName, what, err)
	}
	return t, nil
}

// Names lists the maps read, in order.
func (s *Set) Names() []string {
	names := make([]string, len(s.tables))
	for i, t := range s.tables {
		names[i] = t.info.Name
	}
	return names
}

// KeyLeaves lists the members of each table's key by map name (tables
// only: histograms have no stacks to print).
func (s *Set) KeyLeaves() map[string][]tabletype.Leaf {
	keys := map[string][]tabletype.Leaf{}
	for _, t := range s.tables {
		if t.mode == Table {
			keys[t.info.Name] = t.key.Leaves()
		}
	}
	return keys
}

// Len is how many maps are read.
func (s *Set) Len() int { return len(s.tables) }

// Close releases the maps' descriptors.
func (s *Set) Close() error {
	var errs []error
	for _, t := range s.tables {
		if t.r != nil {
			errs = append(errs, t.r.Close())
		}
	}
	return errors.Join(errs...)
}

// Snapshot is one map as read at Time.
type Snapshot struct {
	Map  string
	Kind string // the kernel's map type: "hash", "percpu_array", ...
	Time time.Time
	Mode Mode // Table, Log2 or Linear
	// Table: the key's and value's columns, the entries sorted by value
	// (largest first; ties by key), and how many entries there were
	// before Config.Top cut them.
	KeyLeaves, ValueLeaves []tabletype.Leaf
	Entries                []Entry
	Total                  int
	// Histograms: the value column's label, and one section per distinct
	// value of the key's other members (one section without Values for
	// a key that is only a slot), in order of those values.
	Label    string
	Sections []Section
}

// Entry is one key and its value; CPUs holds a per-CPU map's values, one
// per possible CPU, of which Value is the sum.
type Entry struct {
	Key, Value tabletype.Value
	CPUs       []tabletype.Value
	// Stacks are the key's stack ids as stacks, when it has any (the
	// caller fills them in: see runner).
	Stacks []stacks.Stack `json:",omitempty"`
}

// Section is one histogram: the key's members other than slot (Names)
// and their values, and the count in each slot.
type Section struct {
	Names  []string
	Values []tabletype.Value
	Counts []uint64
}

// Read reads every map (and clears it, unless Config.Cumulative) and
// returns one Snapshot per map, in order, stamped now.
func (s *Set) Read(now time.Time) ([]Snapshot, error) { return s.read(now, s.cumulative) }

// ReadLast is Read for the last time: the maps are not cleared, as
// nothing will read them again (clearing a large hash costs more than
// reading it).
func (s *Set) ReadLast(now time.Time) ([]Snapshot, error) { return s.read(now, true) }

func (s *Set) read(now time.Time, keep bool) ([]Snapshot, error) {
	snaps := make([]Snapshot, 0, len(s.tables))
	for _, t := range s.tables {
		snap, err := t.read(now, keep, s.top)
		if err != nil {
			return snaps, err
		}
		snaps = append(snaps, snap)
	}
	return snaps, nil
}

func (t *table) read(now time.Time, cumulative bool, top int) (Snapshot, error) {
	dump := t.r.DumpAndClear
	if cumulative {
		dump = t.r.Dump
	}
	raw, err := dump()
	if err != nil {
		return Snapshot{}, err // bpfmap names the map
	}
	entries, err := t.decode(raw)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Map: t.info.Name, Kind: t.info.Kind, Time: now, Mode: t.mode, Label: t.label}
	if t.mode != Table {
		snap.Sections, err = t.sections(entries)
		return snap, err
	}
	snap.KeyLeaves, snap.ValueLeaves = t.key.Leaves(), t.leaf.Leaves()
	entries = t.sorted(entries)
	snap.Total = len(entries)
	if top > 0 && len(entries) > top {
		entries = entries[:top]
	}
	snap.Entries = entries
	return snap, nil
}

// decode decodes raw entries; an array's entries whose value is zero
// (never written, or cleared) are left out, as a hash has no such keys.
func (t *table) decode(raw []bpfmap.Entry) ([]Entry, error) {
	entries := make([]Entry, 0, len(raw))
	for _, r := range raw {
		if t.array && allZero(r.Values) {
			continue
		}
		var e Entry
		var err error
		if e.Key, err = t.key.Decode(r.Key); err != nil {
			return nil, fmt.Errorf("map %s: key: %w", t.info.Name, err)
		}
		if t.perCPU {
			var pc tabletype.PerCPU
			pc, err = t.leaf.DecodePerCPU(joinValues(r.Values, t.leaf.PerCPUStride()), len(r.Values))
			e.Value, e.CPUs = pc.Sum, pc.CPUs
		} else if len(r.Values) == 1 {
			e.Value, err = t.leaf.Decode(r.Values[0])
		} else {
			err = fmt.Errorf("%d values for one key", len(r.Values))
		}
		if err != nil {
			return nil, fmt.Errorf("map %s: value: %w", t.info.Name, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func allZero(values [][]byte) bool {
	for _, v := range values {
		for _, b := range v {
			if b != 0 {
				return false
			}
		}
	}
	return true
}

// joinValues lays per-CPU values out as the kernel does, each padded to
// stride bytes, for tabletype.DecodePerCPU.
func joinValues(values [][]byte, stride int) []byte {
	b := make([]byte, len(values)*stride)
	for i, v := range values {
		copy(b[i*stride:], v)
	}
	return b
}

// sorted returns entries ordered by value, largest first (by the first
// numeric member of a struct value), then by key.
func (t *table) sorted(entries []Entry) []Entry {
	keys := make([]sortKey, len(entries))
	for i, e := range entries {
		v, _ := e.Value.At(t.sortBy)
		keys[i] = newSortKey(v, i)
	}
	by := func(k sortKey) tabletype.Value {
		v, _ := entries[k.index].Value.At(t.sortBy)
		return v
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		c := b.compare(a, by)
		if c == 0 {
			c = tabletype.Compare(entries[a.index].Key, entries[b.index].Key)
		}
		return c
	})
	// Apply the order in place, cycle by cycle: no second copy of a
	// large map's entries.
	for i := range keys {
		if int(keys[i].index) == i || keys[i].index < 0 {
			continue
		}
		tmp := entries[i]
		j := i
		for {
			from := int(keys[j].index)
			keys[j].index = -1
			if from == i {
				entries[j] = tmp
				break
			}
			entries[j] = entries[from]
			j = from
		}
	}
	return entries
}

// sortKey is an entry's sort value, read once and small: comparing and
// moving decoded Values on every step of a sort of 100,000 entries costs
// more than the rest of a print.
type sortKey struct {
	index int32
	fast  bool   // the value is an integer of up to 64 bits: neg and mag say it
	neg   bool   // negative
	mag   uint64 // its magnitude, as a two's complement for negatives
}

func newSortKey(v tabletype.Value, index int) sortKey {
	k := sortKey{index: int32(index)}
	if v.Type == nil || v.Big != nil {
		return k
	}
	switch v.Type.Kind {
	case tabletype.Int:
		k.fast, k.neg, k.mag = true, v.Int < 0, uint64(v.Int)
	case tabletype.Uint, tabletype.Bool:
		k.fast, k.mag = true, v.Uint
	}
	return k
}

// compare orders a and b by their values (value gives them when they are
// not integers of up to 64 bits).
func (a sortKey) compare(b sortKey, value func(sortKey) tabletype.Value) int {
	if !a.fast || !b.fast {
		return tabletype.Compare(value(a), value(b))
	}
	switch {
	case a.neg != b.neg && a.neg:
		return -1
	case a.neg != b.neg:
		return 1
	}
	return cmp.Compare(a.mag, b.mag) // two's complement keeps the order among negatives
}

// maxLinearSlots bounds a linear histogram: a slot beyond it is more
// likely a key that is not a slot than a bucket to print line by line.
const maxLinearSlots = 1 << 16

// log2Slots is how many slots a log2 histogram can have (see
// output.Log2MaxSlots).
const log2Slots = 65

// sections gathers histogram entries into one section per distinct value
// of the key's other members.
func (t *table) sections(entries []Entry) ([]Section, error) {
	var secs []Section
	for _, e := range entries {
		slot, vals, err := t.hist.Split(e.Key)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", t.info.Name, err)
		}
		limit := uint64(maxLinearSlots)
		if t.mode == Log2 {
			limit = log2Slots
		}
		if slot >= limit {
			return nil, fmt.Errorf("map %s: slot %d is beyond a %s histogram's %d slots (is it a histogram? --hist %s=table prints it as a table)", t.info.Name, slot, t.mode, limit, t.info.Name)
		}
		count, err := countOf(e.Value)
		if err != nil {
			return nil, fmt.Errorf("map %s: key %s: %w", t.info.Name, e.Key, err)
		}
		i := slices.IndexFunc(secs, func(s Section) bool { return equalValues(s.Values, vals) })
		if i < 0 {
			secs = append(secs, Section{Values: vals})
			i = len(secs) - 1
		}
		s := &secs[i]
		if uint64(len(s.Counts)) <= slot {
			s.Counts = append(s.Counts, make([]uint64, int(slot)+1-len(s.Counts))...)
		}
		s.Counts[slot] += count
	}
	var names []string
	for _, l := range t.hist.Sections {
		names = append(names, l.Name)
	}
	for i := range secs {
		secs[i].Names = names
	}
	slices.SortFunc(secs, func(a, b Section) int { return compareValues(a.Values, b.Values) })
	if len(secs) == 0 && len(names) == 0 {
		secs = []Section{{}} // an empty histogram still has its one section
	}
	return secs, nil
}

// countOf reads a histogram's count.
func countOf(v tabletype.Value) (uint64, error) {
	if v.Type.Kind == tabletype.Int {
		if v.Int < 0 {
			return 0, fmt.Errorf("negative count %d", v.Int)
		}
		return uint64(v.Int), nil
	}
	return v.Uint, nil
}

func equalValues(a, b []tabletype.Value) bool { return compareValues(a, b) == 0 }

func compareValues(a, b []tabletype.Value) int {
	for i := range min(len(a), len(b)) {
		if c := tabletype.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}
