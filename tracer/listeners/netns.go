package listeners

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer/trust"
)

// netnsRef is one network namespace and a path that leads to it.
type netnsRef struct {
	Inode uint32
	Path  string // /proc/PID/ns/net or /run/netns/NAME
	Name  string // the /run/netns name, if it has one
}

// RunNetNS is where `ip netns add` keeps named network namespaces.
const RunNetNS = "/run/netns"

// findNetNS lists every network namespace that a process is in (through
// /proc/PID/ns/net) or that is named in runNetNS, once each, by inode.
// Named namespaces are read only from a directory that nobody but root
// could have written (trust.Dir), each entry opened without following a
// link and accepted only if it is a namespace file (nsfs).
func findNetNS(proc, runNetNS string) ([]netnsRef, error) {
	seen := map[uint32]*netnsRef{}
	var order []uint32
	add := func(ino uint32, path, name string) {
		if r, ok := seen[ino]; ok {
			if r.Name == "" && name != "" {
				r.Name = name
			}
			return
		}
		seen[ino] = &netnsRef{Inode: ino, Path: path, Name: name}
		order = append(order, ino)
	}
	pids, err := listPIDs(proc)
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		var st unix.Stat_t
		p := filepath.Join(proc, strconv.Itoa(pid), "ns", "net")
		if err := unix.Stat(p, &st); err != nil {
			continue // gone, or a kernel thread's
		}
		add(uint32(st.Ino), p, "")
	}
	if dir, err := (trust.Dir{Use: "named network namespaces"}).Check(runNetNS); err == nil {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			ino, err := nsfsInode(p)
			if err != nil {
				continue // not a namespace (an ip netns add in progress: an empty file)
			}
			add(ino, p, e.Name())
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := make([]netnsRef, 0, len(order))
	for _, ino := range order {
		out = append(out, *seen[ino])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Inode < out[j].Inode })
	return out, nil
}

// nsfsInode opens path without following a link and returns its inode if
// it is a namespace file.
func nsfsInode(path string) (uint32, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return fdNetNSInode(fd)
}

func fdNetNSInode(fd int) (uint32, error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return 0, err
	}
	if sfs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("not a namespace file (file system %#x)", sfs.Type)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return uint32(st.Ino), nil
}

// listPIDs returns the process ids in proc.
func listPIDs(proc string) ([]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// diagSocketIn opens a NETLINK_SOCK_DIAG socket in the network namespace
// ref names, and checks that it is the namespace with ref's inode (a
// process may have exited and its PID been reused). A netlink socket keeps
// the namespace it was made in, so only its creation happens inside: on
// a locked thread that enters the namespace and comes back. If it cannot
// come back, the thread stays locked and the runtime ends it with the
// goroutine.
func diagSocketIn(ref netnsRef) (int, error) {
	target, err := unix.Open(ref.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netns %d: %w", ref.Inode, err)
	}
	defer unix.Close(target)
	if ino, err := fdNetNSInode(target); err != nil || ino != ref.Inode {
		return -1, fmt.Errorf("netns %d: %s no longer leads to it", ref.Inode, ref.Path)
	}
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, back := socketInNetNS(target)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		return -1, fmt.Errorf("netns %d: %w", ref.Inode, r.err)
	}
	return r.fd, nil
}

// socketInNetNS runs on a locked thread: it enters target, makes the
// socket, and returns to the thread's namespace; back says it did.
func socketInNetNS(target int) (fd int, err error, back bool) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("own network namespace: %w", err), true
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("setns: %w", err), true
	}
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
		if err == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("setns back: %w", rerr), false
	}
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err), true
	}
	return fd, nil, true
}
