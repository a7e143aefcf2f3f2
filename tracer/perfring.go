package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The perf ring reader: evtrace opens one BPF-output perf event per online
// CPU, maps its ring, stores its fd in the program's BPF_PERF_OUTPUT map
// and reads the records itself, for either backend (bcc or ELF).
//
// Why not gobpf's readers: they hand each record to Go through a cgo
// callback and a channel, one at a time, with an allocation per record.
// This reader wakes up once per batch (Spec.PerfWakeup records, or the
// poll interval), copies every record of every ready ring into one buffer
// and passes the whole batch on: a few channel operations per batch and no
// allocation per record.

// WakeupWatermark, as a Spec.PerfWakeup, has the kernel wake the reader
// when a ring is a quarter full, in bytes, whatever the records' count:
// at moderate rates a few wakeups per second instead of one per record
// (bcc's setting, which costs the traced program a wakeup per event) or
// per N records. Rings are also read every PerfPoll, so a quiet ring's
// records are never held longer than that.
const WakeupWatermark = -1

// DefaultPerfWakeup is the wakeup setting when a Spec leaves it at 0.
const DefaultPerfWakeup = WakeupWatermark

// PerfPoll bounds how long a record can wait in a ring that has not
// reached its wakeup count.
const PerfPoll = 100 * time.Millisecond

// maxBatchBytes caps a batch's buffer.
const maxBatchBytes = 4 << 20

// perfBatch is the records read from one table's rings in one pass.
type perfBatch struct {
	r    *perfReader
	buf  []byte // the records' bytes, back to back
	ends []int  // ends[i]: end of record i in buf
	lost uint64 // records the kernel dropped, reported before this batch
}

func (b *perfBatch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.lost = 0
}

// each calls fn for every record of the batch.
func (b *perfBatch) each(fn func([]byte)) {
	start := 0
	for _, end := range b.ends {
		fn(b.buf[start:end:end])
		start = end
	}
}

// perfRing is one CPU's ring.
type perfRing struct {
	cpu  int
	fd   int
	mem  []byte // the mapping: a metadata page, then the data pages
	meta *unix.PerfEventMmapPage
	data []byte

	// countsLost: the event was opened with PERF_FORMAT_LOST (Linux >=
	// 6.0), so read() on it gives every record the kernel dropped, also
	// those it has not reported yet in a PERF_RECORD_LOST.
	countsLost bool
	reported   uint64 // drops reported by PERF_RECORD_LOST records so far
}

// perfFormatLost is PERF_FORMAT_LOST (include/uapi/linux/perf_event.h).
const perfFormatLost = 1 << 4

// perfReader reads the rings of one BPF_PERF_OUTPUT map.
type perfReader struct {
	table   string
	mapFD   int // the perf event array the rings are stored in
	rings   []*perfRing
	pending *perfBatch // a batch run read but could not hand over
	epfd    int
	wake    int // eventfd: written to stop run
	free    chan *perfBatch
	done    chan struct{} // closed by interrupt
	once    sync.Once
}

// onlineCPUs parses /sys/devices/system/cpu/online ("0-3,5").
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
		}
		if first < 0 || last < first {
			return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("cpu list %q: no CPU", s)
	}
	return cpus, nil
}

// openPerfReader opens a ring of pages data pages on every online CPU
// and stores their fds in the perf event array mapFD. wakeup is the
// number of records per wakeup, or WakeupWatermark.
func openPerfReader(table string, mapFD, pages, wakeup int) (*perfReader, error) {
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, fmt.Errorf("perf table %s: online CPUs: %w", table, err)
	}
	if wakeup < 1 && wakeup != WakeupWatermark {
		wakeup = 1
	}
	r := &perfReader{table: table, mapFD: mapFD, epfd: -1, wake: -1, free: make(chan *perfBatch, 2), done: make(chan struct{})}
	fail := func(err error) (*perfReader, error) {
		r.close()
		return nil, fmt.Errorf("perf table %s: %w", table, err)
	}
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fail(fmt.Errorf("epoll_create1: %w", err))
	}
	if r.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail(fmt.Errorf("eventfd: %w", err))
	}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, r.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}); err != nil {
		return fail(fmt.Errorf("epoll_ctl: %w", err))
	}
	pageSize := os.Getpagesize()
	for i, cpu := range cpus {
		ring, err := openPerfRing(cpu, pages, pageSize, wakeup)
		if err != nil {
			return fail(err)
		}
		r.rings = append(r.rings, ring)
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, ring.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return fail(fmt.Errorf("epoll_ctl cpu %d: %w", cpu, err))
		}
		if err := mapUpdateU32(mapFD, uint32(cpu), uint32(ring.fd)); err != nil {
			return fail(fmt.Errorf("store the cpu %d ring in the map: %w", cpu, err))
		}
	}
	// Two batches: one being filled while Run hands out the other. A pass
	// that fills one leaves the rest in the rings for the next pass.
	size := min(pages*pageSize*len(cpus), maxBatchBytes)
	for range cap(r.free) {
		r.free <- &perfBatch{r: r, buf: make([]byte, 0, size), ends: make([]int, 0, 1024)}
	}
	return r, nil
}

func openPerfRing(cpu, pages, pageSize, wakeup int) (*perfRing, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_BPF_OUTPUT,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample_type: unix.PERF_SAMPLE_RAW,
		Read_format: perfFormatLost,
	}
	if wakeup == WakeupWatermark {
		attr.Bits |= unix.PerfBitWatermark
		attr.Wakeup = uint32(pages * pageSize / 4) // wakeup_watermark, bytes
	} else {
		attr.Wakeup = uint32(wakeup) // wakeup_events
	}
	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	countsLost := err == nil
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.0 refuse read formats they do not know.
		attr.Read_format = 0
		fd, err = unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	}
	if err != nil {
		return nil, fmt.Errorf("perf_event_open cpu %d: %w", cpu, err)
	}
	mem, err := unix.Mmap(fd, 0, (pages+1)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap the cpu %d ring (%d pages): %w", cpu, pages, err)
	}
	ring := &perfRing{cpu: cpu, fd: fd, mem: mem, meta: (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0])), countsLost: countsLost}
	off, size := ring.meta.Data_offset, ring.meta.Data_size
	if off == 0 { // kernels before 4.1 do not fill them in
		off, size = uint64(pageSize), uint64(pages*pageSize)
	}
	ring.data = mem[off : off+size]
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		ring.close()
		return nil, fmt.Errorf("enable the cpu %d ring: %w", cpu, err)
	}
	return ring, nil
}

func (ring *perfRing) close() {
	if ring.mem != nil {
		unix.Munmap(ring.mem)
		ring.mem = nil
	}
	if ring.fd >= 0 {
		unix.Close(ring.fd)
		ring.fd = -1
	}
}

// drain appends the ring's records to b and frees their space in the ring.
// It stops early, leaving the rest for the next pass, when b is full, and
// then says so.
func (ring *perfRing) drain(b *perfBatch) (full bool) {
	head := atomic.LoadUint64(&ring.meta.Data_head)
	tail := ring.meta.Data_tail // only this reader writes it
	size := uint64(len(ring.data))
	for tail < head {
		var hdr [8]byte
		ring.copyOut(hdr[:], tail, size)
		typ := binary.NativeEndian.Uint32(hdr[0:4])
		recLen := uint64(binary.NativeEndian.Uint16(hdr[6:8]))
		if recLen < 8 || tail+recLen > head {
			// A corrupt header: skip everything that was there.
			tail = head
			break
		}
		switch typ {
		case unix.PERF_RECORD_SAMPLE:
			// u32 size, then size bytes of raw data.
			var sz [4]byte
			ring.copyOut(sz[:], tail+8, size)
			n := uint64(binary.NativeEndian.Uint32(sz[:]))
			if n > recLen-12 {
				n = recLen - 12
			}
			if len(b.buf)+int(n) > cap(b.buf) && len(b.ends) > 0 {
				atomic.StoreUint64(&ring.meta.Data_tail, tail)
				return true
			}
			start := len(b.buf)
			b.buf = slices.Grow(b.buf, int(n))[:start+int(n)]
			ring.copyOut(b.buf[start:], tail+12, size)
			b.ends = append(b.ends, len(b.buf))
		case unix.PERF_RECORD_LOST:
			// u64 id, u64 lost.
			var lost [8]byte
			ring.copyOut(lost[:], tail+16, size)
			n := binary.NativeEndian.Uint64(lost[:])
			b.lost += n
			ring.reported += n
		}
		tail += recLen
	}
	atomic.StoreUint64(&ring.meta.Data_tail, tail)
	return false
}

// copyOut copies len(dst) bytes at ring position pos, across the wrap.
func (ring *perfRing) copyOut(dst []byte, pos, size uint64) {
	off := pos % size
	n := copy(dst, ring.data[off:])
	if n < len(dst) {
		copy(dst[n:], ring.data)
	}
}

// run reads batches into out until interrupted. A batch goes out when it
// holds records or losses; the receiver gives it back with release.
func (r *perfReader) run(out chan<- *perfBatch) error {
	events := make([]unix.EpollEvent, len(r.rings)+1)
	pollMS := int(PerfPoll / time.Millisecond)
	timeout := pollMS
	for {
		_, err := unix.EpollWait(r.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("perf table %s: epoll_wait: %w", r.table, err)
		}
		var b *perfBatch
		select {
		case <-r.done:
			return nil
		case b = <-r.free:
		}
		// Every ring is read on every pass, after a timeout too: a ring
		// below its wakeup count is read at least every PerfPoll.
		b.reset()
		full := false
		for _, ring := range r.rings {
			if ring.drain(b) {
				full = true
			}
		}
		timeout = pollMS
		if full {
			timeout = 0
		}
		if len(b.ends) == 0 && b.lost == 0 {
			r.free <- b
			continue
		}
		select {
		case <-r.done:
			// Its records have left the rings: keep them for finish.
			r.pending = b
			return nil
		case out <- b:
		}
	}
}

// finish is the end of a reader, once run has returned: it disconnects the
// rings from the program, waits until no program can still be writing to
// them, and hands out, through deliver, every record left: the batch run
// kept, then what remains in the rings. It returns the drops the kernel
// counted but had not reported (exact is false when the kernel cannot say:
// before Linux 6.0, drops after the last record are never reported).
// deliver must release each batch before finish hands out the next.
func (r *perfReader) finish(deliver func(*perfBatch)) (unreported uint64, exact bool, err error) {
	if b := r.pending; b != nil {
		r.pending = nil
		deliver(b)
	}
	for _, ring := range r.rings {
		// From here on, bpf_perf_event_output finds no ring for this CPU
		// and writes nothing: every record is in a ring or counted lost.
		if err := mapDeleteU32(r.mapFD, uint32(ring.cpu)); err != nil && !errors.Is(err, unix.ENOENT) {
			return 0, false, fmt.Errorf("perf table %s: disconnect the cpu %d ring: %w", r.table, ring.cpu, err)
		}
	}
	waitForRunningPrograms()
	b := <-r.free
	for {
		b.reset()
		full := false
		for _, ring := range r.rings {
			if ring.drain(b) {
				full = true
			}
		}
		if len(b.ends) == 0 && b.lost == 0 {
			r.free <- b
			break
		}
		deliver(b)
		if !full {
			break
		}
		b = <-r.free
	}
	exact = true
	for _, ring := range r.rings {
		if !ring.countsLost {
			exact = false
			continue
		}
		total, err := ring.lostSamples()
		if err != nil {
			return unreported, false, fmt.Errorf("perf table %s: cpu %d: %w", r.table, ring.cpu, err)
		}
		if total > ring.reported {
			unreported += total - ring.reported
		}
	}
	return unreported, exact, nil
}

// lostSamples reads the records the kernel dropped from this ring since it
// was opened (PERF_FORMAT_LOST: read() gives the count, then the drops).
func (ring *perfRing) lostSamples() (uint64, error) {
	var buf [16]byte
	n, err := unix.Read(ring.fd, buf[:])
	if err != nil {
		return 0, fmt.Errorf("read the lost count: %w", err)
	}
	if n != len(buf) {
		return 0, fmt.Errorf("read the lost count: %d bytes, want %d", n, len(buf))
	}
	return binary.NativeEndian.Uint64(buf[8:]), nil
}

// waitForRunningPrograms returns once every BPF program that was running
// has ended. Programs run inside RCU read-side sections, and
// membarrier(MEMBARRIER_CMD_GLOBAL) waits for an RCU grace period
// (synchronize_rcu) on every kernel that has it. Where it is refused
// (nohz_full CPUs), a pause far longer than a program's run stands in.
func waitForRunningPrograms() {
	const membarrierCmdGlobal = 1
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		time.Sleep(20 * time.Millisecond)
	}
}

// release gives a batch back to its reader.
func (b *perfBatch) release() { b.r.free <- b }

// interrupt makes run return soon; it may be called from any goroutine,
// more than once.
func (r *perfReader) interrupt() {
	r.once.Do(func() {
		close(r.done)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(r.wake, one[:])
	})
}

func (r *perfReader) close() {
	for _, ring := range r.rings {
		ring.close()
	}
	r.rings = nil
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		r.epfd = -1
	}
	if r.wake >= 0 {
		unix.Close(r.wake)
		r.wake = -1
	}
}

// mapUpdateU32 stores value at key in a BPF map (BPF_MAP_UPDATE_ELEM).
func mapUpdateU32(mapFD int, key, value uint32) error {
	// On the heap, which Go never moves, for the kernel to read.
	k, v := new(uint32), new(uint32)
	*k, *v = key, value
	attr := &struct {
		mapFD uint32
		_     uint32
		key   uint64
		value uint64
		flags uint64
	}{
		mapFD: uint32(mapFD),
		key:   uint64(uintptr(unsafe.Pointer(k))),
		value: uint64(uintptr(unsafe.Pointer(v))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, 2 /* BPF_MAP_UPDATE_ELEM */, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(k)
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}

// mapDeleteU32 removes key from a BPF map (BPF_MAP_DELETE_ELEM).
func mapDeleteU32(mapFD int, key uint32) error {
	k := new(uint32)
	*k = key
	attr := &struct {
		mapFD uint32
		_     uint32
		key   uint64
	}{mapFD: uint32(mapFD), key: uint64(uintptr(unsafe.Pointer(k)))}
	_, _, errno := unix.Syscall(unix.SYS_BPF, 3 /* BPF_MAP_DELETE_ELEM */, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(k)
	if errno != 0 {
		return errno
	}
	return nil
}

// mapType returns the type of a BPF map (BPF_OBJ_GET_INFO_BY_FD).
func mapType(mapFD int) (uint32, error) {
	// The head of struct bpf_map_info: type, id, key_size, value_size,
	// max_entries, map_flags, name. The kernel fills what fits.
	info := new([16]uint32)
	attr := &struct {
		fd      uint32
		infoLen uint32
		info    uint64
	}{
		fd:      uint32(mapFD),
		infoLen: uint32(unsafe.Sizeof(*info)),
		info:    uint64(uintptr(unsafe.Pointer(info))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_OBJ_GET_INFO_BY_FD, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(info)
	if errno != 0 {
		return 0, fmt.Errorf("map info: %w", errno)
	}
	return info[0], nil
}
