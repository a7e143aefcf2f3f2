//go:build cgo

package runner

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/testenv/realbackends"
	"golang.org/x/sys/unix"
)

// mapsProgram counts this test's getppid calls in every kind of data map
// evtrace run prints: a hash of structs, a per-CPU array, an array, a log2
// histogram and a histogram with a section. It has no other output.
const mapsProgram = `
struct key_t { u32 pid; char comm[16]; };
struct val_t { u64 count; s64 neg; };
struct dkey_t { char comm[16]; u64 slot; };
BPF_HASH(counts, struct key_t, struct val_t);
BPF_PERCPU_ARRAY(pc, u64, 4);
BPF_ARRAY(arr, u32, 8);
BPF_HISTOGRAM(dist);
BPF_HISTOGRAM(bycomm, struct dkey_t);
BPF_STACK_TRACE(stacks, 16);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (pid != WANT_PID)
		return 0;
	struct key_t k = {.pid = pid};
	bpf_get_current_comm(&k.comm, sizeof(k.comm));
	struct val_t zero = {};
	struct val_t *v = counts.lookup_or_try_init(&k, &zero);
	if (v) {
		v->count++;
		v->neg--;
	}
	pc.increment(1);
	arr.increment(2);
	dist.increment(bpf_log2l(1000));
	struct dkey_t d = {.slot = bpf_log2l(7)};
	bpf_get_current_comm(&d.comm, sizeof(d.comm));
	bycomm.increment(d);
	return 0;
}
`

// openMaps opens mapsProgram for this process.
func openMaps(t *testing.T, opts Options) *Runner {
	t.Helper()
	testenv.RequireBPF(t)
	opts.Name, opts.Source = "maps.c", mapsProgram
	opts.CFlags = []string{"-DWANT_PID=" + strconv.Itoa(os.Getpid())}
	r, err := Open(realbackends.Set(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// runPrints runs r while calling getppid n times, stops it, and returns
// each print of the maps as JSON per map.
func runPrints(t *testing.T, r *Runner, calls func()) ([]map[string]string, Stats) {
	t.Helper()
	var (
		mu     sync.Mutex
		prints []map[string]string
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	var st Stats
	var err error
	go func() {
		defer close(done)
		st, err = r.Run(ctx, Output{Maps: func(snaps []tables.Snapshot) {
			p := map[string]string{}
			for _, s := range snaps {
				b, err := json.Marshal(summarize(s))
				if err != nil {
					t.Errorf("marshal: %v", err)
				}
				p[s.Map] = string(b)
			}
			mu.Lock()
			prints = append(prints, p)
			mu.Unlock()
		}})
	}()
	calls()
	cancel()
	<-done
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return prints, st
}

// summarize is what the test compares of a snapshot.
func summarize(s tables.Snapshot) any {
	if s.Mode == tables.Table {
		type entry struct {
			Key, Value any
			CPUSum     uint64 `json:",omitempty"`
		}
		var es []entry
		for _, e := range s.Entries {
			var sum uint64
			for _, c := range e.CPUs {
				sum += c.Uint
			}
			es = append(es, entry{e.Key, e.Value, sum})
		}
		return es
	}
	type section struct {
		Names  []string
		Values []any
		Counts []uint64
	}
	var secs []section
	for _, sec := range s.Sections {
		var vals []any
		for _, v := range sec.Values {
			vals = append(vals, v)
		}
		secs = append(secs, section{sec.Names, vals, sec.Counts})
	}
	return map[string]any{"mode": s.Mode.String(), "label": s.Label, "sections": secs}
}

func getppids(n int) {
	for range n {
		unix.Getppid()
	}
}

// At exit, every data map is printed once, decoded from libbcc's types:
// struct keys and values, per-CPU sums, histograms with and without a
// section, in exactly the counts of the calls made; the stack map is not
// a data map.
func TestMapsAtExit(t *testing.T) {
	r := openMaps(t, Options{Maps: tables.Config{Labels: map[string]string{"dist": "calls"}}})
	if !r.MapsOnly() || r.Silent() || r.TraceOnly() {
		t.Errorf("MapsOnly %v, Silent %v, TraceOnly %v: want a program that reports only through maps", r.MapsOnly(), r.Silent(), r.TraceOnly())
	}
	comm := testenv.CommOf(t, os.Getpid())
	prints, st := runPrints(t, r, func() { getppids(5) })
	if len(prints) != 1 || st.Prints != 1 || st.Events != 0 {
		t.Fatalf("%d prints (stats %+v), want 1 at exit and no events", len(prints), st)
	}
	c, _ := json.Marshal(comm)
	pid := strconv.Itoa(os.Getpid())
	want := map[string]string{
		"counts": `[{"Key":{"pid":` + pid + `,"comm":` + string(c) + `},"Value":{"count":5,"neg":-5}}]`,
		"pc":     `[{"Key":1,"Value":5,"CPUSum":5}]`,
		"arr":    `[{"Key":2,"Value":5}]`,
		"dist":   `{"label":"calls","mode":"log2","sections":[{"Names":null,"Values":null,"Counts":[0,0,0,0,0,0,0,0,0,0,5]}]}`,
		"bycomm": `{"label":"value","mode":"log2","sections":[{"Names":["comm"],"Values":[` + string(c) + `],"Counts":[0,0,0,5]}]}`,
	}
	for name, w := range want {
		if got := prints[0][name]; got != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got, w)
		}
	}
	if len(prints[0]) != len(want) {
		t.Errorf("maps printed %v, want exactly %d (not the stack map)", r.Maps(), len(want))
	}
}

// With -i, each print holds what happened since the last and the maps are
// cleared: the prints add up to the calls made, none counted twice. With
// --cumulative the last print holds them all.
func TestMapsInterval(t *testing.T) {
	for _, cumulative := range []bool{false, true} {
		r := openMaps(t, Options{Interval: 50 * time.Millisecond, Maps: tables.Config{Select: []string{"arr"}, Cumulative: cumulative}})
		prints, st := runPrints(t, r, func() {
			for range 6 {
				getppids(2)
				time.Sleep(40 * time.Millisecond)
			}
		})
		if len(prints) < 2 || st.Prints != uint64(len(prints)) {
			t.Fatalf("cumulative %v: %d prints (stats %d), want one every 50ms over at least 240ms, and one at exit", cumulative, len(prints), st.Prints)
		}
		var sum, last uint64
		for _, p := range prints {
			var es []struct{ Value uint64 }
			if err := json.Unmarshal([]byte(p["arr"]), &es); err != nil {
				t.Fatal(err)
			}
			last = 0
			for _, e := range es {
				last = e.Value
			}
			sum += last
		}
		switch {
		case !cumulative && sum != 12:
			t.Errorf("cleared after each print: the prints add up to %d, want the 12 calls", sum)
		case cumulative && last != 12:
			t.Errorf("cumulative: the last print has %d, want all 12 calls", last)
		}
		r.Close()
	}
}

// -i with --count on a program that reports only through maps stops after
// that many prints, with no extra print at exit; with --duration a
// multiple of -i, the last interval's print is the exit's.
func TestMapsIntervalCountAndDuration(t *testing.T) {
	r := openMaps(t, Options{Interval: 30 * time.Millisecond, Count: 3, Maps: tables.Config{Select: []string{"arr"}}})
	st, err := r.Run(context.Background(), Output{})
	if err != nil || st.Prints != 3 {
		t.Errorf("--count 3: %d prints, %v; want 3", st.Prints, err)
	}
	r.Close()
	r = openMaps(t, Options{Interval: 40 * time.Millisecond, Duration: 200 * time.Millisecond, Maps: tables.Config{Select: []string{"arr"}}})
	st, err = r.Run(context.Background(), Output{})
	if err != nil || st.Prints != 5 {
		t.Errorf("--duration 200ms -i 40ms: %d prints, %v; want 5", st.Prints, err)
	}
}

// --count without -i means events, and this program has none: refused
// with the reason, nothing left attached.
func TestMapsCountWithoutInterval(t *testing.T) {
	testenv.RequireBPF(t)
	_, err := Open(realbackends.Set(), Options{Name: "maps.c", Source: mapsProgram, CFlags: []string{"-DWANT_PID=1"}, Count: 2})
	want := "--count 2: maps.c reports only through its maps (no events to count); with -i, --count is the number of prints"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
