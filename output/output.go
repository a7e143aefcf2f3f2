// Package output prints what evtrace's tracers report: aligned text columns
// for people (under 80 characters a line, as bcc tools print) or one JSON
// object per line, with stable field names, for programs.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/evtrace/evtrace/tracer"
)

// Format is an output format.
type Format string

const (
	Text Format = "text"
	JSON Format = "json"
)

// ParseFormat accepts "text" and "json".
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Text, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown output format %q (want text or json)", s)
}

// ListenPrinter prints listen events (perf mode) or trace lines (debug mode).
type ListenPrinter struct {
	w         io.Writer
	format    Format
	showNetNS bool
	enc       *json.Encoder
}

// NewListenPrinter returns a printer writing to w. showNetNS adds the NETNS
// column to text output; JSON always carries it.
func NewListenPrinter(w io.Writer, format Format, showNetNS bool) *ListenPrinter {
	return &ListenPrinter{w: w, format: format, showNetNS: showNetNS, enc: json.NewEncoder(w)}
}

const timeLayout = "15:04:05"

// EventHeader prints the column header of perf-mode text output.
func (p *ListenPrinter) EventHeader() error {
	if p.format != Text {
		return nil
	}
	var err error
	if p.showNetNS {
		_, err = fmt.Fprintf(p.w, "%-8s %-7s %-15s %-10s %-5s %7s %5s %s\n",
			"TIME", "PID", "COMM", "NETNS", "PROTO", "BACKLOG", "PORT", "ADDR")
	} else {
		_, err = fmt.Fprintf(p.w, "%-8s %-7s %-15s %-5s %7s %5s %s\n",
			"TIME", "PID", "COMM", "PROTO", "BACKLOG", "PORT", "ADDR")
	}
	return err
}

// ListenJSON is the JSON form of a listen event. Field names are stable.
type ListenJSON struct {
	Time    string `json:"time"` // RFC 3339, nanoseconds
	PID     uint32 `json:"pid"`
	TID     uint32 `json:"tid"`
	Comm    string `json:"comm"`
	NetNS   uint32 `json:"netns"`
	Proto   string `json:"proto"`
	Backlog int32  `json:"backlog"`
	Addr    string `json:"addr"`
	Port    uint16 `json:"port"`
}

// Event prints one listen event.
func (p *ListenPrinter) Event(e tracer.ListenEvent) error {
	addr := ""
	if e.Addr.IsValid() {
		addr = e.Addr.String()
	}
	switch {
	case p.format == JSON:
		return p.enc.Encode(ListenJSON{
			Time: e.Time.Format(time.RFC3339Nano), PID: e.PID, TID: e.TID,
			Comm: e.Comm, NetNS: e.NetNS, Proto: e.Proto(), Backlog: e.Backlog,
			Addr: addr, Port: e.Port,
		})
	case p.showNetNS:
		_, err := fmt.Fprintf(p.w, "%-8s %-7d %-15.15s %-10d %-5s %7d %5d %s\n",
			e.Time.Format(timeLayout), e.PID, e.Comm, e.NetNS, e.Proto(), e.Backlog, e.Port, addr)
		return err
	default:
		_, err := fmt.Fprintf(p.w, "%-8s %-7d %-15.15s %-5s %7d %5d %s\n",
			e.Time.Format(timeLayout), e.PID, e.Comm, e.Proto(), e.Backlog, e.Port, addr)
		return err
	}
}

// TraceHeader prints the column header of debug-mode text output.
func (p *ListenPrinter) TraceHeader() error {
	if p.format != Text {
		return nil
	}
	_, err := fmt.Fprintf(p.w, "%-8s %-7s %-3s %-15s %s\n", "TIME", "TID", "CPU", "COMM", "MESSAGE")
	return err
}

// TraceJSON is the JSON form of a trace_pipe line. Field names are stable.
type TraceJSON struct {
	Time    string  `json:"time"`  // wall clock, RFC 3339 (approximate: trace clock)
	TS      float64 `json:"ts"`    // trace clock, seconds since boot
	Task    string  `json:"task"`  // comm, "<...>" when the kernel did not know it
	PID     int     `json:"pid"`   // thread id
	CPU     int     `json:"cpu"`   //
	Flags   string  `json:"flags"` // as printed by the kernel
	Message string  `json:"msg"`
}

// Trace prints one trace_pipe line; wall is its time on the wall clock.
func (p *ListenPrinter) Trace(l tracer.TraceLine, wall time.Time) error {
	if p.format == JSON {
		return p.enc.Encode(TraceJSON{
			Time: wall.Format(time.RFC3339Nano), TS: l.Time.Seconds(), Task: l.Task,
			PID: l.PID, CPU: l.CPU, Flags: l.Flags, Message: l.Message,
		})
	}
	_, err := fmt.Fprintf(p.w, "%-8s %-7d %-3d %-15.15s %s\n",
		wall.Format(timeLayout), l.PID, l.CPU, l.Task, l.Message)
	return err
}
