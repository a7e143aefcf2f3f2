package output

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/readable"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

func mixedDecoder(t *testing.T) *layout.Decoder {
	d, err := layout.NewDecoder([]string{"pid#u32", "delta#s32", "comm#char[16]", "pair#u32[2]", "ptr#void *"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRecordColumns(t *testing.T) {
	d := mixedDecoder(t)
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"events"}, "")
	p.Record("events", d.Fields, []any{uint64(4242), int64(-3), "nc", []any{uint64(1), uint64(2)}, "0xffff8880deadbeef"})
	p.Record("events", d.Fields, []any{uint64(7), int64(1234567), "a-very-long-task", []any{uint64(30), uint64(40)}, "0x0"})
	p.Record("events", d.Fields, []any{uint64(4294967295), int64(-2147483648), "x", []any{uint64(0), uint64(0)}, "0x0"})
	// Integer columns are as wide as their type's widest value (u32: 10,
	// s32: 11; u32[2]: 23), so every line stays aligned.
	want := "PID        DELTA       COMM             PAIR                    PTR\n" +
		"4242       -3          nc               [1 2]                   0xffff8880deadbeef\n" +
		"7          1234567     a-very-long-task [30 40]                 0x0\n" +
		"4294967295 -2147483648 x                [0 0]                   0x0\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRecordJSONAndTables(t *testing.T) {
	d := mixedDecoder(t)
	vals := []any{uint64(4242), int64(-3), "nc", []any{uint64(1), uint64(2)}, "0x10"}
	var b bytes.Buffer
	NewRecordPrinter(&b, JSON, []string{"events"}, "").Record("events", d.Fields, vals)
	want := `{"pid":4242,"delta":-3,"comm":"nc","pair":[1,2],"ptr":"0x10"}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
	b.Reset()
	NewRecordPrinter(&b, JSON, []string{"a", "b"}, "").Record("b", d.Fields, vals)
	if !strings.HasPrefix(b.String(), `{"_table":"b","pid":4242,`) {
		t.Errorf("two tables: %s", b.String())
	}
}

// TestRecordTablesText: with several tables, every row sits under its own
// table's header (printed again when the table changes), after a TABLE
// column as wide as the longest table name.
func TestRecordTablesText(t *testing.T) {
	execs, err := layout.NewDecoder([]string{"pid#u32", "comm#char[16]"})
	if err != nil {
		t.Fatal(err)
	}
	exits, err := layout.NewDecoder([]string{"pid#u32", "code#s32", "duration_ns#u64"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"execs", "process_exits"}, "")
	p.Record("execs", execs.Fields, []any{uint64(10), "bash"})
	p.Record("execs", execs.Fields, []any{uint64(11), "ls"})
	p.Record("process_exits", exits.Fields, []any{uint64(11), int64(0), uint64(1500)})
	p.Record("execs", execs.Fields, []any{uint64(12), "cat"})
	want := `TABLE         PID        COMM
execs         10         bash
execs         11         ls
TABLE         PID        CODE        DURATION_NS
process_exits 11         0           1500
TABLE         PID        COMM
execs         12         cat
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRecordColumnsWiden: a value wider than its column widens it, and the
// header is printed again above it, so rows stay under their names.
func TestRecordColumnsWiden(t *testing.T) {
	d, err := layout.NewDecoder([]string{"path#char[64]", "n#u8"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"opens"}, "")
	p.Record("opens", d.Fields, []any{"/etc/passwd", uint64(1)})
	p.Record("opens", d.Fields, []any{"/usr/lib/x86_64-linux-gnu/libc.so.6", uint64(2)})
	p.Record("opens", d.Fields, []any{"/tmp/x", uint64(3)})
	p.Record("opens", d.Fields, []any{"/tmp/\x1b", uint64(4)}) // escaped: as wide as the escape
	want := `PATH             N
/etc/passwd      1
PATH                                N
/usr/lib/x86_64-linux-gnu/libc.so.6 2
/tmp/x                              3
/tmp/\x1b                           4
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTraceFormat(t *testing.T) {
	l := tracepipe.Line{Task: "nc", PID: 4940, CPU: 1, Flags: "d..31", Time: 1500 * time.Millisecond, Message: "Hello World!"}
	if got := FormatTrace("{1} {5}", l); got != "4940 Hello World!" {
		t.Errorf("got %q", got)
	}
	if got := FormatTrace("{0}/{2}/{3}/{4}", l); got != "nc/1/d..31/1.500000" {
		t.Errorf("got %q", got)
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, nil, "{1} {5}")
	p.TraceHeader()
	p.Trace(l, time.Time{})
	if b.String() != "4940 Hello World!\n" {
		t.Errorf("printer: %q", b.String())
	}
	for _, bad := range []string{"{6}", "{x}", "no fields", "{1"} {
		if ValidTraceFormat(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidTraceFormat("{1} {5}"); err != nil {
		t.Error(err)
	}
}

func TestRecordEscapesStrings(t *testing.T) {
	d := mixedDecoder(t)
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"events"}, "")
	p.Record("events", d.Fields, []any{uint64(1), int64(2), forged, []any{uint64(1), uint64(2)}, "0x0"})
	noControlBytes(t, b.String(), 2)
	if !strings.Contains(b.String(), " "+forgedEscaped+" ") {
		t.Errorf("got\n%s", b.String())
	}

	l := tracepipe.Line{Task: forged, PID: 7, Flags: "d\x1b.31", Message: forged}
	if got, want := FormatTrace("{0} {3} {5}", l), forgedEscaped+` d\x1b.31 `+forgedEscaped; got != want {
		t.Errorf("FormatTrace: %q, want %q", got, want)
	}
}

// TestRecordTextAllocs: the per-record text path allocates nothing when
// its strings need no escaping.
func TestRecordTextAllocs(t *testing.T) {
	d := mixedDecoder(t)
	p := NewRecordPrinter(io.Discard, Text, []string{"events"}, "")
	vals := []any{uint64(4242), int64(-3), "nc", []any{uint64(1), uint64(2)}, "0xffff8880deadbeef"}
	p.Record("events", d.Fields, vals)
	if n := testing.AllocsPerRun(100, func() { p.Record("events", d.Fields, vals) }); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}

func TestRecordJSONKeepsBytes(t *testing.T) {
	d, err := layout.NewDecoder([]string{"comm#char[16]", "comm_b64#u32", "name#char[8]"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, JSON, []string{"events"}, "")
	p.Record("events", d.Fields, []any{forged, uint64(7), "ok"})
	p.Record("events", d.Fields, []any{"bash", uint64(8), "x\xff"})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// The struct has a member comm_b64 of its own: comm's bytes go in
	// comm_b64_.
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	s, _ := first["comm_b64_"].(string)
	if decodeB64(t, s) != forged || first["comm_b64"] != float64(7) || first["comm"] != forgedText || len(first) != 4 {
		t.Errorf("first: %s", lines[0])
	}
	if want := `{"comm":"bash","comm_b64":8,"name":"x\ufffd","name_b64":"eP8="}`; lines[1] != want {
		t.Errorf("second: %s\nwant    %s", lines[1], want)
	}
}

// TestRecordsAndTraceLines: a program with a perf table that also calls
// bpf_trace_printk: trace lines sit under the trace header, records under
// theirs, each printed again when the kind of line changes.
func TestRecordsAndTraceLines(t *testing.T) {
	d, err := layout.NewDecoder([]string{"pid#u32", "n#u8"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"events"}, "")
	l := tracepipe.Line{Task: "nc", PID: 7, CPU: 1, Message: "hello"}
	p.Record("events", d.Fields, []any{uint64(7), uint64(1)})
	p.Trace(l, when)
	p.Trace(l, when)
	p.Record("events", d.Fields, []any{uint64(7), uint64(2)})
	want := `PID        N
7          1
TIME     TID     CPU COMM            MESSAGE
10:04:05 7       1   nc              hello
10:04:05 7       1   nc              hello
PID        N
7          2
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRecordReadable: --field formats show in text instead of the number
// (columns as wide as the format needs), and in JSON beside it as
// NAME_str, or NAME_str_ when the struct has a member NAME_str; a 128-bit
// member is one number.
func TestRecordReadable(t *testing.T) {
	d, err := layout.NewDecoder([]string{"saddr#u32", "saddr_str#u32", "v6#unsigned __int128", "ret#s32"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, d.Size)
	copy(b[d.Fields[0].Offset:], []byte{127, 0, 0, 1})
	b[d.Fields[1].Offset] = 7
	b[d.Fields[2].Offset+15] = 0x20 // 2^125: 42535295865117307932921825928971026432
	copy(b[d.Fields[3].Offset:], []byte{0xfe, 0xff, 0xff, 0xff})
	vals, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	specs := []readable.Spec{{Member: "saddr", Format: readable.IPv4}, {Member: "ret", Format: readable.Errno}}
	fm, err := readable.NewFormatter(kernel.WallClockAt(time.Unix(0, 0)), specs)
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	p := NewRecordPrinter(&text, Text, []string{"events"}, "")
	p.Readable(specs, fm)
	if err := p.Record("events", d.Fields, vals); err != nil {
		t.Fatal(err)
	}
	want := "SADDR           SADDR_STR  V6                                      RET\n" +
		"127.0.0.1       7          42535295865117307932921825928971026432  -ENOENT\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	p = NewRecordPrinter(&js, JSON, []string{"events"}, "")
	p.Readable(specs, fm)
	if err := p.Record("events", d.Fields, vals); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"saddr":16777343,"saddr_str_":"127.0.0.1","saddr_str":7,"v6":42535295865117307932921825928971026432,"ret":-2,"ret_str":"-ENOENT"}` + "\n"
	if js.String() != wantJSON {
		t.Errorf("JSON %s\nwant %s", js.String(), wantJSON)
	}
}
