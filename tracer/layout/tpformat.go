package layout

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// tracepointField is one field of a tracepoint's format file.
type tracepointField struct {
	decl   string // as declared: "const void * skaddr", "__u8 saddr[4]"
	name   string
	offset int
	size   int
	signed bool
}

// parseTracepointFormat reads the fields of a format file
// (events/CATEGORY/EVENT/format), lines such as
//
//	field:__u16 sport;	offset:24;	size:2;	signed:0;
func parseTracepointFormat(text string) ([]tracepointField, error) {
	var fields []tracepointField
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "field:") {
			continue
		}
		var f tracepointField
		var seen int
		for _, part := range strings.Split(line, ";") {
			key, val, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				continue
			}
			var err error
			switch key {
			case "field":
				f.decl = strings.TrimSpace(val)
				seen |= 1
			case "offset":
				f.offset, err = strconv.Atoi(val)
				seen |= 2
			case "size":
				f.size, err = strconv.Atoi(val)
				seen |= 4
			case "signed":
				f.signed = val == "1"
			}
			if err != nil {
				return nil, fmt.Errorf("format line %q: %w", line, err)
			}
		}
		if seen != 7 || f.size <= 0 || f.offset < 0 {
			return nil, fmt.Errorf("format line %q: want field, offset and size", line)
		}
		// The name is the last word once array brackets are gone:
		// "__u8 saddr[4]", "__data_loc char[] name", "const void * p".
		decl := f.decl
		for {
			i := strings.IndexByte(decl, '[')
			j := strings.IndexByte(decl, ']')
			if i < 0 || j < i {
				break
			}
			decl = decl[:i] + " " + decl[j+1:]
		}
		words := strings.FieldsFunc(decl, func(r rune) bool { return r == ' ' || r == '*' || r == '\t' })
		name := ""
		if len(words) >= 2 {
			name = words[len(words)-1]
		}
		if !probes.IsIdent(name) {
			return nil, fmt.Errorf("format line %q: no field name", line)
		}
		f.name = name
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("no fields")
	}
	return fields, nil
}

// tracepointStruct declares struct tracepoint__CAT__EVENT, the type of a
// tracepoint program's argument, as bcc generates it for TRACEPOINT_PROBE:
// every field at its offset, integers by size and signedness, arrays and
// anything else as bytes, pointers as 64-bit integers. Only C's own types
// are used: the struct comes before any header.
func tracepointStruct(category, event string, fields []tracepointField) (string, error) {
	var b strings.Builder
	tag := "tracepoint__" + category + "__" + event
	fmt.Fprintf(&b, "struct %s {\n", tag)
	pos := 0
	for _, f := range fields {
		if f.offset < pos {
			return "", fmt.Errorf("%s:%s: field %s overlaps the one before", category, event, f.name)
		}
		if f.offset > pos {
			fmt.Fprintf(&b, "\tunsigned char __pad_%d[%d];\n", pos, f.offset-pos)
		}
		fmt.Fprintf(&b, "\t%s;\n", fieldDecl(f))
		pos = f.offset + f.size
	}
	b.WriteString("};\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "_Static_assert(__builtin_offsetof(struct %s, %s) == %d, \"%s\");\n", tag, f.name, f.offset, f.name)
	}
	return b.String(), nil
}

func fieldDecl(f tracepointField) string {
	isArray := strings.Contains(f.decl, "[")
	isPointer := strings.Contains(f.decl, "*")
	if !isArray && !isPointer && !strings.HasPrefix(f.decl, "__data_loc") {
		switch f.size {
		case 1, 2, 4, 8:
			t := map[int]string{1: "char", 2: "short", 4: "int", 8: "long long"}[f.size]
			if f.signed {
				return "signed " + t + " " + f.name
			}
			return "unsigned " + t + " " + f.name
		}
	}
	if isPointer && f.size == 8 {
		return "unsigned long long " + f.name
	}
	if strings.HasPrefix(f.decl, "__data_loc") && f.size == 4 {
		return "unsigned int " + f.name
	}
	return fmt.Sprintf("unsigned char %s[%d]", f.name, f.size)
}

// TracepointStructs declares the argument structs of the tracepoints
// (CATEGORY:EVENT) from the running kernel's format files.
func TracepointStructs(tracepoints []string) (string, error) {
	var b strings.Builder
	done := map[string]bool{}
	for _, tp := range tracepoints {
		if done[tp] {
			continue
		}
		done[tp] = true
		cat, event, ok := strings.Cut(tp, ":")
		if !ok {
			return "", fmt.Errorf("tracepoint %q: want CATEGORY:EVENT", tp)
		}
		dir, err := kernel.TraceFS()
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "events", cat, event, "format")
		text, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("tracepoint %s: %w", tp, err)
		}
		fields, err := parseTracepointFormat(string(text))
		if err != nil {
			return "", fmt.Errorf("tracepoint %s: %s: %w", tp, path, err)
		}
		s, err := tracepointStruct(cat, event, fields)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
