package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/listeners"
)

// ListenersPrinter prints evtrace listeners: the set at start, then its
// changes.
type ListenersPrinter struct {
	w      io.Writer
	format Format
	enc    *json.Encoder
}

// NewListenersPrinter returns a printer writing to w.
func NewListenersPrinter(w io.Writer, format Format) *ListenersPrinter {
	return &ListenersPrinter{w: w, format: format, enc: json.NewEncoder(w)}
}

// ListenerJSON is the JSON form of a snapshot entry ("event":"socket") and
// of a change ("event": "listen", "close", "backlog"). Field names are
// stable. Time is absent from snapshot entries; pid and comm (the task
// that made the change) from them and from changes a resync found.
type ListenerJSON struct {
	Event      string      `json:"event"`
	Time       string      `json:"time,omitempty"` // RFC 3339, nanoseconds
	PID        uint32      `json:"pid,omitempty"`
	Comm       string      `json:"comm,omitempty"`
	CommB64    string      `json:"comm_b64,omitempty"`
	NetNS      uint32      `json:"netns"`
	Proto      string      `json:"proto"`
	Addr       string      `json:"addr"`
	Port       uint16      `json:"port"`
	Backlog    uint32      `json:"backlog"`
	Inode      uint64      `json:"inode"`
	Cookie     uint64      `json:"cookie,omitempty"`
	Owners     []OwnerJSON `json:"owners"`
	FromResync bool        `json:"resync,omitempty"`
}

// OwnerJSON is a process holding a listener.
type OwnerJSON struct {
	PID     uint32 `json:"pid"`
	Comm    string `json:"comm"`
	CommB64 string `json:"comm_b64,omitempty"`
	Cgroup  string `json:"cgroup,omitempty"`
}

// SnapshotEndJSON marks the end of the snapshot's entries.
type SnapshotEndJSON struct {
	Event      string  `json:"event"` // "snapshot_end"
	Time       string  `json:"time"`
	Listeners  int     `json:"listeners"`  // entries printed (after the filters)
	Namespaces int     `json:"namespaces"` // network namespaces read
	Failed     int     `json:"failed"`     // network namespaces that could not be read
	Seconds    float64 `json:"seconds"`    // time the snapshot took
}

// ResyncJSON says that events were lost and the set read again; the
// changes it found follow, with "resync": true.
type ResyncJSON struct {
	Event string `json:"event"` // "resync"
	Time  string `json:"time"`
	Lost  uint64 `json:"lost"`
}

func ownersJSON(os []listeners.Owner) []OwnerJSON {
	out := make([]OwnerJSON, 0, len(os))
	for _, o := range os {
		out = append(out, OwnerJSON{PID: o.PID, Comm: o.Comm, CommB64: b64(o.Comm), Cgroup: o.Cgroup})
	}
	return out
}

func listenerJSON(event string, s listeners.Socket) ListenerJSON {
	return ListenerJSON{
		Event: event, NetNS: s.NetNS, Proto: s.Proto(), Addr: addrString(s), Port: s.Port,
		Backlog: s.Backlog, Inode: s.Inode, Cookie: s.Cookie, Owners: ownersJSON(s.Owners),
	}
}

func addrString(s listeners.Socket) string {
	if !s.Addr.IsValid() {
		return ""
	}
	return s.Addr.String()
}

const listenersFormat = "%-8s %-8s %-10s %-5s %7s %5s %-10s %-15s %s\n"

// Header prints the text column header.
func (p *ListenersPrinter) Header() error {
	if p.format != Text {
		return nil
	}
	_, err := fmt.Fprintf(p.w, listenersFormat, "TIME", "EVENT", "NETNS", "PROTO", "BACKLOG", "PORT", "INODE", "ADDR", "PROCESSES")
	return err
}

// processes is the PROCESSES column: PID/COMM of each owner, escaped.
func processes(os []listeners.Owner) string {
	if len(os) == 0 {
		return "-"
	}
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = strconv.FormatUint(uint64(o.PID), 10) + "/" + escape(o.Comm)
	}
	return strings.Join(parts, ",")
}

func (p *ListenersPrinter) row(t time.Time, event string, s listeners.Socket, by string) error {
	procs := processes(s.Owners)
	if by != "" {
		procs += " (by " + by + ")"
	}
	_, err := fmt.Fprintf(p.w, listenersFormat, t.Format(timeLayout), event,
		strconv.FormatUint(uint64(s.NetNS), 10), s.Proto(), strconv.FormatUint(uint64(s.Backlog), 10),
		strconv.FormatUint(uint64(s.Port), 10), strconv.FormatUint(s.Inode, 10), addrString(s), procs)
	return err
}

// Snapshot prints the set at start: one row or object per socket, then
// (JSON) the end-of-snapshot marker.
func (p *ListenersPrinter) Snapshot(snap listeners.Snapshot, at time.Time) error {
	for _, s := range snap.Sockets {
		var err error
		if p.format == JSON {
			err = p.enc.Encode(listenerJSON("socket", s))
		} else {
			err = p.row(at, "LISTENING", s, "")
		}
		if err != nil {
			return err
		}
	}
	if p.format == JSON {
		return p.enc.Encode(SnapshotEndJSON{
			Event: "snapshot_end", Time: at.Format(time.RFC3339Nano), Listeners: len(snap.Sockets),
			Namespaces: len(snap.DumpStart), Failed: len(snap.Failed), Seconds: snap.Duration.Seconds(),
		})
	}
	return nil
}

// Change prints one change.
func (p *ListenersPrinter) Change(c listeners.Change) error {
	if c.Kind == listeners.Resync {
		if p.format == JSON {
			return p.enc.Encode(ResyncJSON{Event: "resync", Time: c.Time.Format(time.RFC3339Nano), Lost: c.Lost})
		}
		_, err := fmt.Fprintf(p.w, "%-8s %-8s %d events lost: the set was read again; the changes found follow\n",
			c.Time.Format(timeLayout), "resync", c.Lost)
		return err
	}
	if p.format == JSON {
		j := listenerJSON(string(c.Kind), c.Socket)
		j.Time = c.Time.Format(time.RFC3339Nano)
		j.PID, j.Comm, j.CommB64 = c.PID, c.Comm, b64(c.Comm)
		j.FromResync = c.FromResync
		return p.enc.Encode(j)
	}
	by := ""
	if c.Kind == listeners.Close && c.PID != 0 {
		by = strconv.FormatUint(uint64(c.PID), 10) + "/" + escape(c.Comm)
	}
	return p.row(c.Time, string(c.Kind), c.Socket, by)
}
