package listeners

import (
	"net/netip"
	"slices"
	"time"

	"github.com/evtrace/evtrace/tracer/listen"
)

// ChangeKind says what happened to the set of listeners.
type ChangeKind string

const (
	// Listen: a socket started listening (a new entry).
	Listen ChangeKind = "listen"
	// Close: a socket stopped listening (the entry is gone).
	Close ChangeKind = "close"
	// Backlog: listen() again on a listening socket changed its backlog.
	Backlog ChangeKind = "backlog"
	// Resync: events were lost; the set was read again, and the changes
	// that follow (Listen, Close, Backlog with FromResync) bring it up to date.
	Resync ChangeKind = "resync"
)

// Change is one change of the set.
type Change struct {
	Kind   ChangeKind
	Time   time.Time // when the kernel saw it (a resync: when it was decided)
	Socket Socket    // the entry (after the change; for Close, as it was)
	// PID and Comm: the task that made the change (listen(), close(),
	// exit, shutdown); 0 and "" for changes found by a resync.
	PID  uint32
	Comm string
	// FromResync: found by comparing a fresh snapshot, not by an event.
	FromResync bool
	// Lost: for Resync, how many events the kernel dropped.
	Lost uint64
}

// key identifies a socket for reconciliation: its inode, which the kernel
// never gives two live sockets; a kernel socket without one by its
// namespace, family, address and port.
type key struct {
	ino    uint64
	netns  uint32
	family uint16
	addr   netip.Addr
	port   uint16
}

func keyOf(s Socket) key {
	if s.Inode != 0 {
		return key{ino: s.Inode}
	}
	return key{netns: s.NetNS, family: s.Family, addr: s.Addr, port: s.Port}
}

type entry struct {
	s            Socket
	last         time.Duration // monotonic time of what it was last updated from
	fromSnapshot bool          // as a snapshot found it, no event applied since
}

type preEvent struct {
	at   time.Duration
	kind listen.Kind
}

// Tracker is the set of listeners, kept from a snapshot and the events
// that follow. Events may arrive out of order across CPUs (one perf ring
// each) and may have happened before a namespace's dump began; each
// carries the kernel's monotonic time, and Apply decides by it:
//   - an event from before its namespace's dump: the dump saw its result,
//     so it changes nothing, except a close that is the last such event
//     for a socket the dump still showed (the dump can catch a socket
//     between the close's tracepoint and its unhashing);
//   - a listen on a known socket after its last update: a backlog change;
//     on an unknown one: a new entry, unless a later close was seen;
//   - a close on a known socket after its last update: the entry goes;
//     on an unknown one: remembered, so that an earlier listen arriving
//     late is not taken for a new socket.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	set       map[key]*entry
	closed    map[key]time.Duration // closes of sockets not in the set
	pre       map[key]preEvent      // latest event from before the dump, by socket
	dumpStart map[uint32]time.Duration
	latest    time.Duration // the latest event's time
	pruned    time.Duration // latest when closed was last pruned
	procInfo  func(pid uint32) (comm, cgroup string)
}

// NewTracker returns an empty tracker; procInfo gives a process's name and
// cgroup for the owner of a new socket (nil: the event's task name only).
func NewTracker(procInfo func(pid uint32) (comm, cgroup string)) *Tracker {
	return &Tracker{
		set: map[key]*entry{}, closed: map[key]time.Duration{}, pre: map[key]preEvent{},
		dumpStart: map[uint32]time.Duration{}, procInfo: procInfo,
	}
}

// Load replaces the set with a snapshot's, and returns the changes from
// the set before (none for the first snapshot: the caller prints the set).
func (t *Tracker) Load(snap Snapshot, now time.Time) []Change {
	var changes []Change
	next := map[key]*entry{}
	for _, s := range snap.Sockets {
		k := keyOf(s)
		next[k] = &entry{s: s, last: snap.DumpStart[s.NetNS], fromSnapshot: true}
		if old, ok := t.set[k]; !ok {
			changes = append(changes, Change{Kind: Listen, Time: now, Socket: s, FromResync: true})
		} else if old.s.Backlog != s.Backlog {
			changes = append(changes, Change{Kind: Backlog, Time: now, Socket: s, FromResync: true})
		}
	}
	for k, old := range t.set {
		if _, ok := next[k]; ok {
			continue
		}
		// A namespace that could not be read again keeps its entries.
		if _, read := snap.DumpStart[old.s.NetNS]; !read {
			next[k] = old
			continue
		}
		changes = append(changes, Change{Kind: Close, Time: now, Socket: old.s, FromResync: true})
	}
	t.set = next
	t.pre = map[key]preEvent{}
	t.closed = map[key]time.Duration{}
	for ns, at := range snap.DumpStart {
		t.dumpStart[ns] = at
	}
	sortChanges(changes)
	return changes
}

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		if a.Socket.NetNS != b.Socket.NetNS {
			return int(int64(a.Socket.NetNS) - int64(b.Socket.NetNS))
		}
		return int(a.Socket.Port) - int(b.Socket.Port)
	})
}

// socketOfEvent is the entry a listen event describes.
func (t *Tracker) socketOfEvent(e listen.Event) Socket {
	s := Socket{Inode: e.Inode, NetNS: e.NetNS, Family: e.Family, Addr: e.Addr, Port: e.Port}
	s.Backlog = e.MaxBacklog
	if s.Backlog == 0 && e.Backlog > 0 {
		s.Backlog = uint32(e.Backlog)
	}
	return s
}

// Apply applies one event and returns the changes it makes (none, or one).
// A listen() that failed changes nothing.
func (t *Tracker) Apply(e listen.Event) []Change {
	if e.Kind == listen.KindListen && e.HasRet && e.Ret != 0 {
		return nil
	}
	if e.Mono > t.latest {
		t.latest = e.Mono
		if t.latest-t.pruned > time.Second {
			t.prune()
			t.pruned = t.latest
		}
	}
	s := t.socketOfEvent(e)
	k := keyOf(s)
	if at, ok := t.dumpStart[e.NetNS]; ok && e.Mono < at {
		if p, seen := t.pre[k]; !seen || e.Mono > p.at {
			t.pre[k] = preEvent{at: e.Mono, kind: e.Kind}
		}
		if t.pre[k].kind == listen.KindClose {
			if cur, ok := t.set[k]; ok && cur.fromSnapshot {
				delete(t.set, k)
				return []Change{{Kind: Close, Time: e.Time, Socket: cur.s, PID: e.PID, Comm: e.Comm}}
			}
		}
		return nil
	}
	cur := t.set[k]
	switch e.Kind {
	case listen.KindListen:
		if cur != nil {
			if e.Mono < cur.last {
				return nil
			}
			cur.last, cur.fromSnapshot = e.Mono, false
			t.addOwner(cur, e)
			if s.Backlog == cur.s.Backlog {
				return nil
			}
			cur.s.Backlog = s.Backlog
			return []Change{{Kind: Backlog, Time: e.Time, Socket: cur.s, PID: e.PID, Comm: e.Comm}}
		}
		if at, ok := t.closed[k]; ok && at > e.Mono {
			return nil
		}
		delete(t.closed, k)
		n := &entry{s: s, last: e.Mono}
		t.addOwner(n, e)
		t.set[k] = n
		return []Change{{Kind: Listen, Time: e.Time, Socket: n.s, PID: e.PID, Comm: e.Comm}}
	case listen.KindClose:
		if cur != nil {
			if e.Mono < cur.last {
				return nil
			}
			delete(t.set, k)
			t.closed[k] = e.Mono
			return []Change{{Kind: Close, Time: e.Time, Socket: cur.s, PID: e.PID, Comm: e.Comm}}
		}
		if e.Mono > t.closed[k] {
			t.closed[k] = e.Mono
		}
	}
	return nil
}

// addOwner adds the task that called listen() to the entry's owners.
func (t *Tracker) addOwner(n *entry, e listen.Event) {
	for _, o := range n.s.Owners {
		if o.PID == e.PID {
			return
		}
	}
	o := Owner{PID: e.PID, Comm: e.Comm}
	if t.procInfo != nil {
		if comm, cgroup := t.procInfo(e.PID); comm != "" {
			o.Comm, o.Cgroup = comm, cgroup
		}
	}
	owners := append(slices.Clone(n.s.Owners), o)
	sortOwners(owners)
	n.s.Owners = owners
}

// reorderWindow is how late an event may arrive after events that
// happened after it (perf rings are read at least every 100ms).
const reorderWindow = 10 * time.Second

// prune forgets closes too old for an earlier listen to still arrive.
func (t *Tracker) prune() {
	for k, at := range t.closed {
		if t.latest-at > reorderWindow {
			delete(t.closed, k)
		}
	}
}

// Sockets returns the current set, sorted by namespace, family, port, inode.
func (t *Tracker) Sockets() []Socket {
	out := make([]Socket, 0, len(t.set))
	for _, e := range t.set {
		out = append(out, e.s)
	}
	sortSockets(out)
	return out
}

// Len is the number of listeners in the set.
func (t *Tracker) Len() int { return len(t.set) }
