package listeners

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is one listening TCP socket.
type Socket struct {
	Inode   uint64 // as /proc/PID/fd ("socket:[N]") and sock_diag show it; 0 for a kernel socket
	Cookie  uint64 // the kernel's socket cookie (sock_diag); 0 when it came from a live event
	NetNS   uint32 // network namespace inode, as in /proc/PID/ns/net
	Family  uint16 // AF_INET or AF_INET6
	Addr    netip.Addr
	Port    uint16
	Backlog uint32  // the backlog the kernel keeps (listen()'s, capped at somaxconn)
	Owners  []Owner // processes holding it, by PID
}

// Proto is TCPv4 or TCPv6.
func (s Socket) Proto() string {
	if s.Family == unix.AF_INET6 {
		return "TCPv6"
	}
	return "TCPv4"
}

// Snapshot is every TCP listener found at one time.
type Snapshot struct {
	Sockets []Socket // by netns, family, port, inode
	// DumpStart is, for each namespace read, the kernel's monotonic time
	// (CLOCK_MONOTONIC, bpf_ktime_get_ns's) just before its dump began:
	// what reconciling live events with the snapshot compares against.
	DumpStart map[uint32]time.Duration
	Names     map[uint32]string // /run/netns names, by inode
	// Failed says, by namespace, why one could not be read (it vanished,
	// say); the others are in Sockets.
	Failed   map[uint32]error
	Duration time.Duration // wall time taken
}

// SnapshotOptions choose what to look at.
type SnapshotOptions struct {
	Proc     string // "": /proc
	RunNetNS string // "": RunNetNS
	NetNS    uint32 // only this namespace; 0: all
}

// TakeSnapshot reads the TCP listeners of every network namespace through
// NETLINK_SOCK_DIAG, then their owners through /proc.
func TakeSnapshot(opts SnapshotOptions) (Snapshot, error) {
	start := time.Now()
	if opts.Proc == "" {
		opts.Proc = "/proc"
	}
	if opts.RunNetNS == "" {
		opts.RunNetNS = RunNetNS
	}
	refs, err := findNetNS(opts.Proc, opts.RunNetNS)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{DumpStart: map[uint32]time.Duration{}, Names: map[uint32]string{}, Failed: map[uint32]error{}}
	found := false
	for _, ref := range refs {
		if opts.NetNS != 0 && ref.Inode != opts.NetNS {
			continue
		}
		found = true
		if ref.Name != "" {
			snap.Names[ref.Inode] = ref.Name
		}
		socks, at, err := dumpNetNS(ref)
		if err != nil {
			snap.Failed[ref.Inode] = err
			continue
		}
		snap.DumpStart[ref.Inode] = at
		snap.Sockets = append(snap.Sockets, socks...)
	}
	if opts.NetNS != 0 && !found {
		return Snapshot{}, fmt.Errorf("network namespace %d: no process is in it and /run/netns does not name it", opts.NetNS)
	}
	want := map[uint64]bool{}
	for _, s := range snap.Sockets {
		if s.Inode != 0 {
			want[s.Inode] = true
		}
	}
	owners := socketOwners(opts.Proc, want)
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		s.Owners = owners[s.Inode]
		sortOwners(s.Owners)
	}
	sortSockets(snap.Sockets)
	snap.Duration = time.Since(start)
	return snap, nil
}

// dumpNetNS reads one namespace's listeners, IPv4 then IPv6, and the
// monotonic time before the dump.
func dumpNetNS(ref netnsRef) ([]Socket, time.Duration, error) {
	fd, err := diagSocketIn(ref)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	at, err := monotonicNow()
	if err != nil {
		return nil, 0, err
	}
	var out []Socket
	for i, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		ds, err := dumpListeners(fd, family, uint32(i+1))
		if err != nil {
			if family == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
				continue // no IPv6 in this kernel
			}
			return nil, 0, fmt.Errorf("netns %d: %w", ref.Inode, err)
		}
		for _, d := range ds {
			out = append(out, Socket{
				Inode: d.Inode, Cookie: d.Cookie, NetNS: ref.Inode, Family: d.Family,
				Addr: d.Addr, Port: d.Port, Backlog: d.Backlog,
			})
		}
	}
	return out, at, nil
}

// monotonicNow is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonicNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

func sortOwners(os []Owner) {
	sort.Slice(os, func(i, j int) bool { return os[i].PID < os[j].PID })
}

func sortSockets(ss []Socket) {
	sort.Slice(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.NetNS != b.NetNS {
			return a.NetNS < b.NetNS
		}
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Inode < b.Inode
	})
}
