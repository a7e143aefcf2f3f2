package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tabletype"
)

// MapPrinter prints the maps of evtrace run. Text: each map under a
// "name:" line, histograms as bcc's print_log2_hist and print_linear_hist
// print them, other maps as key and value columns headed by the member
// names ("key" and "value" for scalars); with Stamp, each print starts with
// the time, as bcc's tools do with an interval. JSON: one object per map
// per print.
type MapPrinter struct {
	W      io.Writer
	Format Format
	// Stamp starts each text print with the time (HH:MM:SS).
	Stamp bool
}

// NewMapPrinter prints maps to w.
func NewMapPrinter(w io.Writer, format Format) *MapPrinter {
	return &MapPrinter{W: w, Format: format}
}

// Print prints one read of the maps.
func (p *MapPrinter) Print(snaps []tables.Snapshot) error {
	var b bytes.Buffer
	for i, s := range snaps {
		var err error
		if p.Format == JSON {
			err = mapJSON(&b, s)
		} else {
			if i == 0 && p.Stamp {
				b.WriteString(s.Time.Format(time.TimeOnly) + "\n")
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			err = mapText(&b, s)
		}
		if err != nil {
			return fmt.Errorf("map %s: %w", s.Map, err)
		}
	}
	_, err := p.W.Write(b.Bytes())
	return err
}

func histKind(m tables.Mode) HistKind {
	if m == tables.Log2 {
		return Log2
	}
	return Linear
}

func mapText(b *bytes.Buffer, s tables.Snapshot) error {
	if s.Mode == tables.Table {
		tableText(b, s)
		return nil
	}
	b.WriteString(escape(s.Map) + ":\n")
	if len(s.Sections) == 1 && len(s.Sections[0].Names) == 0 {
		counts := s.Sections[0].Counts
		var text string
		var err error
		if s.Mode == tables.Log2 {
			text, err = FormatLog2Hist(counts, s.Label, HistOptions{})
		} else {
			text = FormatLinearHist(counts, s.Label, HistOptions{})
		}
		b.WriteString(text)
		return err
	}
	secs := make([]HistSection, len(s.Sections))
	for i, sec := range s.Sections {
		secs[i] = HistSection{Header: sec.Names[0], Value: sectionValue(sec), Counts: sec.Counts}
	}
	text, err := FormatHistSections(histKind(s.Mode), secs, s.Label, HistOptions{})
	b.WriteString(text)
	return err
}

// sectionValue is a section's value as bcc prints it: Python's repr of
// the section member (b'sda' for a char array); members after the first
// follow as ", name = value".
func sectionValue(sec tables.Section) string {
	var parts []string
	for i, v := range sec.Values {
		s := pyRepr(v)
		if i > 0 {
			s = sec.Names[i] + " = " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func pyRepr(v tabletype.Value) string {
	if v.IsString() {
		return PyBytesRepr([]byte(v.Str))
	}
	return escape(v.String())
}

// tableText prints a map as columns: the key's members, then the
// value's, each as wide as its widest cell. Every cell is formatted once
// into one buffer (a table can have 100,000 rows).
func tableText(b *bytes.Buffer, s tables.Snapshot) {
	b.WriteString(escape(s.Map) + ":")
	switch {
	case s.Total == 0:
		b.WriteString(" no entries\n")
		return
	case len(s.Entries) < s.Total:
		fmt.Fprintf(b, " %d of %d entries\n", len(s.Entries), s.Total)
	default:
		b.WriteByte('\n')
	}
	leaves := append(append([]tabletype.Leaf(nil), s.KeyLeaves...), s.ValueLeaves...)
	cols := len(leaves)
	widths := make([]int, cols)
	cells := make([]byte, 0, (len(s.Entries)+1)*cols*12) // a guess: cells grow as needed
	ends := make([]int, 0, (len(s.Entries)+1)*cols)      // where each cell ends in cells
	add := func(col, start int) {
		widths[col] = max(widths[col], utf8.RuneCount(cells[start:]))
		ends = append(ends, len(cells))
	}
	for i, l := range leaves {
		start := len(cells)
		switch {
		case l.Name != "":
			cells = appendEscaped(cells, l.Name)
		case i < len(s.KeyLeaves):
			cells = append(cells, "key"...)
		default:
			cells = append(cells, "value"...)
		}
		add(i, start)
	}
	var scratch []byte
	for _, e := range s.Entries {
		for i, l := range leaves {
			from := e.Key
			if i >= len(s.KeyLeaves) {
				from = e.Value
			}
			start := len(cells)
			if v, ok := from.At(l.Path); ok {
				scratch, _ = v.AppendText(scratch[:0])
				cells = appendEscaped(cells, string(scratch))
			}
			add(i, start)
		}
	}
	b.Grow(len(cells) + len(ends)*4)
	start := 0
	for n, end := range ends {
		col := n % cols
		cell := cells[start:end]
		b.Write(cell)
		if col < cols-1 {
			for pad := widths[col] - utf8.RuneCount(cell) + 2; pad > 0; pad-- {
				b.WriteByte(' ')
			}
		} else {
			b.WriteByte('\n')
			if row := n / cols; row > 0 && len(s.Entries[row-1].Stacks) > 0 {
				scratch = scratch[:0]
				for _, st := range s.Entries[row-1].Stacks {
					scratch = appendStack(scratch, st)
				}
				b.Write(scratch)
			}
		}
		start = end
	}
}

// MapJSON is one map as -o json prints it.
type MapJSON struct {
	Time     string        `json:"time"` // RFC 3339, nanoseconds
	Map      string        `json:"map"`
	Type     string        `json:"type"`             // the kernel's map type
	Entries  []EntryJSON   `json:"entries,omitzero"` // a table (empty, not nil)
	Total    int           `json:"total,omitzero"`   // entries before --top, when it cut
	Hist     string        `json:"hist,omitempty"`   // "log2" or "linear"
	Label    string        `json:"label,omitempty"`
	Sections []SectionJSON `json:"sections,omitzero"`
}

// EntryJSON is one entry of a table; CPUs is a per-CPU map's values, one
// per possible CPU, of which Value is the sum.
type EntryJSON struct {
	Key   tabletype.Value   `json:"key"`
	Value tabletype.Value   `json:"value"`
	CPUs  []tabletype.Value `json:"cpus,omitempty"`
	// Stacks are the key's stack ids as stacks, by member.
	Stacks map[string]stacks.Stack `json:"stacks,omitempty"`
}

// SectionJSON is one histogram: the key's other members (absent for a
// key that is only a slot) and the buckets up to the last non-empty one.
type SectionJSON struct {
	Section map[string]tabletype.Value `json:"section,omitempty"`
	Buckets []HistBucket               `json:"buckets"`
}

func mapJSON(b *bytes.Buffer, s tables.Snapshot) error {
	m := MapJSON{Time: s.Time.Format(time.RFC3339Nano), Map: s.Map, Type: s.Kind}
	if s.Mode == tables.Table {
		m.Entries = make([]EntryJSON, len(s.Entries)) // [] when empty
		for i, e := range s.Entries {
			m.Entries[i] = EntryJSON{Key: e.Key, Value: e.Value, CPUs: e.CPUs}
			for _, st := range e.Stacks {
				if m.Entries[i].Stacks == nil {
					m.Entries[i].Stacks = map[string]stacks.Stack{}
				}
				m.Entries[i].Stacks[st.Member] = st
			}
		}
		if len(s.Entries) < s.Total {
			m.Total = s.Total
		}
	} else {
		m.Hist, m.Label = s.Mode.String(), s.Label
		for _, sec := range s.Sections {
			var j SectionJSON
			var err error
			if s.Mode == tables.Log2 {
				j.Buckets, err = Log2Buckets(sec.Counts)
			} else {
				j.Buckets = LinearBuckets(sec.Counts)
			}
			if err != nil {
				return err
			}
			if j.Buckets == nil {
				j.Buckets = []HistBucket{}
			}
			if len(sec.Names) > 0 {
				j.Section = map[string]tabletype.Value{}
				for i, n := range sec.Names {
					j.Section[n] = sec.Values[i]
				}
			}
			m.Sections = append(m.Sections, j)
		}
	}
	enc := json.NewEncoder(b)
	return enc.Encode(m)
}
