// Package output prints what evtrace's tracers report: aligned text columns
// for people (under 80 characters a line, as bcc tools print) or one JSON
// object per line, with stable field names, for programs.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/tracepipe"
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
	showRet   bool
	enc       *json.Encoder
}

// NewListenPrinter returns a printer writing to w. showNetNS adds the NETNS
// column to text output (JSON always carries it); showRet adds the RET
// column, for strategies that see inet_listen return.
func NewListenPrinter(w io.Writer, format Format, showNetNS, showRet bool) *ListenPrinter {
	return &ListenPrinter{w: w, format: format, showNetNS: showNetNS, showRet: showRet, enc: json.NewEncoder(w)}
}

const timeLayout = "15:04:05"

// EventHeader prints the column header of perf-mode text output.
func (p *ListenPrinter) EventHeader() error {
	if p.format != Text {
		return nil
	}
	cols := []any{"TIME", "PID", "COMM"}
	format := "%-8s %-7s %-15s "
	if p.showNetNS {
		cols = append(cols, "NETNS")
		format += "%-10s "
	}
	cols = append(cols, "PROTO", "BACKLOG")
	format += "%-5s %7s "
	if p.showRet {
		cols = append(cols, "RET")
		format += "%4s "
	}
	cols = append(cols, "PORT", "ADDR")
	format += "%5s %s\n"
	_, err := fmt.Fprintf(p.w, format, cols...)
	return err
}

// ListenJSON is the JSON form of a listen event. Field names are stable;
// ret is present only when the attach strategy sees inet_listen return.
type ListenJSON struct {
	Time    string `json:"time"` // RFC 3339, nanoseconds
	PID     uint32 `json:"pid"`
	TID     uint32 `json:"tid"`
	Comm    string `json:"comm"`               // U+FFFD for bytes that are not UTF-8
	CommB64 string `json:"comm_b64,omitempty"` // the original bytes, when comm is not valid UTF-8
	NetNS   uint32 `json:"netns"`
	Proto   string `json:"proto"`
	Backlog int32  `json:"backlog"`
	Ret     *int32 `json:"ret,omitempty"`
	Addr    string `json:"addr"`
	Port    uint16 `json:"port"`
}

// Event prints one listen event.
func (p *ListenPrinter) Event(e listen.Event) error {
	addr := ""
	if e.Addr.IsValid() {
		addr = e.Addr.String()
	}
	if p.format == JSON {
		j := ListenJSON{
			Time: e.Time.Format(time.RFC3339Nano), PID: e.PID, TID: e.TID,
			Comm: e.Comm, CommB64: b64(e.Comm), NetNS: e.NetNS, Proto: e.Proto(), Backlog: e.Backlog,
			Addr: addr, Port: e.Port,
		}
		if e.HasRet {
			j.Ret = &e.Ret
		}
		return p.enc.Encode(j)
	}
	// COMM is escaped (see appendEscaped) and never cut: a name that
	// escaping made longer than the column extends its line.
	cols := []any{e.Time.Format(timeLayout), e.PID, escape(e.Comm)}
	format := "%-8s %-7d %-15s "
	if p.showNetNS {
		cols = append(cols, e.NetNS)
		format += "%-10d "
	}
	cols = append(cols, e.Proto(), e.Backlog)
	format += "%-5s %7d "
	if p.showRet {
		cols = append(cols, e.Ret)
		format += "%4d "
	}
	cols = append(cols, e.Port, addr)
	format += "%5d %s\n"
	_, err := fmt.Fprintf(p.w, format, cols...)
	return err
}

// TraceHeader prints the column header of debug-mode text output.
func (p *ListenPrinter) TraceHeader() error { return traceHeader(p.w, p.format) }

// Trace prints one trace_pipe line; wall is its time on the wall clock.
func (p *ListenPrinter) Trace(l tracepipe.Line, wall time.Time) error {
	return writeTrace(p.w, p.enc, p.format, l, wall)
}

func traceHeader(w io.Writer, format Format) error {
	if format != Text {
		return nil
	}
	_, err := fmt.Fprintf(w, "%-8s %-7s %-3s %-15s %s\n", "TIME", "TID", "CPU", "COMM", "MESSAGE")
	return err
}

// TraceJSON is the JSON form of a trace_pipe line. Field names are stable.
type TraceJSON struct {
	Time    string  `json:"time"`               // wall clock, RFC 3339 (approximate: trace clock)
	TS      float64 `json:"ts"`                 // trace clock, seconds since boot
	Task    string  `json:"task"`               // comm, "<...>" when the kernel did not know it
	TaskB64 string  `json:"task_b64,omitempty"` // the original bytes, when task is not valid UTF-8
	PID     int     `json:"pid"`                // thread id
	CPU     int     `json:"cpu"`                //
	Flags   string  `json:"flags"`              // as printed by the kernel
	Message string  `json:"msg"`
	MsgB64  string  `json:"msg_b64,omitempty"` // the original bytes, when msg is not valid UTF-8
}

func writeTrace(w io.Writer, enc *json.Encoder, format Format, l tracepipe.Line, wall time.Time) error {
	if format == JSON {
		return enc.Encode(TraceJSON{
			Time: wall.Format(time.RFC3339Nano), TS: l.Time.Seconds(), Task: l.Task, TaskB64: b64(l.Task),
			PID: l.PID, CPU: l.CPU, Flags: l.Flags, Message: l.Message, MsgB64: b64(l.Message),
		})
	}
	_, err := fmt.Fprintf(w, "%-8s %-7d %-3d %-15s %s\n",
		wall.Format(timeLayout), l.PID, l.CPU, escape(l.Task), escape(l.Message))
	return err
}
