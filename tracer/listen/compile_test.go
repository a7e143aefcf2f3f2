package listen

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
)

// TestListenCompilesEverywhere: listen.c, with its _Static_asserts on
// struct listen_event, compiles with clang (the ELF backend's compiler)
// for every mode, strategy and offsets source the ELF backend takes,
// whatever this kernel supports: nothing is loaded, so no strategy is
// skipped for want of kprobes. fentry is the bcc backend's only, and
// the ELF backend must refuse it. (The bcc half is libbcc's compile in
// the integration tests, which needs root.)
func TestListenCompilesEverywhere(t *testing.T) {
	testenv.RequireClang(t)
	rel, _ := kernel.Release()
	tree, err := headers.Find(headers.Search{Env: os.Getenv("BCC_KERNEL_SOURCE"), Release: rel})
	if err != nil {
		if tree, err = headers.OtherRelease("/lib/modules", rel, headers.DefaultCache); err != nil {
			testenv.Unavailable(t, "needs a kernel headers tree: "+err.Error())
		}
	}
	if _, err := kernel.TraceFS(); err != nil {
		testenv.Unavailable(t, "needs tracefs (the tracepoint strategy's argument structs): "+err.Error())
	}
	// Offsets as BTF would give them: any values compile; each define is set.
	btf := Offsets{}
	for i, f := range listenFields {
		btf[f.define] = uint32(8 * (i + 1))
	}
	cache := elfobj.Cache{Dir: testenv.TrustedTempDir(t)}
	for _, mode := range []Mode{ModePerf, ModeDebug} {
		for _, strategy := range []Strategy{StrategyKprobe, StrategyKretprobe, StrategyTracepoint, StrategyFentry} {
			for _, v := range []struct {
				offsets    OffsetSource
				trackClose bool // evtrace listeners' probe
			}{{OffsetsBTF, false}, {OffsetsHeaders, false}, {OffsetsBTF, true}, {OffsetsHeaders, true}} {
				offsets := v.offsets
				if v.trackClose && mode == ModeDebug {
					continue
				}
				name := fmt.Sprintf("%s/%s/%s", mode, strategy, offsets)
				if v.trackClose {
					name += "/close"
				}
				t.Run(name, func(t *testing.T) {
					plan := Plan{Strategy: strategy, Offsets: offsets}
					if offsets == OffsetsBTF {
						plan.OffsetValues = btf
					}
					spec, err := SessionSpec(Config{Mode: mode, DebugToken: "evtrace-test", TrackClose: v.trackClose}, plan)
					if err != nil {
						t.Fatal(err)
					}
					b, err := elfobj.Prepare(elfobj.Program{Name: spec.Name, Source: spec.Source, CFlags: spec.CFlags, Probes: spec.Probes}, tree, rel)
					if strategy == StrategyFentry {
						// gobpf/elf cannot load tracing programs: the ELF
						// backend refuses fentry before compiling (and
						// listen.c would #error); fentry compiles with bcc.
						if err == nil || !strings.Contains(err.Error(), "the ELF backend (gobpf/elf) attaches kprobes, kretprobes and tracepoints only") {
							t.Fatalf("Prepare: %v, want the ELF backend to refuse fentry", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := b.Object(context.Background(), cache); err != nil {
						t.Fatalf("clang: %v", err)
					}
				})
			}
		}
	}
}
