// Package ringbuf reads a BPF_RINGBUF_OUTPUT table (BPF_MAP_TYPE_RINGBUF,
// Linux >= 5.8) for the session, through cilium/ebpf's ring buffer reader
// over a duplicate of the map's descriptor, in the perf reader's shape:
// one Reader per table, whose Run hands batches of records to the session
// loop, Interrupt to stop it, Finish to hand over every record left at the
// end, Close to free it.
//
// A ring buffer is one ring for all CPUs. The kernel counts no drops in
// it: when the ring is full, the program's ringbuf_output or
// ringbuf_reserve fails (the program sees -EAGAIN or NULL) and nothing is
// recorded. What a reader can see is how full the ring was when it woke
// up (Reader.Peak): a ring that was close to full may have refused
// records.
package ringbuf

import (
	"errors"
	"fmt"
	"os"

	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	cring "github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Poll bounds how long the reader waits for a wakeup: programs that
// submit with BPF_RB_NO_WAKEUP never wake it, so the ring is also read
// every Poll.
const Poll = 100 * time.Millisecond

// maxBatchBytes caps a batch's buffer.
const maxBatchBytes = 4 << 20

// ErrClosed is returned by Run and Finish after Close.
var ErrClosed = errors.New("ring buffer reader closed")

// Batch is the records read from the ring in one pass.
type Batch struct {
	r    *Reader
	buf  []byte // the records' bytes, back to back
	ends []int  // ends[i]: end of record i in buf
}

func (b *Batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
}

// Each calls fn for every record of the batch.
func (b *Batch) Each(fn func([]byte)) {
	start := 0
	for _, end := range b.ends {
		fn(b.buf[start:end:end])
		start = end
	}
}

// Table is the name of the table the batch was read from.
func (b *Batch) Table() string { return b.r.table }

// Lost is always 0: the kernel counts no drops in a ring buffer.
func (b *Batch) Lost() uint64 { return 0 }

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.ends) }

// Release gives a batch back to its reader.
func (b *Batch) Release() { b.r.free <- b }

// add appends the record ReadInto just put in rec, which was handed the
// batch's spare capacity (so usually it is there already).
func (b *Batch) add(rec *cring.Record) {
	n := len(rec.RawSample)
	start := len(b.buf)
	if cap(b.buf)-start < n {
		// ReadInto had to allocate: the record did not fit.
		b.buf = append(b.buf, rec.RawSample...)
	} else {
		b.buf = b.buf[:start+n]
	}
	b.ends = append(b.ends, len(b.buf))
}

// Reader reads one ring buffer map.
type Reader struct {
	table string
	rd    *cring.Reader
	size  int    // of the ring's data, bytes
	pos   []byte // read-only view of the consumer and producer pages
	page  int
	free  chan *Batch
	done  chan struct{} // closed by Interrupt
	once  sync.Once
	peak  atomic.Int64 // most bytes seen waiting in the ring at a wakeup

	pending *Batch // a batch Run read but could not hand over

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup // held while Run runs
}

// Open opens a reader of the ring buffer map mapFD. The descriptor stays
// the caller's: the reader works on a duplicate.
func Open(table string, mapFD int) (*Reader, error) {
	dup, err := unix.FcntlInt(uintptr(mapFD), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("ring buffer %s: dup the map fd: %w", table, err)
	}
	m, err := ebpf.NewMapFromFD(dup) // owns dup from here on
	if err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("ring buffer %s: %w", table, err)
	}
	defer m.Close() // the reader keeps its own mappings
	if m.Type() != ebpf.RingBuf {
		return nil, fmt.Errorf("ring buffer %s: the map is a %s, not a ring buffer (BPF_RINGBUF_OUTPUT)", table, m.Type())
	}
	rd, err := cring.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("ring buffer %s: %w", table, err)
	}
	r := &Reader{table: table, rd: rd, size: rd.BufferSize(), page: os.Getpagesize(), free: make(chan *Batch, 2), done: make(chan struct{})}
	// The consumer and producer positions, read-only, for Finish to know
	// where the records written before the end stop.
	if r.pos, err = unix.Mmap(m.FD(), 0, 2*r.page, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		rd.Close()
		return nil, fmt.Errorf("ring buffer %s: mmap its positions: %w", table, err)
	}
	size := min(r.size, maxBatchBytes)
	for range cap(r.free) {
		r.free <- &Batch{r: r, buf: make([]byte, 0, size), ends: make([]int, 0, 1024)}
	}
	return r, nil
}

// Table is the name of the map the reader reads.
func (r *Reader) Table() string { return r.table }

// Size is the ring's size in bytes (BPF_RINGBUF_OUTPUT's pages).
func (r *Reader) Size() int { return r.size }

// Peak is the most bytes (records and their 8-byte headers) the reader
// found waiting in the ring when it woke up: how close the ring came to
// full, as far as the reader saw.
func (r *Reader) Peak() int { return int(r.peak.Load()) }

func (r *Reader) consumer() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.pos[0])))
}

func (r *Reader) producer() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.pos[r.page])))
}

// Run reads batches into out until Interrupt or Close: it waits for
// records (at most Poll), reads every record that is there, and hands
// them over as one batch; the receiver gives it back with Release. It
// returns nil after Interrupt, ErrClosed after Close, or the error that
// stopped the reading. Run may be called once.
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
	if r.closed && (err == nil || errors.Is(err, os.ErrClosed)) {
		return ErrClosed
	}
	return err
}

func (r *Reader) run(out chan<- *Batch) error {
	pause := time.NewTimer(0)
	defer pause.Stop()
	last := time.Now()
	for {
		var b *Batch
		select {
		case <-r.done:
			return nil
		case b = <-r.free:
		}
		b.reset()
		if err := r.fill(b, time.Now().Add(Poll), 0); err != nil {
			r.free <- b
			return err
		}
		if len(b.ends) == 0 {
			r.free <- b
			continue
		}
		bytes := len(b.buf) + 8*len(b.ends)
		select {
		case <-r.done:
			// Its records have left the ring: keep them for Finish.
			r.pending = b
			return nil
		case out <- b:
		}
		// The kernel wakes the reader at the first record written after
		// it has read everything: at moderate rates, a wakeup (and a
		// batch) per record. Instead, as the perf reader's watermark
		// does, let records gather, when the ring is large for the rate
		// just seen (see coalesce).
		now := time.Now()
		elapsed := now.Sub(last)
		last = now
		if wait := coalesce(bytes, elapsed, r.size); wait > 0 {
			pause.Reset(wait)
			select {
			case <-r.done:
				return nil
			case <-pause.C:
			}
		}
	}
}

// MaxPause bounds the pause between reads of a ring that fills slowly:
// the delay it adds to an event, and what a sudden burst must find room
// for in the ring (a ring buffer has no wakeup mark to cut it short).
const MaxPause = 10 * time.Millisecond

// minFill is how long a ring must take to fill, at the rate seen, for the
// reader to pause at all: a pause on a busy machine can last several
// milliseconds longer than asked, which a 64 KiB ring at 200k events/s
// (8 ms to fill) did not survive.
const minFill = 20 * time.Millisecond

// coalesce is how long to let records gather after reading n bytes that
// arrived over elapsed: until a sixteenth of a ring of size bytes would
// fill at that rate, at most MaxPause; none when the whole ring would
// fill in less than minFill.
func coalesce(n int, elapsed time.Duration, size int) time.Duration {
	if n <= 0 {
		return 0
	}
	fill := time.Duration(float64(elapsed) * float64(size) / float64(n))
	if fill < minFill {
		return 0
	}
	return min(MaxPause, fill/16)
}

// fill waits until deadline for records and reads into b every record
// there is, until the ring is empty, b is full, or (end > 0) the consumer
// position has reached end. Interrupt's wakeup and the deadline end the
// wait without an error.
func (r *Reader) fill(b *Batch, deadline time.Time, end uint64) error {
	r.rd.SetDeadline(deadline)
	var rec cring.Record
	for first := true; ; first = false {
		rec.RawSample = b.buf[len(b.buf):len(b.buf)]
		err := r.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, cring.ErrFlushed):
			return nil
		case err != nil:
			return fmt.Errorf("ring buffer %s: %w", r.table, err)
		}
		if first {
			// The ring's fill as the reader woke: this record was in it.
			r.peak.Store(max(r.peak.Load(), int64(rec.Remaining+8+alignUp(len(rec.RawSample), 8))))
		}
		b.add(&rec)
		if rec.Remaining == 0 || len(b.buf) >= cap(b.buf)/2 || (end > 0 && r.consumer() >= end) {
			return nil
		}
	}
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// Finish is the end of a reader, once Run has returned after Interrupt:
// it notes where the producer is, waits until no program can still be
// writing a record reserved before that point (an RCU grace period), and
// hands out, through deliver, every record up to there: the batch Run
// kept, then the ring's. Programs still attached may add records while it
// reads; those after the point are left in the ring (but for one that
// directly follows records the program discarded: cilium's reader skips
// those and reads on). deliver must release each batch before Finish hands
// out the next.
func (r *Reader) Finish(deliver func(*Batch)) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if b := r.pending; b != nil {
		r.pending = nil
		deliver(b)
	}
	end := r.producer()
	waitForRunningPrograms()
	give := time.Now().Add(time.Second) // records before end are committed: never needed
	for r.consumer() < end && time.Now().Before(give) {
		b := <-r.free
		b.reset()
		// A past deadline: read what is there, never wait.
		for r.consumer() < end && len(b.buf) < cap(b.buf)/2 {
			n := len(b.ends)
			if err := r.fill(b, time.Unix(1, 0), end); err != nil {
				r.free <- b
				return err
			}
			if len(b.ends) == n {
				break
			}
		}
		if len(b.ends) == 0 {
			r.free <- b
			continue
		}
		deliver(b)
	}
	if c := r.consumer(); c < end {
		return fmt.Errorf("ring buffer %s: %d bytes written before the end still not readable after 1s", r.table, end-c)
	}
	return nil
}

// waitForRunningPrograms returns once every BPF program that was running
// has ended (see perf's: membarrier(MEMBARRIER_CMD_GLOBAL) waits for an
// RCU grace period; a pause stands in where it is refused). A program
// submits or discards every record it reserves before it ends.
func waitForRunningPrograms() {
	const membarrierCmdGlobal = 1
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		time.Sleep(20 * time.Millisecond)
	}
}

// Interrupt makes Run return soon, with nil; it may be called from any
// goroutine, more than once. The ring stays open for Finish.
func (r *Reader) Interrupt() {
	r.once.Do(func() {
		close(r.done)
		r.rd.Flush()
	})
}

// Close interrupts Run, waits for it to return (with ErrClosed) and frees
// the reader. It may be called more than once, from any goroutine but the
// one that receives Run's batches while Run waits to hand one over.
func (r *Reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.Interrupt()
	r.running.Wait()
	err := r.rd.Close()
	if r.pos != nil {
		err = errors.Join(err, unix.Munmap(r.pos))
		r.pos = nil
	}
	return err
}
