package runner

import (
	"reflect"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/layout"
)

// fakeTables is a session's perf tables, as libbcc describes them.
type fakeTables map[string][]string

func (f fakeTables) PerfTables() []string {
	var names []string
	for _, n := range []string{"events", "raw", "skbs"} {
		if _, ok := f[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

func (f fakeTables) PerfFields(t string) []string { return f[t] }

const decodersSource = `
struct ev { u32 pid; char comm[16]; };
BPF_PERF_OUTPUT(events);
BPF_PERF_OUTPUT(raw);
BPF_PERF_OUTPUT(skbs);
int f(struct __sk_buff *skb) { struct ev e = {}; events.perf_submit(skb, &e, sizeof(e)); skbs.perf_submit_skb(skb, skb->len, &e, sizeof(e)); return 0; }
`

// Each table gets the decoder its struct says, raw bytes when libbcc
// recorded none (with a note), and trailing packet bytes when the program
// submits an skb to it.
func TestTableDecoders(t *testing.T) {
	var notes []string
	got, err := tableDecoders(fakeTables{
		"events": {"pid#u32", "comm#char[16]"},
		"raw":    nil,
		"skbs":   {"pid#u32", "comm#char[16]"},
	}, nil, decodersSource, func(s string) { notes = append(notes, s) })
	if err != nil {
		t.Fatal(err)
	}
	want, err := layout.NewDecoder([]string{"pid#u32", "comm#char[16]"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["events"].Fields, want.Fields) || got["events"].Trailing {
		t.Errorf("events: %+v, want %+v without trailing bytes", got["events"], want)
	}
	if !reflect.DeepEqual(got["raw"], layout.RawDecoder()) {
		t.Errorf("raw: %+v, want the raw decoder", got["raw"])
	}
	if !got["skbs"].Trailing {
		t.Errorf("skbs: no trailing bytes for perf_submit_skb")
	}
	wantNote := "perf table raw: no struct recorded for it (perf_submit of a non-struct, or never submitted to): printing its records as hex bytes"
	if !reflect.DeepEqual(notes, []string{wantNote}) {
		t.Errorf("notes %q, want %q", notes, wantNote)
	}
}

// A struct the source declares differently from libbcc's description is
// an error naming the table.
func TestTableDecodersRefuseMismatch(t *testing.T) {
	_, err := tableDecoders(fakeTables{"events": {"pid#u64"}}, nil, decodersSource, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "perf table events: ") {
		t.Fatalf("got %v, want an error about perf table events", err)
	}
}

func TestNoOutputNote(t *testing.T) {
	if got, want := noOutputNote("a.c", nil), "a.c has no perf output, calls no bpf_trace_printk and has no maps: nothing it does can be printed"; got != want {
		t.Errorf("no maps: %q, want %q", got, want)
	}
	got := noOutputNote("b.c", []backend.MapInfo{{Name: "counts", Kind: "stack_trace"}, {Name: "hist", Kind: "prog_array"}})
	want := "b.c has no perf output, calls no bpf_trace_printk and has no data maps (hash, array and their per-CPU and LRU kinds): nothing it does can be printed; its maps are counts: stack_trace, hist: prog_array"
	if got != want {
		t.Errorf("maps: %q, want %q", got, want)
	}
}
