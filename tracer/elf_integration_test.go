package tracer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
)

// requireELF is testenv.RequireBPF plus the ELF backend's compiler.
func requireELF(t *testing.T) {
	t.Helper()
	testenv.RequireBPF(t)
	if _, err := findClang(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ELF backend test cannot run in CI: %v", err)
		}
		t.Skip(err)
	}
}

// hostListenConfig is the listen probe as this host can run it whatever
// its kernel: tracepoints and BTF offsets, our own process only.
func hostListenConfig(t *testing.T, backend Backend, cacheDir string) ListenConfig {
	if _, err := os.Stat(kernel.BTF); err != nil {
		t.Skip("needs the kernel's BTF for the tracepoint strategy's offsets")
	}
	return ListenConfig{
		Mode: ModePerf, Attach: AttachTracepoint, Offsets: OffsetsBTF,
		PID: uint32(os.Getpid()), Backend: backend, CacheDir: cacheDir,
	}
}

// collectListens runs each tracer until it has seen a listen with every
// backlog in want, and returns what each saw, by backlog.
func collectListens(t *testing.T, tracers []*ListenTracer, want []int32, trigger func()) []map[int32]ListenEvent {
	t.Helper()
	got := make([]map[int32]ListenEvent, len(tracers))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, tr := range tracers {
		got[i] = map[int32]ListenEvent{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, rcancel := context.WithCancel(ctx)
			defer rcancel()
			err := tr.Run(rctx, ListenHandler{Event: func(e ListenEvent) {
				got[i][e.Backlog] = e
				for _, b := range want {
					if _, ok := got[i][b]; !ok {
						return
					}
				}
				rcancel()
			}})
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	trigger()
	wg.Wait()
	return got
}

func TestListenELFMatchesBCC(t *testing.T) {
	requireELF(t)
	cache := testenv.TrustedTempDir(t)
	var tracers []*ListenTracer
	for _, b := range []Backend{BackendBCC, BackendELF} {
		tr, err := OpenListen(hostListenConfig(t, b, cache))
		if err != nil {
			t.Fatalf("OpenListen(%s): %v", b, err)
		}
		defer tr.Close()
		if got := tr.Backend().Backend; got != b {
			t.Fatalf("asked for %s, got %s", b, tr.Backend())
		}
		tracers = append(tracers, tr)
	}
	t.Logf("elf: %s", tracers[1].Backend())
	var ports []int
	got := collectListens(t, tracers, []int32{91, 92}, func() {
		for _, backlog := range []int{91, 92} {
			_, port := listenOnThread(t, backlog)
			ports = append(ports, port)
		}
	})
	for i, backlog := range []int32{91, 92} {
		bcc, okB := got[0][backlog]
		elf, okE := got[1][backlog]
		if !okB || !okE {
			t.Fatalf("backlog %d: bcc saw it: %v, elf saw it: %v", backlog, okB, okE)
		}
		if int(bcc.Port) != ports[i] {
			t.Errorf("bcc: port %d, want %d", bcc.Port, ports[i])
		}
		// The timestamps are each program's own: compare the rest.
		bcc.Time, bcc.Mono, elf.Time, elf.Mono = time.Time{}, 0, time.Time{}, 0
		if bcc != elf {
			t.Errorf("backlog %d: the backends decoded different events:\n bcc %+v\n elf %+v", backlog, bcc, elf)
		}
	}
}

func TestELFCacheRebuildsDamagedObject(t *testing.T) {
	requireELF(t)
	dir := testenv.TrustedTempDir(t)
	cfg := hostListenConfig(t, BackendELF, dir)
	open := func() *ListenTracer {
		tr, err := OpenListen(cfg)
		if err != nil {
			t.Fatalf("OpenListen: %v", err)
		}
		return tr
	}
	first := open()
	if c := first.Backend().Cache; !strings.Contains(c, "compiled") {
		t.Errorf("first run: cache %q, want a compile", c)
	}
	first.Close()
	second := open()
	if c := second.Backend(); c.Cache != "hit" {
		t.Errorf("second run: cache %q, want a hit", c.Cache)
	}
	second.Close()
	objs, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	if len(objs) != 1 {
		t.Fatalf("cache holds %v, want one object", objs)
	}
	if err := os.Truncate(objs[0], 100); err != nil {
		t.Fatal(err)
	}
	third := open()
	defer third.Close()
	if c := third.Backend().Cache; !strings.Contains(c, "truncated") || !strings.Contains(c, "compiled") {
		t.Errorf("after truncation: cache %q, want the object rejected and rebuilt", c)
	}
	got := collectListens(t, []*ListenTracer{third}, []int32{93}, func() { listenOnThread(t, 93) })
	if _, ok := got[0][93]; !ok {
		t.Error("the rebuilt object reported no event")
	}
}

func TestAutoBackendFillsTheCache(t *testing.T) {
	requireELF(t)
	dir := testenv.TrustedTempDir(t)
	cfg := hostListenConfig(t, BackendAuto, dir)
	first, err := OpenListen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b := first.Backend(); b.Backend != BackendBCC || !strings.Contains(b.Why, "background") {
		t.Errorf("first auto run: %s, want bcc while the object compiles", b)
	}
	if err := first.session.WaitCacheFill(); err != nil {
		t.Fatalf("background compile: %v", err)
	}
	first.Close()
	second, err := OpenListen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if b := second.Backend(); b.Backend != BackendELF || b.Cache != "hit" {
		t.Errorf("second auto run: %s, want elf from the cache", b)
	}
}

func TestELFCompileErrorShowsClang(t *testing.T) {
	requireELF(t)
	_, err := Open(Spec{
		Name:       "broken.c",
		Source:     "EVTRACE_TRACEPOINT(syscalls, sys_enter_getppid) { return missing_thing; }\n",
		Probes:     []Probe{{Kind: Tracepoint, Target: "syscalls:sys_enter_getppid", Program: "tracepoint__syscalls__sys_enter_getppid"}},
		Dialect:    true,
		Backend:    BackendELF,
		CacheDir:   testenv.TrustedTempDir(t),
		AnyHeaders: true,
	})
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Log, "missing_thing") || !strings.Contains(ce.Log, "broken.c") {
		t.Fatalf("error %v: want a CompileError with clang's message about broken.c", err)
	}
}
