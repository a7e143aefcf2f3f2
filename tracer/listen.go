package tracer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// Mode selects how the listen probe reports to user space.
type Mode string

const (
	// ModePerf: one struct per event through per-CPU perf buffers.
	ModePerf Mode = "perf"
	// ModeDebug: bpf_trace_printk lines read back from trace_pipe.
	ModeDebug Mode = "debug"
)

// ParseMode accepts "perf" and "debug".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModePerf, ModeDebug:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q (want perf or debug)", s)
}

// ListenConfig configures the listen tracer.
type ListenConfig struct {
	Mode         Mode
	Attach       Attach       // "" or auto: chosen by PlanListen
	Offsets      OffsetSource // "" or auto: chosen by PlanListen
	PID          uint32       // report this process only; 0: all
	NetNS        uint32       // report this network namespace (inode) only; 0: all
	KernelSource string       // headers tree; see Spec.KernelSource
	PerfPages    int          // see Spec.PerfPages
	PerfWakeup   int          // see Spec.PerfWakeup
	Backend      Backend      // see Spec.Backend
	CacheDir     string       // see Spec.CacheDir
	// DebugToken starts every line the probe prints in debug mode (see
	// Spec.TraceToken); "": a new one from NewTraceToken.
	DebugToken string
}

// Names in listen.c.
const (
	listenTable = "listen_events"
	// ListenEventSize is the size of struct listen_event.
	ListenEventSize = 64
)

// ListenPlan is what PlanListen decided for a ListenConfig on this kernel.
type ListenPlan struct {
	Attach        Attach
	AttachReason  string
	Offsets       OffsetSource
	OffsetsReason string
	OffsetValues  Offsets // with Offsets == OffsetsBTF
}

// PlanListen chooses the attach strategy and the offsets source for the
// running kernel, and computes BTF offsets when they are used.
func PlanListen(cfg ListenConfig) (ListenPlan, error) {
	f := DetectFeatures()
	return planListen(cfg, f, f, KernelListenOffsets)
}

// PlanListenSource plans for printing the program (--ebpf), which needs
// neither root nor a kernel that can run it: a strategy asked for is taken
// as asked; auto is resolved against the running kernel as PlanListen does.
func PlanListenSource(cfg ListenConfig) (ListenPlan, error) {
	f := DetectFeatures()
	attachF := f
	if cfg.Attach != AttachAuto && cfg.Attach != "" {
		attachF = Features{Kprobes: true, ListenTracepoints: true, BTF: true}
	}
	return planListen(cfg, attachF, f, KernelListenOffsets)
}

// planListen chooses the strategy against attachF and the offsets source
// against offsetsF (the same kernel, unless --ebpf takes a strategy as asked).
func planListen(cfg ListenConfig, attachF, offsetsF Features, btfOffsets func() (Offsets, error)) (ListenPlan, error) {
	var p ListenPlan
	var err error
	if p.Attach, p.AttachReason, err = ChooseAttach(cfg.Attach, attachF); err != nil {
		return p, err
	}
	if p.Offsets, p.OffsetsReason, err = ChooseOffsets(cfg.Offsets, offsetsF); err != nil {
		return p, err
	}
	if p.Offsets == OffsetsBTF {
		if p.OffsetValues, err = btfOffsets(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ListenSpec returns the program that `evtrace listen` runs for cfg and
// plan: the final C text (defines for mode, strategy, offsets and filters,
// then listen.c) and its probes.
func ListenSpec(cfg ListenConfig, plan ListenPlan) (Spec, error) {
	var defs []probes.Define
	token := cfg.DebugToken
	switch cfg.Mode {
	case ModePerf, "":
		defs = append(defs, probes.Define{Name: "EVTRACE_MODE_PERF", Value: "1"})
	case ModeDebug:
		if token == "" {
			var err error
			if token, err = NewTraceToken(); err != nil {
				return Spec{}, err
			}
		}
		defs = append(defs, probes.Define{Name: "EVTRACE_MODE_DEBUG", Value: "1"},
			probes.Define{Name: "EVTRACE_TOKEN", Value: strconv.Quote(token)})
	default:
		return Spec{}, fmt.Errorf("unknown mode %q (want perf or debug)", cfg.Mode)
	}
	switch plan.Attach {
	case AttachKprobe:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_KPROBE", Value: "1"})
	case AttachKretprobe:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_KRETPROBE", Value: "1"})
	case AttachTracepoint:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_TRACEPOINT", Value: "1"})
	case AttachFentry:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_FENTRY", Value: "1"})
	default:
		return Spec{}, fmt.Errorf("listen: no attach strategy chosen (%q)", plan.Attach)
	}
	if plan.Offsets == OffsetsBTF {
		defs = append(defs, plan.OffsetValues.defines()...)
	}
	if cfg.PID != 0 {
		defs = append(defs, probes.Define{Name: "FILTER_PID", Value: strconv.FormatUint(uint64(cfg.PID), 10)})
	}
	if cfg.NetNS != 0 {
		defs = append(defs, probes.Define{Name: "FILTER_NETNS", Value: strconv.FormatUint(uint64(cfg.NetNS), 10)})
	}
	text, err := probes.Build(probes.Listen(), defs)
	if err != nil {
		return Spec{}, err
	}
	spec := Spec{
		Name:         "listen.c",
		Source:       text,
		Probes:       listenProbes(plan.Attach),
		KernelSource: cfg.KernelSource,
		PerfPages:    cfg.PerfPages,
		PerfWakeup:   cfg.PerfWakeup,
		Backend:      cfg.Backend,
		CacheDir:     cfg.CacheDir,
		Dialect:      true,
		// With BTF offsets the headers' layouts are never read.
		AnyHeaders: plan.Offsets == OffsetsBTF,
	}
	if cfg.Mode == ModeDebug {
		spec.TracePipe = true
		spec.TraceToken = token
	} else {
		spec.PerfTables = []string{listenTable}
	}
	return spec, nil
}

// ListenEvent is one listen() call, as the perf mode reports it.
type ListenEvent struct {
	Time    time.Time  // wall clock, from the kernel's monotonic timestamp
	PID     uint32     // process id
	TID     uint32     // thread id
	Comm    string     // task name
	NetNS   uint32     // network namespace inode, as in /proc/PID/ns/net
	Family  uint16     // AF_INET or AF_INET6
	Backlog int32      // as passed to listen()
	Addr    netip.Addr // local address; unspecified (0.0.0.0, ::) for a wildcard bind
	Port    uint16     // local port, host byte order; 0 if not bound yet
	Mono    time.Duration
	Ret     int32 // inet_listen's result, when HasRet
	HasRet  bool  // the strategy sees the return (kretprobe, tracepoint)
}

// Address families as the kernel numbers them.
const (
	afInet  = 2
	afInet6 = 10
)

// Proto names the protocol the way solisten does: TCPv4 or TCPv6.
func (e ListenEvent) Proto() string {
	switch e.Family {
	case afInet:
		return "TCPv4"
	case afInet6:
		return "TCPv6"
	}
	return "AF" + strconv.Itoa(int(e.Family))
}

// DecodeListenEvent decodes a struct listen_event as the kernel wrote it
// (native byte order). The kernel may pad a perf record, so longer input is
// accepted; shorter input is an error. Time is left zero.
func DecodeListenEvent(b []byte) (ListenEvent, error) {
	if len(b) < ListenEventSize {
		return ListenEvent{}, fmt.Errorf("listen event: %d bytes, want %d", len(b), ListenEventSize)
	}
	ne := binary.NativeEndian
	e := ListenEvent{
		Mono:    time.Duration(ne.Uint64(b[0:8])),
		PID:     ne.Uint32(b[8:12]),
		TID:     ne.Uint32(b[12:16]),
		NetNS:   ne.Uint32(b[16:20]),
		Backlog: int32(ne.Uint32(b[20:24])),
		Family:  ne.Uint16(b[24:26]),
		Port:    ne.Uint16(b[26:28]),
	}
	switch e.Family {
	case afInet:
		e.Addr = netip.AddrFrom4([4]byte(b[28:32]))
	case afInet6:
		e.Addr = netip.AddrFrom16([16]byte(b[28:44]))
	}
	e.Ret = int32(ne.Uint32(b[60:64]))
	comm := b[44:60]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	e.Comm = string(comm)
	return e, nil
}

// ListenHandler receives what the listen tracer reports. Functions may be nil.
type ListenHandler struct {
	Event func(ListenEvent)    // perf mode
	Trace func(tracepipe.Line) // debug mode: each of the probe's trace_pipe lines, without the token
	Lost  func(source string, count uint64)
	// Error reports records that could not be decoded; they are skipped.
	Error func(error)
	// Flush: see Handler.Flush.
	Flush func()
}

// Stats counts what a tracer has seen so far.
type Stats struct {
	Events uint64 // events (perf mode) or trace lines (debug mode) delivered
	Lost   uint64 // events the kernel reported lost
	// Foreign: trace lines of other programs, read and ignored (debug mode).
	Foreign uint64
	// LossesExact: Lost is every event the kernel dropped (see
	// Session.LossesExact); meaningful once Run has returned.
	LossesExact bool
}

// ListenTracer reports every TCP listen on the machine.
type ListenTracer struct {
	session *Session
	plan    ListenPlan
	clock   kernel.WallClock
	events  atomic.Uint64
	lost    atomic.Uint64
}

// OpenListen compiles and attaches the listen probe.
func OpenListen(cfg ListenConfig) (*ListenTracer, error) {
	if err := kernel.CheckRoot(); err != nil {
		return nil, err
	}
	plan, err := PlanListen(cfg)
	if err != nil {
		return nil, err
	}
	spec, err := ListenSpec(cfg, plan)
	if err != nil {
		return nil, err
	}
	s, err := Open(spec)
	var le *LoadError
	if plan.Attach == AttachFentry && errors.As(err, &le) {
		// BTF is not enough: the kernel may still refuse BPF trampolines
		// (lockdown, no direct calls in ftrace, a hypervisor's policy).
		return nil, fmt.Errorf("--attach fentry: this kernel refused the fexit program on inet_listen (--attach auto picks what works): %w", err)
	}
	if err != nil {
		return nil, err
	}
	clock, err := kernel.NewWallClock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return &ListenTracer{session: s, plan: plan, clock: clock}, nil
}

// CompileListen puts the listen probe's ELF object for cfg into the
// cache, as the ELF backend will look for it (evtrace compile listen).
func CompileListen(cfg ListenConfig) (ListenPlan, CompileResult, error) {
	if err := kernel.CheckRoot(); err != nil {
		return ListenPlan{}, CompileResult{}, err
	}
	plan, err := PlanListen(cfg)
	if err != nil {
		return ListenPlan{}, CompileResult{}, err
	}
	spec, err := ListenSpec(cfg, plan)
	if err != nil {
		return ListenPlan{}, CompileResult{}, err
	}
	res, err := Compile(spec)
	return plan, res, err
}

// Plan says which strategy and offsets the tracer uses, and why.
func (t *ListenTracer) Plan() ListenPlan { return t.plan }

// Backend says how the probe was compiled and loaded.
func (t *ListenTracer) Backend() BackendReport { return t.session.Backend() }

// headers.Tree says which kernel headers the probe was compiled against.
func (t *ListenTracer) Headers() headers.Tree { return t.session.Headers() }

// StaleKprobesRemoved: see Session.StaleKprobesRemoved.
func (t *ListenTracer) StaleKprobesRemoved() ([]string, error) {
	return t.session.StaleKprobesRemoved()
}

// Run delivers events to h until ctx is done; see Session.Run.
func (t *ListenTracer) Run(ctx context.Context, h ListenHandler) error {
	return t.session.Run(ctx, Handler{
		Sample: func(_ string, data []byte) {
			e, err := DecodeListenEvent(data)
			if err != nil {
				if h.Error != nil {
					h.Error(err)
				}
				return
			}
			e.Time = t.clock.Wall(e.Mono)
			e.HasRet = t.plan.Attach.ReportsReturn()
			if !e.HasRet {
				e.Ret = 0
			}
			t.events.Add(1)
			if h.Event != nil {
				h.Event(e)
			}
		},
		Trace: func(l tracepipe.Line) {
			t.events.Add(1)
			if h.Trace != nil {
				h.Trace(l)
			}
		},
		Lost: func(source string, n uint64) {
			t.lost.Add(n)
			if h.Lost != nil {
				h.Lost(source, n)
			}
		},
		Flush: h.Flush,
	})
}

// Stats returns the counts so far.
func (t *ListenTracer) Stats() Stats {
	return Stats{
		Events:      t.events.Load(),
		Lost:        t.lost.Load(),
		LossesExact: t.session.LossesExact(),
		Foreign:     t.session.ForeignTraceLines(),
	}
}

// Close detaches the probe and frees its resources.
func (t *ListenTracer) Close() error { return t.session.Close() }

// WallTime converts a kernel timestamp with the tracer's clock.
func (t *ListenTracer) WallTime(mono time.Duration) time.Time { return t.clock.Wall(mono) }
