package output

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tabletype"
)

func decoded(t *testing.T, desc string, b []byte) tabletype.Value {
	t.Helper()
	typ, err := tabletype.Parse(desc)
	if err == nil {
		err = typ.CheckSize(len(b))
	}
	if err != nil {
		t.Fatal(err)
	}
	v, err := typ.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

const keyDesc = `["key_t", [["pid","unsigned int"], ["comm","char", [8]]], "struct_packed"]`

func pidKey(t *testing.T, pid uint32, comm string) tabletype.Value {
	b := binary.LittleEndian.AppendUint32(nil, pid)
	c := make([]byte, 8)
	copy(c, comm)
	return decoded(t, keyDesc, append(b, c...))
}

func tableSnapshot(t *testing.T) tables.Snapshot {
	keyType, _ := tabletype.Parse(keyDesc)
	keyType.CheckSize(12)
	valType, _ := tabletype.Parse(`"unsigned long long"`)
	return tables.Snapshot{
		Map: "counts", Kind: "percpu_hash", Time: time.Date(2026, 12, 4, 10, 11, 12, 500, time.UTC), Mode: tables.Table,
		KeyLeaves: keyType.Leaves(), ValueLeaves: valType.Leaves(),
		Entries: []tables.Entry{
			{Key: pidKey(t, 4242, "nc"), Value: decoded(t, `"unsigned long long"`, le64(123456)),
				CPUs: []tabletype.Value{decoded(t, `"unsigned long long"`, le64(123000)), decoded(t, `"unsigned long long"`, le64(456))}},
			{Key: pidKey(t, 7, "ev\x1bil"), Value: decoded(t, `"unsigned long long"`, le64(9))},
		},
		Total: 3,
	}
}

// A table: key then value columns, aligned, strings escaped, and how many
// entries --top left out.
func TestMapTableText(t *testing.T) {
	var b bytes.Buffer
	p := NewMapPrinter(&b, Text)
	p.Stamp = true
	if err := p.Print([]tables.Snapshot{tableSnapshot(t)}); err != nil {
		t.Fatal(err)
	}
	want := "10:11:12\n" +
		"counts: 2 of 3 entries\n" +
		"pid   comm      value\n" +
		"4242  nc        123456\n" +
		"7     ev\\x1bil  9\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestMapTableJSON(t *testing.T) {
	var b bytes.Buffer
	if err := NewMapPrinter(&b, JSON).Print([]tables.Snapshot{tableSnapshot(t)}); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-12-04T10:11:12.0000005Z","map":"counts","type":"percpu_hash","entries":[` +
		`{"key":{"pid":4242,"comm":"nc"},"value":123456,"cpus":[123000,456]},` +
		`{"key":{"pid":7,"comm":"ev\u001bil"},"value":9}],"total":3}` + "\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// An empty table says so; in JSON its entries are [].
func TestMapTableEmpty(t *testing.T) {
	s := tables.Snapshot{Map: "c", Kind: "hash", Mode: tables.Table, Time: time.Unix(0, 0).UTC()}
	var b bytes.Buffer
	NewMapPrinter(&b, Text).Print([]tables.Snapshot{s})
	if b.String() != "c: no entries\n" {
		t.Errorf("text %q", b.String())
	}
	b.Reset()
	NewMapPrinter(&b, JSON).Print([]tables.Snapshot{s})
	if want := `{"time":"1970-01-01T00:00:00Z","map":"c","type":"hash","entries":[]}` + "\n"; b.String() != want {
		t.Errorf("json %s, want %s", b.String(), want)
	}
}

// A histogram prints exactly as bcc's print_log2_hist (the goldens pin
// that function), under its name; a sectioned one as bcc's sections, with
// char array members as Python bytes; JSON has the buckets.
func TestMapHistograms(t *testing.T) {
	counts := []uint64{3, 0, 5, 1}
	single := tables.Snapshot{Map: "dist", Kind: "array", Mode: tables.Log2, Label: "usecs", Time: time.Unix(0, 0).UTC(),
		Sections: []tables.Section{{Counts: counts}}}
	disk := decoded(t, `["k", [["disk","char", [4]]], "struct_packed"]`, []byte("sda\x00")).Fields[0].Value
	pid := decoded(t, `"unsigned int"`, []byte{7, 0, 0, 0})
	sectioned := tables.Snapshot{Map: "bydisk", Kind: "hash", Mode: tables.Linear, Label: "value", Time: time.Unix(0, 0).UTC(),
		Sections: []tables.Section{{Names: []string{"disk", "pid"}, Values: []tabletype.Value{disk, pid}, Counts: []uint64{0, 2}}}}

	var b bytes.Buffer
	if err := NewMapPrinter(&b, Text).Print([]tables.Snapshot{single, sectioned}); err != nil {
		t.Fatal(err)
	}
	log2, _ := FormatLog2Hist(counts, "usecs", HistOptions{})
	lin, _ := FormatHistSections(Linear, []HistSection{{Header: "disk", Value: "b'sda', pid = 7", Counts: []uint64{0, 2}}}, "value", HistOptions{})
	if want := "dist:\n" + log2 + "\nbydisk:\n" + lin; b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if !strings.Contains(b.String(), "\ndisk = b'sda', pid = 7\n") {
		t.Errorf("section line missing:\n%s", b.String())
	}

	b.Reset()
	if err := NewMapPrinter(&b, JSON).Print([]tables.Snapshot{single, sectioned}); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"1970-01-01T00:00:00Z","map":"dist","type":"array","hist":"log2","label":"usecs","sections":[{"buckets":[{"low":0,"high":1,"count":0},{"low":2,"high":3,"count":5},{"low":4,"high":7,"count":1}]}]}` + "\n" +
		`{"time":"1970-01-01T00:00:00Z","map":"bydisk","type":"hash","hist":"linear","label":"value","sections":[{"section":{"disk":"sda","pid":7},"buckets":[{"low":0,"high":0,"count":0},{"low":1,"high":1,"count":2}]}]}` + "\n"
	if b.String() != want {
		t.Errorf("json\n%s\nwant\n%s", b.String(), want)
	}
}
