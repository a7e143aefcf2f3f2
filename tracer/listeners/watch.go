// Package listeners keeps the set of TCP listening sockets of the machine,
// in every network namespace: a snapshot read through NETLINK_SOCK_DIAG
// (owners through /proc/PID/fd, as ss -p finds them), then kept up to date
// by the listen probe (tracer/listen, with TrackClose) reporting each
// socket that starts or stops listening. The probe is attached before the
// snapshot is taken and its events are reconciled with it by socket inode
// (Tracker), so that no change is missed or counted twice; when the kernel
// drops events the set is read again (a resync). This is evtrace listeners.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/listen"
)

// Config configures a Watcher.
type Config struct {
	// Listen configures the probe: Strategy, Offsets, Backend and the
	// rest as for evtrace listen. Mode must be perf; the kprobe strategy
	// is refused (it sees neither the port bound nor the result). PID is
	// ignored (see Filter); TrackClose and NetNS are set by Open.
	Listen listen.Config
	Filter Filter
	Proc   string // "": /proc
}

// Filter selects the sockets reported; the set itself is kept whole.
type Filter struct {
	PID   uint32 // a socket one of whose owners is this process; 0: any
	NetNS uint32 // in this network namespace (also filtered in the kernel); 0: any
	Port  uint16 // listening on this port; 0: any
}

// Match says whether s passes the filter.
func (f Filter) Match(s Socket) bool {
	if f.NetNS != 0 && s.NetNS != f.NetNS {
		return false
	}
	if f.Port != 0 && s.Port != f.Port {
		return false
	}
	if f.PID != 0 && !slices.ContainsFunc(s.Owners, func(o Owner) bool { return o.PID == f.PID }) {
		return false
	}
	return true
}

// Handler receives what a Watcher reports, from the goroutine that called
// Run. Functions may be nil.
type Handler struct {
	// Snapshot is the set at start (Sockets filtered), before any change.
	Snapshot func(Snapshot)
	// Change is one change of the set (filtered), or a Resync.
	Change func(Change)
	// Warn reports what does not stop the run (a namespace that could not
	// be read, an undecodable record).
	Warn func(error)
	// Flush: everything so far has been handed over.
	Flush func()
}

// Stats counts what a Watcher has seen.
type Stats struct {
	Events    uint64 // probe events received
	Lost      uint64 // probe events the kernel dropped
	Changes   uint64 // changes reported (after the filter)
	Resyncs   uint64 // snapshots taken again after losses
	Listeners int    // sockets in the set now (before the filter)
}

// Watcher is the listen probe with closes, attached, and the set it keeps.
type Watcher struct {
	cfg     Config
	t       *listen.Tracer
	mu      sync.Mutex
	stats   Stats
	tracker *Tracker
}

// Open attaches the probe. Nothing is read until Run.
func Open(backends backend.Set, cfg Config) (*Watcher, error) {
	lc := cfg.Listen
	if lc.Mode != "" && lc.Mode != listen.ModePerf {
		return nil, errors.New("listeners: the probe must run in perf mode")
	}
	if lc.Strategy == listen.StrategyKprobe {
		return nil, errors.New("--attach kprobe: the entry of inet_listen sees neither the port an unbound socket gets nor whether listen() succeeded; evtrace listeners needs kretprobe, tracepoint or fentry (auto picks one)")
	}
	lc.Mode, lc.TrackClose, lc.PID, lc.NetNS = listen.ModePerf, true, 0, cfg.Filter.NetNS
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	t, err := listen.Open(backends, lc)
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, t: t}
	w.tracker = NewTracker(func(pid uint32) (string, string) { return procInfo(cfg.Proc, pid) })
	return w, nil
}

// Tracer is the listen probe underneath (its plan, backend, headers).
func (w *Watcher) Tracer() *listen.Tracer { return w.t }

// Close detaches the probe.
func (w *Watcher) Close() error { return w.t.Close() }

// Stats returns the counts so far.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// queue holds the probe's events between the reader and the reconciler.
type queue struct {
	mu     sync.Mutex
	events []listen.Event
	lost   uint64
	errs   []error
	notify chan struct{}
}

func (q *queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *queue) push(e listen.Event) {
	q.mu.Lock()
	q.events = append(q.events, e)
	q.mu.Unlock()
	q.wake()
}

func (q *queue) addLost(_ string, n uint64) {
	q.mu.Lock()
	q.lost += n
	q.mu.Unlock()
	q.wake()
}

func (q *queue) addErr(err error) {
	q.mu.Lock()
	q.errs = append(q.errs, err)
	q.mu.Unlock()
	q.wake()
}

func (q *queue) take() ([]listen.Event, uint64, []error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	es, lost, errs := q.events, q.lost, q.errs
	q.events, q.lost, q.errs = nil, 0, nil
	return es, lost, errs
}

// Run reads the probe's events, takes the snapshot, hands it to h, then
// every change, until ctx is done; then it detaches nothing (Close does)
// but reads the probe's rings to their end and applies what they held.
func (w *Watcher) Run(ctx context.Context, h Handler) error {
	q := &queue{notify: make(chan struct{}, 1)}
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- w.t.Run(rctx, listen.Handler{Event: q.push, Lost: q.addLost, Error: q.addErr})
	}()
	stopReader := func() error {
		cancel()
		return <-errc
	}
	snap, err := w.snapshot()
	if err != nil {
		return errors.Join(err, stopReader())
	}
	w.tracker.Load(snap, time.Now())
	w.warnFailed(h, snap)
	if h.Snapshot != nil {
		shown := snap
		shown.Sockets = nil
		for _, s := range snap.Sockets {
			if w.cfg.Filter.Match(s) {
				shown.Sockets = append(shown.Sockets, s)
			}
		}
		h.Snapshot(shown)
	}
	w.setLen()
	for {
		if err := w.process(q, h); err != nil {
			return errors.Join(err, stopReader())
		}
		if h.Flush != nil {
			h.Flush()
		}
		select {
		case <-ctx.Done():
			err := stopReader()
			if perr := w.process(q, h); perr != nil {
				err = errors.Join(err, perr)
			}
			if h.Flush != nil {
				h.Flush()
			}
			return err
		case err := <-errc:
			// The reader ended by itself: report what it read, and why.
			if perr := w.process(q, h); perr != nil {
				err = errors.Join(err, perr)
			}
			return err
		case <-q.notify:
		}
	}
}

func (w *Watcher) snapshot() (Snapshot, error) {
	return TakeSnapshot(SnapshotOptions{Proc: w.cfg.Proc, NetNS: w.cfg.Filter.NetNS})
}

func (w *Watcher) warnFailed(h Handler, snap Snapshot) {
	if h.Warn == nil {
		return
	}
	for ns, err := range snap.Failed {
		h.Warn(fmt.Errorf("network namespace %d not read (its listeners are unknown until they change): %w", ns, err))
	}
}

// process applies what the queue holds: on losses, a fresh snapshot
// first (a Resync), then the events, in the kernel's time order.
func (w *Watcher) process(q *queue, h Handler) error {
	events, lost, errs := q.take()
	for _, err := range errs {
		if h.Warn != nil {
			h.Warn(err)
		}
	}
	w.mu.Lock()
	w.stats.Events += uint64(len(events))
	w.stats.Lost += lost
	w.mu.Unlock()
	if lost > 0 {
		now := time.Now()
		snap, err := w.snapshot()
		if err != nil {
			return fmt.Errorf("resync after %d lost events: %w", lost, err)
		}
		w.warnFailed(h, snap)
		w.emit(h, Change{Kind: Resync, Time: now, Lost: lost})
		for _, c := range w.tracker.Load(snap, now) {
			w.emit(h, c)
		}
		w.mu.Lock()
		w.stats.Resyncs++
		w.mu.Unlock()
	}
	slices.SortStableFunc(events, func(a, b listen.Event) int {
		switch {
		case a.Mono < b.Mono:
			return -1
		case a.Mono > b.Mono:
			return 1
		}
		return 0
	})
	for _, e := range events {
		for _, c := range w.tracker.Apply(e) {
			w.emit(h, c)
		}
	}
	w.setLen()
	return nil
}

func (w *Watcher) setLen() {
	w.mu.Lock()
	w.stats.Listeners = w.tracker.Len()
	w.mu.Unlock()
}

func (w *Watcher) emit(h Handler, c Change) {
	if c.Kind != Resync && !w.cfg.Filter.Match(c.Socket) {
		return
	}
	w.mu.Lock()
	w.stats.Changes++
	w.mu.Unlock()
	if h.Change != nil {
		h.Change(c)
	}
}

// Sockets returns the set as the Watcher keeps it (unfiltered); call it
// when Run has returned.
func (w *Watcher) Sockets() []Socket { return w.tracker.Sockets() }
