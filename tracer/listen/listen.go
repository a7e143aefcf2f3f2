// Package listen is evtrace listen: the strategy that attaches the listen
// probe (kretprobe, kprobe, tracepoints, fentry) and the struct offsets it
// reads (BTF or headers), chosen from what the kernel offers; the probe's
// C built for that choice (probes/listen.c); and its event, decoded from
// the layout listen.c declares. Changing the listen probe happens here
// and in probes/listen.c.
package listen

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
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/session"
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

// Config configures the listen tracer.
type Config struct {
	Mode         Mode
	Strategy     Strategy       // "" or auto: chosen by MakePlan
	Offsets      OffsetSource   // "" or auto: chosen by MakePlan
	PID          uint32         // report this process only; 0: all
	NetNS        uint32         // report this network namespace (inode) only; 0: all
	KernelSource string         // headers tree; see session.Spec.KernelSource
	PerfPages    int            // see session.Spec.PerfPages
	PerfWakeup   int            // see session.Spec.PerfWakeup
	Backend      backend.Choice // see session.Spec.Backend
	CacheDir     string         // see session.Spec.CacheDir
	// TrackClose also reports sockets that stop listening (Event.Kind
	// KindClose), through sock:inet_sock_set_state whatever the strategy;
	// PID does not filter them. Perf mode only.
	TrackClose bool
	// DebugToken starts every line the probe prints in debug mode (see
	// session.Spec.TraceToken); "": a new one from session.NewTraceToken.
	DebugToken string
}

// Names in listen.c.
const (
	eventsTable = "listen_events"
	// EventSize is the size of struct listen_event (eventLayout).
	EventSize = 80
)

// Plan is what MakePlan decided for a Config on this kernel.
type Plan struct {
	Strategy       Strategy
	StrategyReason string
	Offsets        OffsetSource
	OffsetsReason  string
	OffsetValues   Offsets // with Offsets == OffsetsBTF
}

// MakePlan chooses the attach strategy and the offsets source for the
// running kernel, and computes BTF offsets when they are used.
func MakePlan(cfg Config) (Plan, error) {
	f := DetectFeatures()
	return choosePlan(cfg, f, f, KernelOffsets)
}

// PlanSource plans for printing the program (--ebpf), which needs
// neither root nor a kernel that can run it: a strategy asked for is taken
// as asked; auto is resolved against the running kernel as MakePlan does.
func PlanSource(cfg Config) (Plan, error) {
	f := DetectFeatures()
	attachF := f
	if cfg.Strategy != StrategyAuto && cfg.Strategy != "" {
		attachF = Features{Kprobes: true, ListenTracepoints: true, BTF: true}
	}
	return choosePlan(cfg, attachF, f, KernelOffsets)
}

// choosePlan chooses the strategy against attachF and the offsets source
// against offsetsF (the same kernel, unless --ebpf takes a strategy as asked).
func choosePlan(cfg Config, attachF, offsetsF Features, btfOffsets func() (Offsets, error)) (Plan, error) {
	var p Plan
	var err error
	if p.Strategy, p.StrategyReason, err = ChooseStrategy(cfg.Strategy, attachF); err != nil {
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

// SessionSpec returns the program that `evtrace listen` runs for cfg and
// plan: the final C text (defines for mode, strategy, offsets and filters,
// then listen.c) and its probes.
func SessionSpec(cfg Config, plan Plan) (session.Spec, error) {
	var defs []probes.Define
	token := cfg.DebugToken
	switch cfg.Mode {
	case ModePerf, "":
		defs = append(defs, probes.Define{Name: "EVTRACE_MODE_PERF", Value: "1"})
	case ModeDebug:
		if token == "" {
			var err error
			if token, err = session.NewTraceToken(); err != nil {
				return session.Spec{}, err
			}
		}
		defs = append(defs, probes.Define{Name: "EVTRACE_MODE_DEBUG", Value: "1"},
			probes.Define{Name: "EVTRACE_TOKEN", Value: strconv.Quote(token)})
	default:
		return session.Spec{}, fmt.Errorf("unknown mode %q (want perf or debug)", cfg.Mode)
	}
	switch plan.Strategy {
	case StrategyKprobe:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_KPROBE", Value: "1"})
	case StrategyKretprobe:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_KRETPROBE", Value: "1"})
	case StrategyTracepoint:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_TRACEPOINT", Value: "1"})
	case StrategyFentry:
		defs = append(defs, probes.Define{Name: "EVTRACE_ATTACH_FENTRY", Value: "1"})
	default:
		return session.Spec{}, fmt.Errorf("listen: no attach strategy chosen (%q)", plan.Strategy)
	}
	if plan.Offsets == OffsetsBTF {
		defs = append(defs, plan.OffsetValues.defines()...)
	}
	if cfg.PID != 0 {
		defs = append(defs, probes.Define{Name: "FILTER_PID", Value: strconv.FormatUint(uint64(cfg.PID), 10)})
	}
	if cfg.TrackClose {
		if cfg.Mode == ModeDebug {
			return session.Spec{}, errors.New("listen: closes are reported in perf mode only")
		}
		defs = append(defs, probes.Define{Name: "EVTRACE_TRACK_CLOSE", Value: "1"})
	}
	if cfg.NetNS != 0 {
		defs = append(defs, probes.Define{Name: "FILTER_NETNS", Value: strconv.FormatUint(uint64(cfg.NetNS), 10)})
	}
	text, err := probes.Build(probes.Listen(), defs)
	if err != nil {
		return session.Spec{}, err
	}
	spec := session.Spec{
		Name:         "listen.c",
		Source:       text,
		Probes:       probesFor(plan.Strategy, cfg.TrackClose),
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
		spec.PerfTables = []string{eventsTable}
	}
	return spec, nil
}

// Kind says what an event reports.
type Kind uint32

const (
	// KindListen: a listen() call (the only kind without TrackClose).
	KindListen Kind = 0
	// KindClose: a TCP socket left TCP_LISTEN (closed, its last owner
	// exited, shut down for reading); PID and Comm are the task that did it.
	KindClose Kind = 1
)

// Event is one listen() call, as the perf mode reports it, or with
// TrackClose a socket that stopped listening.
type Event struct {
	Kind Kind
	// Inode is the socket's inode number, as /proc/PID/fd ("socket:[N]")
	// and sock_diag show it; 0 when the probe could not read it.
	Inode uint64
	// MaxBacklog is the backlog the kernel keeps for the socket (listen()'s
	// capped at net.core.somaxconn), as sock_diag reports it; 0: unknown
	// (headers offsets, or the kprobe strategy, which runs too early).
	MaxBacklog uint32
	Time       time.Time  // wall clock, from the kernel's monotonic timestamp
	PID        uint32     // process id
	TID        uint32     // thread id
	Comm       string     // task name
	NetNS      uint32     // network namespace inode, as in /proc/PID/ns/net
	Family     uint16     // AF_INET or AF_INET6
	Backlog    int32      // as passed to listen()
	Addr       netip.Addr // local address; unspecified (0.0.0.0, ::) for a wildcard bind
	Port       uint16     // local port, host byte order; 0 if not bound yet
	Mono       time.Duration
	Ret        int32 // inet_listen's result, when HasRet
	HasRet     bool  // the strategy sees the return (kretprobe, tracepoint)
}

// Address families as the kernel numbers them.
const (
	afInet  = 2
	afInet6 = 10
)

// Proto names the protocol the way solisten does: TCPv4 or TCPv6.
func (e Event) Proto() string {
	switch e.Family {
	case afInet:
		return "TCPv4"
	case afInet6:
		return "TCPv6"
	}
	return "AF" + strconv.Itoa(int(e.Family))
}

// DecodeEvent decodes a struct listen_event as the kernel wrote it
// (native byte order). The kernel may pad a perf record, so longer input is
// accepted; shorter input is an error. Time is left zero.
func DecodeEvent(b []byte) (Event, error) {
	if len(b) < EventSize {
		return Event{}, fmt.Errorf("listen event: %d bytes, want %d", len(b), EventSize)
	}
	ne := binary.NativeEndian
	l := &eventLayout
	e := Event{
		Mono:       time.Duration(ne.Uint64(l.TsNs.of(b))),
		PID:        ne.Uint32(l.Pid.of(b)),
		TID:        ne.Uint32(l.Tid.of(b)),
		NetNS:      ne.Uint32(l.Netns.of(b)),
		Backlog:    int32(ne.Uint32(l.Backlog.of(b))),
		Family:     ne.Uint16(l.Family.of(b)),
		Port:       ne.Uint16(l.Lport.of(b)),
		Ret:        int32(ne.Uint32(l.Ret.of(b))),
		Inode:      ne.Uint64(l.Ino.of(b)),
		Kind:       Kind(ne.Uint32(l.Kind.of(b))),
		MaxBacklog: ne.Uint32(l.MaxBacklog.of(b)),
	}
	addr := l.Laddr.of(b)
	switch e.Family {
	case afInet:
		e.Addr = netip.AddrFrom4([4]byte(addr[:4]))
	case afInet6:
		e.Addr = netip.AddrFrom16([16]byte(addr))
	}
	comm := l.Comm.of(b)
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	e.Comm = string(comm)
	return e, nil
}

// Handler receives what the listen tracer reports. Functions may be nil.
type Handler struct {
	Event func(Event)          // perf mode
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

// Tracer reports every TCP listen on the machine.
type Tracer struct {
	sess   *session.Session
	plan   Plan
	clock  kernel.WallClock
	events atomic.Uint64
	lost   atomic.Uint64
}

// Open compiles and attaches the listen probe.
func Open(backends backend.Set, cfg Config) (*Tracer, error) {
	if err := kernel.CheckRoot(); err != nil {
		return nil, err
	}
	plan, err := MakePlan(cfg)
	if err != nil {
		return nil, err
	}
	spec, err := SessionSpec(cfg, plan)
	if err != nil {
		return nil, err
	}
	s, err := session.Open(backends, spec)
	var le *backend.LoadError
	if plan.Strategy == StrategyFentry && errors.As(err, &le) {
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
	return &Tracer{sess: s, plan: plan, clock: clock}, nil
}

// BuildObject puts the listen probe's ELF object for cfg into the
// cache, as the ELF backend will look for it (evtrace compile listen).
func BuildObject(cfg Config) (Plan, session.BuiltObject, error) {
	if err := kernel.CheckRoot(); err != nil {
		return Plan{}, session.BuiltObject{}, err
	}
	plan, err := MakePlan(cfg)
	if err != nil {
		return Plan{}, session.BuiltObject{}, err
	}
	spec, err := SessionSpec(cfg, plan)
	if err != nil {
		return Plan{}, session.BuiltObject{}, err
	}
	res, err := session.BuildObject(spec)
	return plan, res, err
}

// Plan says which strategy and offsets the tracer uses, and why.
func (t *Tracer) Plan() Plan { return t.plan }

// Backend says how the probe was compiled and loaded.
func (t *Tracer) Backend() backend.Report { return t.sess.Backend() }

// Headers says which kernel headers the probe was compiled against.
func (t *Tracer) Headers() headers.Tree { return t.sess.Headers() }

// StaleKprobesRemoved: see Session.StaleKprobesRemoved.
func (t *Tracer) StaleKprobesRemoved() ([]string, error) {
	return t.sess.StaleKprobesRemoved()
}

// Run delivers events to h until ctx is done; see Session.Run.
func (t *Tracer) Run(ctx context.Context, h Handler) error {
	return t.sess.Run(ctx, session.Handler{
		Sample: func(_ string, data []byte) {
			e, err := DecodeEvent(data)
			if err != nil {
				if h.Error != nil {
					h.Error(err)
				}
				return
			}
			e.Time = t.clock.Wall(e.Mono)
			e.HasRet = t.plan.Strategy.ReportsReturn() && e.Kind == KindListen
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
func (t *Tracer) Stats() Stats {
	return Stats{
		Events:      t.events.Load(),
		Lost:        t.lost.Load(),
		LossesExact: t.sess.LossesExact(),
		Foreign:     t.sess.ForeignTraceLines(),
	}
}

// Close detaches the probe and frees its resources.
func (t *Tracer) Close() error { return t.sess.Close() }

// WallTime converts a kernel timestamp with the tracer's clock.
func (t *Tracer) WallTime(mono time.Duration) time.Time { return t.clock.Wall(mono) }
