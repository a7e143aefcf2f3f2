// Package perf reads the perf rings of a BPF_PERF_OUTPUT table: one
// BPF-output perf event per online CPU, its ring mapped, its fd stored in
// the program's perf event array, for either backend (bcc or ELF).
//
// Why not cilium/ebpf's perf.Reader: it returns one record per Read (or
// ReadInto) call, so a consumer pays a call, a ring lookup and, through a
// channel to its decoder, a channel operation per record. This reader wakes
// up once per batch (a quarter-full ring, or Poll), copies every record of
// every ready ring into one buffer and hands over the whole batch: a few
// channel operations per batch and no allocation per record. make bench
// measures its cost at 0.6-1.0 µs of CPU per event at every rate with the
// default settings, against bcc Python's 6-8 µs (docs/benchmarks.md); the
// batching is what holds the producer at full speed (with a wakeup per
// record, as bcc sets it, the same reader costs 5-10 µs per event).
//
// Its lifecycle follows cilium/ebpf's: Close interrupts a Run blocked in
// epoll_wait and waits for it to return; Run then returns ErrClosed.
// Interrupt stops Run without closing, for Finish, the final drain: it
// disconnects the rings from the program, waits until no program can
// still be writing to them, and hands over every record left.
package perf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/evtrace/evtrace/tracer/kernel"
	"golang.org/x/sys/unix"
)

// WakeupWatermark, as a Spec.PerfWakeup, has the kernel wake the reader
// when a ring is a quarter full, in bytes, whatever the records' count:
// at moderate rates a few wakeups per second instead of one per record
// (bcc's setting, which costs the traced program a wakeup per event) or
// per N records. Rings are also read every Poll, so a quiet ring's
// records are never held longer than that.
const WakeupWatermark = -1

// DefaultWakeup is the wakeup setting when a Spec leaves it at 0.
const DefaultWakeup = WakeupWatermark

// Poll bounds how long a record can wait in a ring that has not
// reached its wakeup count.
const Poll = 100 * time.Millisecond

// maxBatchBytes caps a batch's buffer.
const maxBatchBytes = 4 << 20

// Batch is the records read from one table's rings in one pass.
type Batch struct {
	r    *Reader
	buf  []byte // the records' bytes, back to back
	ends []int  // ends[i]: end of record i in buf
	lost uint64 // records the kernel dropped, reported before this batch
}

func (b *Batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.lost = 0
}

// Each calls fn for every record of the batch.
func (b *Batch) Each(fn func([]byte)) {
	start := 0
	for _, end := range b.ends {
		fn(b.buf[start:end:end])
		start = end
	}
}

// cpuRing is one CPU's ring.
type cpuRing struct {
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

// ErrClosed is returned by Run, Finish and Open's users after Close.
var ErrClosed = errors.New("perf reader closed")

// perfFormatLost is PERF_FORMAT_LOST (include/uapi/linux/perf_event.h).
const perfFormatLost = 1 << 4

// Reader reads the rings of one BPF_PERF_OUTPUT map.
type Reader struct {
	table   string
	mapFD   int // the perf event array the rings are stored in (a duplicate of the caller's)
	rings   []*cpuRing
	pending *Batch // a batch Run read but could not hand over
	epfd    int
	wake    int // eventfd: written to stop Run
	free    chan *Batch
	done    chan struct{} // closed by Interrupt
	once    sync.Once

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup // held while Run runs
}

// Table is the name of the BPF_PERF_OUTPUT map the reader reads.
func (r *Reader) Table() string { return r.table }

// Table is the name of the table the batch was read from.
func (b *Batch) Table() string { return b.r.table }

// Lost is the records the kernel reported dropped before this batch's.
func (b *Batch) Lost() uint64 { return b.lost }

// Open opens a ring of pages data pages on every online CPU
// and stores their fds in the perf event array mapFD. wakeup is the
// number of records per wakeup, or WakeupWatermark.
// The map's descriptor stays the caller's: the reader works on a duplicate.
func Open(table string, mapFD, pages, wakeup int) (*Reader, error) {
	cpus, err := kernel.OnlineCPUs()
	if err != nil {
		return nil, fmt.Errorf("perf table %s: online CPUs: %w", table, err)
	}
	if wakeup < 1 && wakeup != WakeupWatermark {
		wakeup = 1
	}
	r, err := newReader(table)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Reader, error) {
		r.Close()
		return nil, fmt.Errorf("perf table %s: %w", table, err)
	}
	if r.mapFD, err = unix.FcntlInt(uintptr(mapFD), unix.F_DUPFD_CLOEXEC, 3); err != nil {
		return fail(fmt.Errorf("dup the map fd: %w", err))
	}
	pageSize := os.Getpagesize()
	for i, cpu := range cpus {
		ring, err := openRing(cpu, pages, pageSize, wakeup)
		if err != nil {
			return fail(err)
		}
		r.rings = append(r.rings, ring)
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, ring.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return fail(fmt.Errorf("epoll_ctl cpu %d: %w", cpu, err))
		}
		if err := mapUpdateU32(r.mapFD, uint32(cpu), uint32(ring.fd)); err != nil {
			return fail(fmt.Errorf("store the cpu %d ring in the map: %w", cpu, err))
		}
	}
	// Two batches: one being filled while Run hands out the other. A pass
	// that fills one leaves the rest in the rings for the next pass.
	size := min(pages*pageSize*len(cpus), maxBatchBytes)
	for range cap(r.free) {
		r.free <- &Batch{r: r, buf: make([]byte, 0, size), ends: make([]int, 0, 1024)}
	}
	return r, nil
}

// newReader makes a reader with no rings yet: its epoll set holds the
// eventfd that Interrupt and Close write to.
func newReader(table string) (*Reader, error) {
	r := &Reader{table: table, mapFD: -1, epfd: -1, wake: -1, free: make(chan *Batch, 2), done: make(chan struct{})}
	var err error
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("perf table %s: epoll_create1: %w", table, err)
	}
	if r.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		r.Close()
		return nil, fmt.Errorf("perf table %s: eventfd: %w", table, err)
	}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, r.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}); err != nil {
		r.Close()
		return nil, fmt.Errorf("perf table %s: epoll_ctl: %w", table, err)
	}
	return r, nil
}

func openRing(cpu, pages, pageSize, wakeup int) (*cpuRing, error) {
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
	ring := &cpuRing{cpu: cpu, fd: fd, mem: mem, meta: (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0])), countsLost: countsLost}
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

func (ring *cpuRing) close() {
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
func (ring *cpuRing) drain(b *Batch) (full bool) {
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
func (ring *cpuRing) copyOut(dst []byte, pos, size uint64) {
	off := pos % size
	n := copy(dst, ring.data[off:])
	if n < len(dst) {
		copy(dst[n:], ring.data)
	}
}

// Run reads batches into out until Interrupt or Close. A batch goes out
// when it holds records or losses; the receiver gives it back with
// Release. It returns nil after Interrupt, ErrClosed after Close (or when
// the reader was closed before), or the error that stopped the reading.
// Run may be called once.
func (r *Reader) Run(out chan<- *Batch) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.running.Add(1)
	r.mu.Unlock()
	defer r.running.Done()
	err := r.run(out)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && r.closed {
		return ErrClosed
	}
	return err
}

func (r *Reader) run(out chan<- *Batch) error {
	events := make([]unix.EpollEvent, len(r.rings)+1)
	pollMS := int(Poll / time.Millisecond)
	timeout := pollMS
	for {
		_, err := unix.EpollWait(r.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("perf table %s: epoll_wait: %w", r.table, err)
		}
		var b *Batch
		select {
		case <-r.done:
			return nil
		case b = <-r.free:
		}
		// Every ring is read on every pass, after a timeout too: a ring
		// below its wakeup count is read at least every Poll.
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

// Finish is the end of a reader, once Run has returned after Interrupt: it disconnects the
// rings from the program, waits until no program can still be writing to
// them, and hands out, through deliver, every record left: the batch run
// kept, then what remains in the rings. It returns the drops the kernel
// counted but had not reported (exact is false when the kernel cannot say:
// before Linux 6.0, drops after the last record are never reported).
// deliver must release each batch before finish hands out the next.
func (r *Reader) Finish(deliver func(*Batch)) (unreported uint64, exact bool, err error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, false, ErrClosed
	}
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
func (ring *cpuRing) lostSamples() (uint64, error) {
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
// (synchronize_rcu) on every kernel that has it. golang.org/x/sys/unix
// has no wrapper for membarrier, hence the raw syscall. Where it is refused
// (nohz_full CPUs), a pause far longer than a program's run stands in.
func waitForRunningPrograms() {
	const membarrierCmdGlobal = 1
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		time.Sleep(20 * time.Millisecond)
	}
}

// Release gives a batch back to its reader.
func (b *Batch) Release() { b.r.free <- b }

// Interrupt makes Run return soon, with nil; it may be called from any
// goroutine, more than once. The rings stay open for Finish.
func (r *Reader) Interrupt() {
	r.once.Do(func() {
		close(r.done)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(r.wake, one[:])
	})
}

// Close interrupts Run, waits for it to return (with ErrClosed) and frees
// the rings. It may be called more than once, from any goroutine but the
// one that receives Run's batches while Run waits to hand one over.
func (r *Reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if r.wake >= 0 {
		r.Interrupt()
	}
	r.running.Wait()
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
	if r.mapFD >= 0 {
		unix.Close(r.mapFD)
		r.mapFD = -1
	}
	return nil
}
