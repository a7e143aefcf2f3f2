package output

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/readable"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// RecordPrinter prints decoded perf records of any struct (evtrace run):
// columns headed by the field names, or one JSON object per record with
// the fields in declaration order. With several tables, a TABLE column (or
// a "_table" key) says which one a record came from, and each table's
// rows sit under its own header, printed again when the table changes
// (trace lines, between records, under theirs).
type RecordPrinter struct {
	w          io.Writer
	format     Format
	multi      bool
	tableWidth int // of the TABLE column: the longest table name
	tables     map[string]*tableState
	last       string // the table of the last row printed
	enc        *json.Encoder
	traceFm    string
	formats    map[string]readable.Format // by member name (--field)
	fm         *readable.Formatter
	buf        []byte // a line, reused
	hbuf       []byte // a header line, reused
}

// tableState is what the printer keeps for a table, made at its first
// record.
type tableState struct {
	headed    bool              // its header is above the rows printed since
	widths    []int             // of its columns: as wide as their widest value yet
	keys      []string          // JSON: `"name":` for each field
	b64Keys   []string          // JSON: `"name_b64":` for each string field
	stackKeys []string          // JSON: `"name_stack":` for each field, used when it holds a stack id
	formats   []readable.Format // of each field ("": none)
	strKeys   []string          // JSON: `"name_str":` for each formatted field
	tableKey  string            // JSON: `"_table":"name",` with several tables
}

// NewRecordPrinter prints records of the given tables to w. traceFormat,
// if set, selects trace_pipe fields the way bcc's trace_print(fmt=...) does:
// {0} task, {1} pid, {2} cpu, {3} flags, {4} timestamp, {5} message.
func NewRecordPrinter(w io.Writer, format Format, tables []string, traceFormat string) *RecordPrinter {
	p := &RecordPrinter{
		w: w, format: format, multi: len(tables) > 1, tableWidth: len("TABLE"),
		tables: map[string]*tableState{},
		enc:    json.NewEncoder(w), traceFm: traceFormat,
	}
	for _, t := range tables {
		p.tableWidth = max(p.tableWidth, utf8.RuneCountInString(t))
	}
	return p
}

// Readable has members shown in their formats (--field): in text instead
// of the number, in JSON beside it, as "NAME_str" ("NAME_str_" when the
// struct has a member of that name). Call it before the first Record.
func (p *RecordPrinter) Readable(specs []readable.Spec, fm *readable.Formatter) {
	p.formats = map[string]readable.Format{}
	for _, s := range specs {
		p.formats[s.Member] = s.Format
	}
	p.fm = fm
}

func (p *RecordPrinter) table(name string, fields []layout.Field) *tableState {
	if t, ok := p.tables[name]; ok {
		return t
	}
	t := &tableState{}
	taken := map[string]bool{}
	if p.multi {
		k, _ := json.Marshal(name)
		t.tableKey = `"_table":` + string(k) + ","
		taken["_table"] = true
	}
	for _, f := range fields {
		taken[f.Name] = true
	}
	for _, f := range fields {
		format := p.formats[f.Name]
		t.formats = append(t.formats, format)
		strKey := ""
		if format != "" {
			name := f.Name + "_str"
			for taken[name] {
				name += "_"
			}
			taken[name] = true
			k, _ := json.Marshal(name)
			strKey = string(k) + ":"
		}
		t.strKeys = append(t.strKeys, strKey)
		width := columnWidth(f)
		if format != "" {
			width = readable.Width(format, f)
		}
		t.widths = append(t.widths, max(len(f.Name), width))
		k, _ := json.Marshal(f.Name)
		t.keys = append(t.keys, string(k)+":")
		b64Key := ""
		if f.Kind == layout.FieldString {
			// name_b64, unless the struct has a member of that name.
			name := f.Name + "_b64"
			for taken[name] {
				name += "_"
			}
			taken[name] = true
			k, _ := json.Marshal(name)
			b64Key = string(k) + ":"
		}
		t.b64Keys = append(t.b64Keys, b64Key)
		name := f.Name + "_stack"
		for taken[name] {
			name += "_"
		}
		taken[name] = true
		k, _ = json.Marshal(name)
		t.stackKeys = append(t.stackKeys, string(k)+":")
	}
	p.tables[name] = t
	return t
}

// Record prints one decoded record of table.
func (p *RecordPrinter) Record(table string, fields []layout.Field, vals []any) error {
	t := p.table(table, fields)
	if p.format == JSON {
		b := append(p.buf[:0], '{')
		b = append(b, t.tableKey...)
		for i, f := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			if st, ok := vals[i].(stacks.Stack); ok {
				// The id as a number, and the stack beside it.
				var err error
				if b, err = appendStackJSON(b, t.keys[i], t.stackKeys[i], st); err != nil {
					return fmt.Errorf("field %s: %w", f.Name, err)
				}
				continue
			}
			v, err := json.Marshal(vals[i])
			if err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
			b = append(b, t.keys[i]...)
			b = append(b, v...)
			if format := t.formats[i]; format != "" {
				s, _ := json.Marshal(p.fm.Format(format, f, vals[i], true))
				b = append(b, ',')
				b = append(b, t.strKeys[i]...)
				b = append(b, s...)
			}
			if s, ok := vals[i].(string); ok && t.b64Keys[i] != "" {
				if enc := b64(s); enc != "" {
					b = append(b, ',')
					b = append(b, t.b64Keys[i]...)
					b = append(b, '"')
					b = append(b, enc...)
					b = append(b, '"')
				}
			}
		}
		b = append(b, "}\n"...)
		p.buf = b
		_, err := p.w.Write(b)
		return err
	}
	// The hot path of evtrace run: one reused buffer, no fmt per field.
	line := p.buf[:0]
	if p.multi {
		line = appendCell(line, len(line), table, p.tableWidth, false)
	}
	for i, f := range fields {
		start := len(line)
		if format := t.formats[i]; format != "" {
			line = appendEscaped(line, p.fm.Format(format, f, vals[i], false))
		} else {
			line = appendValue(line, vals[i])
		}
		last := i == len(fields)-1
		if n := utf8.RuneCount(line[start:]); !last && n > t.widths[i] {
			// A wider value than the column's: the column grows, and
			// the header is printed again above this row.
			t.widths[i] = n
			t.headed = false
		}
		line = appendCell(line, start, "", t.widths[i], last)
	}
	line = append(line, '\n')
	line = appendStacks(line, vals)
	p.buf = line
	if !t.headed || p.last != table {
		// Rows sit under their own table's header: it is printed again
		// whenever the table changes, or trace lines came between.
		t.headed = true
		h := p.hbuf[:0]
		if p.multi {
			h = appendCell(h, len(h), "TABLE", p.tableWidth, false)
		}
		for i, f := range fields {
			h = appendCell(h, len(h), strings.ToUpper(f.Name), t.widths[i], i == len(fields)-1)
		}
		h = append(h, '\n')
		p.hbuf = h
		if _, err := p.w.Write(h); err != nil {
			return err
		}
	}
	p.last = table
	_, err := p.w.Write(line)
	return err
}

// appendCell appends s to b and pads the cell that began at start (s
// included) to width characters and a space, unless it is the last.
func appendCell(b []byte, start int, s string, width int, last bool) []byte {
	b = append(b, s...)
	if last {
		return b
	}
	for n := utf8.RuneCount(b[start:]); n < width; n++ {
		b = append(b, ' ')
	}
	return append(b, ' ')
}

// appendValue appends a decoded value as text.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case string:
		return appendEscaped(b, x)
	case stacks.Stack:
		return strconv.AppendInt(b, x.ID, 10)
	case *big.Int: // 128-bit integers
		return x.Append(b, 10)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	}
	return fmt.Append(b, v)
}

// columnWidth is a column's width before the header is considered: the
// widest value of an integer type (or array of them, up to maxArrayWidth),
// so that columns stay aligned. A wider value widens its column.
func columnWidth(f layout.Field) int {
	switch {
	case f.Kind == layout.FieldString:
		return min(f.Dims[0], 16)
	case f.Kind == layout.FieldPointer && len(f.Dims) == 0:
		return 18
	case f.Kind == layout.FieldBytes:
		return 12
	case len(f.Dims) > 0:
		elem := f
		elem.Dims = nil
		w := columnWidth(elem)
		for i := len(f.Dims) - 1; i >= 0; i-- {
			w = f.Dims[i]*w + f.Dims[i] - 1 + 2 // spaces between, brackets
		}
		if w > maxArrayWidth {
			return 12
		}
		return w
	case f.Bits > 0:
		if f.Kind == layout.FieldInt {
			return len(strconv.FormatInt(-1<<(f.Bits-1), 10))
		}
		return len(strconv.FormatUint(1<<f.Bits-1, 10))
	}
	var digits int
	switch f.Size {
	case 1:
		digits = 3
	case 2:
		digits = 5
	case 4:
		digits = 10
	case 16:
		digits = 39
	default:
		return 20 // an s64, minus sign included, is no wider than a u64
	}
	if f.Kind == layout.FieldInt {
		digits++ // the minus sign
	}
	return digits
}

// maxArrayWidth bounds the width an array column starts with.
const maxArrayWidth = 40

// traceRows is RecordPrinter.last after trace lines.
const traceRows = "\x00trace"

// TraceHeader prints the header of trace_pipe text output (none with a
// trace format). Trace prints it too, before trace lines that follow
// records.
func (p *RecordPrinter) TraceHeader() error {
	if p.traceFm != "" {
		return nil
	}
	p.last = traceRows
	return traceHeader(p.w, p.format)
}

// Trace prints one trace_pipe line.
func (p *RecordPrinter) Trace(l tracepipe.Line, wall time.Time) error {
	if p.traceFm != "" && p.format == Text {
		_, err := io.WriteString(p.w, FormatTrace(p.traceFm, l)+"\n")
		return err
	}
	if p.format == Text && p.last != traceRows {
		if err := p.TraceHeader(); err != nil {
			return err
		}
	}
	return writeTrace(p.w, p.enc, p.format, l, wall)
}

// FormatTrace fills bcc's trace_print format: {0} task, {1} pid, {2} cpu,
// {3} flags, {4} timestamp (seconds), {5} message; strings escaped as in
// every text column.
func FormatTrace(format string, l tracepipe.Line) string {
	return strings.NewReplacer(
		"{0}", escape(l.Task),
		"{1}", strconv.Itoa(l.PID),
		"{2}", strconv.Itoa(l.CPU),
		"{3}", escape(l.Flags),
		"{4}", strconv.FormatFloat(l.Time.Seconds(), 'f', 6, 64),
		"{5}", escape(l.Message),
	).Replace(format)
}

// ValidTraceFormat reports a format that names no field or a field past {5}.
func ValidTraceFormat(format string) error {
	found := false
	for i := 0; i < len(format); i++ {
		if format[i] != '{' {
			continue
		}
		end := strings.IndexByte(format[i:], '}')
		if end < 0 {
			return fmt.Errorf("--format %q: unclosed {", format)
		}
		n, err := strconv.Atoi(format[i+1 : i+end])
		if err != nil || n < 0 || n > 5 {
			return fmt.Errorf("--format %q: {%s}: fields are {0} task, {1} pid, {2} cpu, {3} flags, {4} timestamp, {5} message", format, format[i+1:i+end])
		}
		found = true
		i += end
	}
	if !found {
		return fmt.Errorf("--format %q names no field ({0}..{5})", format)
	}
	return nil
}
