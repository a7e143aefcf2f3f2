package listeners

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Owner is a process that holds a listening socket in its descriptor table.
type Owner struct {
	PID    uint32
	Comm   string // /proc/PID/comm (the process's name)
	Cgroup string // the cgroup v2 path from /proc/PID/cgroup ("0::PATH"), or the first hierarchy's; "" if unknown
}

// procInfo reads a process's name and cgroup. Everything read is in
// /proc, which the kernel writes; nothing is followed out of it.
func procInfo(proc string, pid uint32) (comm, cgroup string) {
	dir := filepath.Join(proc, strconv.FormatUint(uint64(pid), 10))
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		comm = strings.TrimSuffix(string(b), "\n")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		cgroup = parseCgroup(b)
	}
	return comm, cgroup
}

// parseCgroup picks the path out of /proc/PID/cgroup: the unified
// hierarchy's ("0::/system.slice/x.service"), else the first line's.
func parseCgroup(b []byte) string {
	first := ""
	for _, line := range bytes.Split(b, []byte("\n")) {
		parts := bytes.SplitN(line, []byte(":"), 3)
		if len(parts) != 3 {
			continue
		}
		if string(parts[0]) == "0" && len(parts[1]) == 0 {
			return string(parts[2])
		}
		if first == "" {
			first = string(parts[2])
		}
	}
	return first
}

// socketOwners finds, for each socket inode in want, the processes whose
// descriptor tables hold it, as ss -p does: the links of /proc/PID/fd are
// read (readlink: "socket:[INODE]"), never followed.
func socketOwners(proc string, want map[uint64]bool) map[uint64][]Owner {
	out := map[uint64][]Owner{}
	if len(want) == 0 {
		return out
	}
	pids, err := listPIDs(proc)
	if err != nil {
		return out
	}
	for _, pid := range pids {
		dir := filepath.Join(proc, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var held map[uint64]bool
		for _, e := range ents {
			target, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || !strings.HasPrefix(target, "socket:[") || !strings.HasSuffix(target, "]") {
				continue
			}
			ino, err := strconv.ParseUint(target[len("socket:["):len(target)-1], 10, 64)
			if err != nil || !want[ino] || held[ino] {
				continue
			}
			if held == nil {
				held = map[uint64]bool{}
			}
			held[ino] = true
		}
		if len(held) == 0 {
			continue
		}
		comm, cgroup := procInfo(proc, uint32(pid))
		for ino := range held {
			out[ino] = append(out[ino], Owner{PID: uint32(pid), Comm: comm, Cgroup: cgroup})
		}
	}
	return out
}
