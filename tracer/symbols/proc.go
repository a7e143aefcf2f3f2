package symbols

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end, pgoff uint64
	exec              bool
	path              string // the file's path as the kernel reports it, or [vdso], [heap], ...; "" anonymous
	file              *File  // its symbols, once read
	err               error  // why they could not be read
	read              bool
}

// ParseMaps reads /proc/PID/maps' format, keeping every mapping, in
// address order.
func ParseMaps(b []byte) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		// start-end perms offset dev inode path (the path may hold spaces)
		fields := strings.SplitN(line, " ", 6)
		if len(fields) < 5 {
			return nil, fmt.Errorf("line %d: %q: want START-END PERMS OFFSET DEV INODE [PATH]", n, line)
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		pgoff, err3 := strconv.ParseUint(fields[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || end < start || len(fields[1]) < 3 {
			return nil, fmt.Errorf("line %d: %q: want START-END PERMS OFFSET DEV INODE [PATH]", n, line)
		}
		m := mapping{start: start, end: end, pgoff: pgoff, exec: fields[1][2] == 'x'}
		if len(fields) == 6 {
			m.path = strings.TrimLeft(fields[5], " ")
		}
		maps = append(maps, m)
	}
	return maps, sc.Err()
}

// fileKey identifies a mapped file's contents: the same inode, size and
// modification time is taken as the same symbols.
type fileKey struct {
	dev, ino   uint64
	size       int64
	mtime, ctm int64
}

type fileEntry struct {
	f   *File
	err error
}

// proc is what the Resolver knows of one process.
type proc struct {
	maps []mapping
	read time.Time
	err  error // reading its maps failed: the process is gone, or not readable
}

// Resolver resolves kernel and user addresses, caching the kernel's
// symbols, each process's mappings and each mapped file's symbols. It is
// not safe for concurrent use.
type Resolver struct {
	procRoot string // "/proc"
	kernel   *Kernel
	kerr     error
	kloaded  bool
	procs    map[int]*proc
	files    map[fileKey]fileEntry
	now      func() time.Time
}

// maxProcs bounds the processes whose mappings are cached.
const maxProcs = 4096

// maxFiles bounds the files whose symbols are cached.
const maxFiles = 1024

// mapsTTL is how long a process's mappings are used before they are read
// again (a process maps libraries, and exec replaces them all).
const mapsTTL = time.Second

// NewResolver returns a Resolver reading /proc.
func NewResolver() *Resolver {
	return &Resolver{procRoot: "/proc", procs: map[int]*proc{}, files: map[fileKey]fileEntry{}, now: time.Now}
}

// Kernel resolves a kernel address. The kernel's symbols are read at the
// first call; when they cannot be (see KernelErr), frames are unknown.
func (r *Resolver) Kernel(addr uint64) Frame {
	if !r.kloaded {
		r.kloaded = true
		r.kernel, r.kerr = LoadKernel()
	}
	if r.kernel == nil {
		return Frame{Addr: addr}
	}
	return r.kernel.Lookup(addr)
}

// KernelErr says why kernel frames are unknown, if they are.
func (r *Resolver) KernelErr() error { return r.kerr }

// Forget drops what the Resolver knows of processes (not the files'
// symbols, which are keyed by their contents' identity).
func (r *Resolver) Forget() { clear(r.procs) }

// User resolves an address in process pid. A process that has exited, or
// an address in no mapping of it, gives an unknown frame; one in a mapping
// whose file's symbols cannot be read gives the mapping's name.
func (r *Resolver) User(pid int, addr uint64) Frame {
	fr := Frame{Addr: addr}
	if pid <= 0 {
		return fr
	}
	p := r.proc(pid, false)
	m := p.find(addr)
	if m == nil && r.now().Sub(p.read) > 50*time.Millisecond {
		// A mapping made since the last read.
		p = r.proc(pid, true)
		m = p.find(addr)
	}
	if m == nil {
		return fr
	}
	fr.Module = m.path
	if !m.read {
		m.read = true
		m.file, m.err = r.mappedFile(pid, m)
	}
	if m.file == nil {
		return fr
	}
	vaddr, ok := m.file.Vaddr(addr - m.start + m.pgoff)
	if !ok {
		return fr
	}
	if name, off, ok := m.file.Lookup(vaddr); ok {
		fr.Symbol, fr.Offset = name, off
	}
	return fr
}

// proc returns the process's mappings, read again when they are older
// than mapsTTL or when fresh says so.
func (r *Resolver) proc(pid int, fresh bool) *proc {
	p := r.procs[pid]
	if p != nil && !fresh && r.now().Sub(p.read) < mapsTTL {
		return p
	}
	if len(r.procs) >= maxProcs {
		clear(r.procs)
	}
	p = &proc{read: r.now()}
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/maps", r.procRoot, pid))
	if err == nil {
		p.maps, err = ParseMaps(b)
	}
	p.err = err
	r.procs[pid] = p
	return p
}

func (p *proc) find(addr uint64) *mapping {
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].end > addr })
	if i < len(p.maps) && p.maps[i].start <= addr {
		return &p.maps[i]
	}
	return nil
}

// mappedFile reads the symbols of the file behind a mapping, through
// /proc/PID/map_files/START-END: the kernel's own reference to the file
// the process mapped, not a path, so no link another user made is
// followed and no file the process could not itself read is opened. Only
// regular files are read; their symbols are cached by the file's
// identity.
func (r *Resolver) mappedFile(pid int, m *mapping) (*File, error) {
	if m.path == "" || strings.HasPrefix(m.path, "[") {
		return nil, fmt.Errorf("%q is no file", m.path)
	}
	name := fmt.Sprintf("%s/%d/map_files/%x-%x", r.procRoot, pid, m.start, m.end)
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", m.path)
	}
	key := fileKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctm: st.Ctim.Nano()}
	if e, ok := r.files[key]; ok {
		return e.f, e.err
	}
	file, err := ReadELF(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", m.path, err)
	}
	if len(r.files) >= maxFiles {
		clear(r.files)
	}
	r.files[key] = fileEntry{f: file, err: err}
	return file, err
}
