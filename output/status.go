package output

import (
	"fmt"
	"io"
)

// Status writes evtrace's status lines, on standard error: one line each,
// starting "evtrace: ", apart from the data on standard output.
type Status struct {
	w io.Writer
}

// NewStatus writes status lines to w.
func NewStatus(w io.Writer) *Status { return &Status{w: w} }

// Say writes one status line.
func (s *Status) Say(format string, a ...any) {
	fmt.Fprintf(s.w, "evtrace: "+format+"\n", a...)
}

// Warn writes a warning: something evtrace went on without.
func (s *Status) Warn(err error) { s.Say("warning: %v", err) }

// Lost says that the kernel dropped n events of source.
func (s *Status) Lost(source string, n uint64) { s.Say("lost %d events (%s)", n, source) }

// RunStats is what a run delivered and lost, for its last line.
type RunStats struct {
	Events, Lost uint64
	// LossesExact is false when the kernel does not report every drop
	// (before Linux 6.0, drops after a ring's last record).
	LossesExact bool
	// Foreign counts trace lines of other programs that were skipped.
	Foreign uint64
}

// Summary writes the last line of a run: events delivered and lost.
func (s *Status) Summary(st RunStats) {
	line := fmt.Sprintf("%d events, %d lost", st.Events, st.Lost)
	if !st.LossesExact {
		line += " (this kernel, before Linux 6.0, does not report drops after a ring's last record: more may be lost)"
	}
	if st.Foreign > 0 {
		line += fmt.Sprintf("; %d trace lines of other programs ignored", st.Foreign)
	}
	s.Say("%s", line)
}

// RingFill says how full a ring buffer came to be, as far as evtrace saw
// when it woke to read it: the kernel counts no drops in a ring buffer (a
// full ring makes the program's ringbuf_output fail and ringbuf_reserve
// return NULL, and only the program knows).
func (s *Status) RingFill(table string, size, peak int) {
	s.Say("ring buffer %s: %d KiB, fullest seen %d%% (the kernel counts no drops in ring buffers: a full ring fails the program's ringbuf_output/ringbuf_reserve)", table, size/1024, (100*peak+size-1)/size)
}
