package listeners

import (
	"net/netip"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/listen"
)

func ev(kind listen.Kind, ino uint64, mono time.Duration, backlog int32) listen.Event {
	return listen.Event{Kind: kind, Inode: ino, Mono: mono, NetNS: 1, Family: 2,
		Addr: netip.MustParseAddr("127.0.0.1"), Port: 80, Backlog: backlog, HasRet: kind == listen.KindListen, PID: 7, Comm: "x"}
}

func kinds(cs []Change) []ChangeKind {
	var out []ChangeKind
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

func TestTrackerReconciles(t *testing.T) {
	tr := NewTracker(nil)
	snap := Snapshot{
		Sockets:   []Socket{{Inode: 10, NetNS: 1, Family: 2, Port: 80, Backlog: 5}, {Inode: 11, NetNS: 1, Family: 2, Port: 81, Backlog: 5}},
		DumpStart: map[uint32]time.Duration{1: 100},
	}
	if cs := tr.Load(snap, time.Now()); len(cs) != 2 {
		t.Fatalf("first load from an empty set: %v, want two listens", kinds(cs))
	}
	steps := []struct {
		e    listen.Event
		want []ChangeKind
	}{
		{ev(listen.KindListen, 10, 50, 5), nil},                // before the dump: the dump saw it
		{ev(listen.KindListen, 12, 60, 5), nil},                // before the dump, absent: it closed since
		{ev(listen.KindClose, 11, 90, 0), []ChangeKind{Close}}, // close before the dump, socket still in it: it goes
		{ev(listen.KindListen, 10, 150, 5), nil},               // same backlog: nothing new
		{ev(listen.KindListen, 10, 160, 9), []ChangeKind{Backlog}},
		{ev(listen.KindClose, 13, 210, 0), nil},  // a close arriving before its listen (another CPU)
		{ev(listen.KindListen, 13, 200, 5), nil}, // ...which is then not a new socket
		{ev(listen.KindListen, 14, 220, 5), []ChangeKind{Listen}},
		{ev(listen.KindClose, 14, 230, 0), []ChangeKind{Close}},
		{ev(listen.KindClose, 14, 231, 0), nil}, // twice: once
	}
	for i, s := range steps {
		got := kinds(tr.Apply(s.e))
		if len(got) != len(s.want) || (len(got) == 1 && got[0] != s.want[0]) {
			t.Errorf("step %d (%+v): %v, want %v", i, s.e.Kind, got, s.want)
		}
	}
	failed := ev(listen.KindListen, 15, 300, 5)
	failed.Ret = -22
	if cs := tr.Apply(failed); len(cs) != 0 {
		t.Errorf("a failed listen() changed the set: %v", kinds(cs))
	}
	if n := tr.Len(); n != 1 {
		t.Errorf("%d sockets left, want 1 (inode 10): %+v", n, tr.Sockets())
	}
	// A resync: the set read again says 10 is gone and 20 is new.
	cs := tr.Load(Snapshot{Sockets: []Socket{{Inode: 20, NetNS: 1, Port: 90}}, DumpStart: map[uint32]time.Duration{1: 400}}, time.Now())
	if len(cs) != 2 {
		t.Fatalf("resync: %v, want a listen and a close", kinds(cs))
	}
	for _, c := range cs {
		if !c.FromResync || (c.Kind == Listen) != (c.Socket.Inode == 20) {
			t.Errorf("resync change %+v", c)
		}
	}
}

func TestParseDiagMsg(t *testing.T) {
	b := make([]byte, inetDiagMsgSize)
	b[0] = 10 // AF_INET6
	b[4], b[5] = 0x1f, 0x90
	copy(b[8:24], netip.MustParseAddr("::1").AsSlice())
	b[44], b[48] = 1, 2 // cookie
	b[60] = 128         // wqueue: the backlog
	b[68], b[69] = 0x39, 0x30
	d, err := parseDiagMsg(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Port != 8080 || d.Addr.String() != "::1" || d.Backlog != 128 || d.Inode != 12345 || d.Cookie != 1|2<<32 {
		t.Errorf("parsed %+v", d)
	}
	if _, err := parseDiagMsg(b[:40]); err == nil {
		t.Error("a short message parsed")
	}
}

func TestFilterMatch(t *testing.T) {
	s := Socket{NetNS: 3, Port: 80, Owners: []Owner{{PID: 5}, {PID: 9}}}
	for _, c := range []struct {
		f    Filter
		want bool
	}{{Filter{}, true}, {Filter{PID: 9}, true}, {Filter{PID: 6}, false}, {Filter{Port: 80, NetNS: 3}, true}, {Filter{Port: 81}, false}, {Filter{NetNS: 4}, false}} {
		if got := c.f.Match(s); got != c.want {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
	}
}
