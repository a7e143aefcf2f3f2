// Package conventions applies bcc's naming conventions to a program: the
// C function names that say where to attach (kprobe__FUNC,
// TRACEPOINT_PROBE, ...), the kernel's spelling of syscall functions, the
// --attach syntax, and what a source uses (bpf_trace_printk,
// BPF_PERF_ARRAY). Pure Go; shared by the session (auto-attach) and the
// runner (evtrace run).
package conventions

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
)

// syscallPrefixes are the spellings a probe may use for a syscall's kernel
// function, as bcc accepts them; all are rewritten to the running kernel's.
var syscallPrefixes = []string{"sys_", "__x64_sys_", "__x32_compat_sys_", "__ia32_compat_sys_", "__arm64_sys_", "__s390x_sys_", "__s390_sys_"}

// SyscallPrefix returns the prefix of syscall functions in the running
// kernel: "__x64_sys_" (x86-64 since 4.17), "__arm64_sys_", or "sys_".
func SyscallPrefix(hasSymbol func(string) bool) string {
	for _, p := range []string{"__x64_sys_", "__arm64_sys_", "__s390x_sys_"} {
		if hasSymbol(p + "bpf") {
			return p
		}
	}
	return "sys_"
}

// fixSyscallName rewrites "sys_listen" (or another arch's spelling) to the
// kernel's own name, e.g. "__x64_sys_listen"; other names are unchanged.
func fixSyscallName(name, prefix string) string {
	for _, p := range syscallPrefixes {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return prefix + rest
		}
	}
	return name
}

// ProbeForFunction applies bcc's naming conventions to a C function name:
// kprobe__FUNC, kretprobe__FUNC, tracepoint__CATEGORY__EVENT (what
// TRACEPOINT_PROBE defines), raw_tracepoint__EVENT, and kfunc__FUNC /
// kretfunc__FUNC (what KFUNC_PROBE / KRETFUNC_PROBE define: fentry, fexit). ok is false for any
// other name: such functions are helpers, or attached explicitly.
func ProbeForFunction(name, syscallPrefix string) (p backend.Probe, ok bool) {
	switch {
	case strings.HasPrefix(name, "kprobe__"):
		return backend.Probe{Kind: backend.Kprobe, Target: fixSyscallName(name[len("kprobe__"):], syscallPrefix), Program: name}, len(name) > len("kprobe__")
	case strings.HasPrefix(name, "kretprobe__"):
		return backend.Probe{Kind: backend.Kretprobe, Target: fixSyscallName(name[len("kretprobe__"):], syscallPrefix), Program: name}, len(name) > len("kretprobe__")
	case strings.HasPrefix(name, "tracepoint__"):
		cat, ev, found := strings.Cut(name[len("tracepoint__"):], "__")
		if !found || cat == "" || ev == "" {
			return backend.Probe{}, false
		}
		return backend.Probe{Kind: backend.Tracepoint, Target: cat + ":" + ev, Program: name}, true
	case strings.HasPrefix(name, "kfunc__"):
		return backend.Probe{Kind: backend.Fentry, Target: name[len("kfunc__"):], Program: name}, len(name) > len("kfunc__")
	case strings.HasPrefix(name, "kretfunc__"):
		return backend.Probe{Kind: backend.Fexit, Target: name[len("kretfunc__"):], Program: name}, len(name) > len("kretfunc__")
	case strings.HasPrefix(name, "raw_tracepoint__"):
		return backend.Probe{Kind: backend.RawTracepoint, Target: name[len("raw_tracepoint__"):], Program: name}, len(name) > len("raw_tracepoint__")
	}
	return backend.Probe{}, false
}

// ErrNothingToAttach says that a program has no function that bcc's
// conventions (ProbeForFunction) attach, naming all six of them.
func ErrNothingToAttach(name string) error {
	return fmt.Errorf("%s: nothing to attach: name a function kprobe__FUNC, kretprobe__FUNC, "+
		"tracepoint__CATEGORY__EVENT (TRACEPOINT_PROBE), raw_tracepoint__EVENT, "+
		"kfunc__FUNC (KFUNC_PROBE) or kretfunc__FUNC (KRETFUNC_PROBE), or attach one with --attach", name)
}

// ParseAttachSpec parses an explicit attachment, as --attach gives it:
// kprobe:FUNC=PROG, kretprobe:FUNC=PROG, tracepoint:CAT:EVENT=PROG or
// raw_tracepoint:EVENT=PROG (bcc's attach_kprobe(event=FUNC, fn_name=PROG)),
// uprobe:TARGET:SYMBOL=PROG and uretprobe:TARGET:SYMBOL=PROG (see
// parseUprobe). A kprobe's FUNC may be a pattern (see FunctionPattern),
// as bcc's attach_kprobe(event_re=...).
func ParseAttachSpec(s, syscallPrefix string) (backend.Probe, error) {
	kind, rest, ok := strings.Cut(s, ":")
	target, prog, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || target == "" || prog == "" {
		return backend.Probe{}, fmt.Errorf("--attach %q: want KIND:TARGET=PROGRAM, e.g. kprobe:inet_listen=trace_listen", s)
	}
	switch kind {
	case "kprobe", "kretprobe":
		p := backend.Probe{Kind: backend.Kprobe, Target: target, Program: prog}
		if kind == "kretprobe" {
			p.Kind = backend.Kretprobe
		}
		pattern, err := FunctionPattern(target)
		if err != nil {
			return backend.Probe{}, fmt.Errorf("--attach %q: %w", s, err)
		}
		if p.Pattern = pattern; pattern == "" {
			p.Target = fixSyscallName(target, syscallPrefix)
		}
		return p, nil
	case "tracepoint":
		if c, e, ok := strings.Cut(target, ":"); !ok || c == "" || e == "" {
			return backend.Probe{}, fmt.Errorf("--attach %q: a tracepoint is CATEGORY:EVENT", s)
		}
		return backend.Probe{Kind: backend.Tracepoint, Target: target, Program: prog}, nil
	case "raw_tracepoint":
		return backend.Probe{Kind: backend.RawTracepoint, Target: target, Program: prog}, nil
	case "fentry":
		return backend.Probe{Kind: backend.Fentry, Target: target, Program: prog}, nil
	case "fexit":
		return backend.Probe{Kind: backend.Fexit, Target: target, Program: prog}, nil
	case "uprobe":
		return parseUprobe(s, backend.Uprobe, target, prog)
	case "uretprobe":
		return parseUprobe(s, backend.Uretprobe, target, prog)
	case "perf":
		return parsePerfSpec(s, rest)
	}
	return backend.Probe{}, fmt.Errorf("--attach %q: unknown kind %q (want kprobe, kretprobe, tracepoint, raw_tracepoint, fentry, fexit, uprobe, uretprobe or perf)", s, kind)
}

// CallsTracePrintk says whether C source calls bpf_trace_printk outside
// comments and string literals: then its output is on the trace pipe, which
// is one reader for the whole machine, so it is only opened when needed.
func CallsTracePrintk(source string) bool {
	return strings.Contains(stripComments(source), "bpf_trace_printk")
}

// perfArrayRe finds bcc's BPF_PERF_ARRAY declarations: perf event arrays
// of hardware counters (read with perf_read), not output to read.
var perfArrayRe = regexp.MustCompile(`\bBPF_PERF_ARRAY\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)`)

// PerfArrays names the BPF_PERF_ARRAY tables that C source declares
// outside comments.
func PerfArrays(source string) []string {
	var names []string
	for _, m := range perfArrayRe.FindAllStringSubmatch(stripComments(source), -1) {
		names = append(names, m[1])
	}
	return names
}

// histogramRe finds bcc's histogram declarations: BPF_HISTOGRAM(name, ...)
// and BPF_TABLE("histogram", key, leaf, name, size) (BPF_F_TABLE too).
var histogramRe = regexp.MustCompile(`\b(BPF_HISTOGRAM|BPF_F_TABLE|BPF_TABLE)\s*\(`)

// Histograms names the maps that C source declares as bcc histograms,
// outside comments, in order.
func Histograms(source string) []string {
	code, src := stripComments(source), strip(source, true)
	var names []string
	for _, m := range histogramRe.FindAllStringSubmatchIndex(code, -1) {
		args := macroArgs(src[m[1]:])
		name := ""
		switch macro := src[m[2]:m[3]]; {
		case macro == "BPF_HISTOGRAM" && len(args) >= 1:
			name = args[0]
		case macro != "BPF_HISTOGRAM" && len(args) >= 4 && args[0] == `"histogram"`:
			name = args[3]
		}
		if isIdent(name) {
			names = append(names, name)
		}
	}
	return names
}

// macroArgs splits the arguments of a macro call whose opening
// parenthesis precedes s, at the commas outside nested parentheses;
// nil if the call is not closed.
func macroArgs(s string) []string {
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return append(args, strings.TrimSpace(s[start:i]))
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return nil
}

// isIdent says whether s is a C identifier.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && (i == 0 || !(c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// log2Re finds calls of bcc's bpf_log2 and bpf_log2l helpers.
var log2Re = regexp.MustCompile(`\bbpf_log2l?\s*\(`)

// UsesLog2 says whether C source calls bpf_log2 or bpf_log2l outside
// comments: bcc's tools print their histograms with print_log2_hist
// when they bucket by those, print_linear_hist otherwise.
func UsesLog2(source string) bool { return log2Re.MatchString(stripComments(source)) }

// stripComments returns C source with its comments and the contents of
// its string and character literals blanked out.
func stripComments(src string) string { return strip(src, false) }

// strip returns C source with its comments, and the contents of its string
// and character literals unless keepStrings, replaced by spaces: offsets
// are those of src, and newlines stay.
func strip(src string, keepStrings bool) string {
	b := []byte(src)
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
	}
	for i := 0; i < len(src); i++ {
		switch {
		case strings.HasPrefix(src[i:], "//"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			blank(i, i+end)
			i += end - 1
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				blank(i, len(src))
				return string(b)
			}
			blank(i, i+2+end+2)
			i += 2 + end + 1
		case src[i] == '"' || src[i] == '\'':
			quote, start := src[i], i+1
			for i++; i < len(src) && src[i] != quote && src[i] != '\n'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			if !keepStrings {
				blank(start, min(i, len(src)))
			}
		}
	}
	return string(b)
}

// FunctionPattern turns a kprobe target that names several functions
// into a regular expression matching whole names: "re:REGEX" (Go's
// syntax, as bcc's event_re with Python's re.fullmatch), or a shell
// glob with *, ? and [...] ("vfs_*", "tcp_v[46]_connect"). It returns ""
// for a plain function name.
func FunctionPattern(target string) (string, error) {
	if re, ok := strings.CutPrefix(target, "re:"); ok {
		if re == "" {
			return "", fmt.Errorf("re: wants a regular expression")
		}
		if _, err := regexp.Compile(re); err != nil {
			return "", fmt.Errorf("bad regular expression: %w", err)
		}
		return "^(?:" + re + ")$", nil
	}
	if !strings.ContainsAny(target, "*?[") {
		return "", nil
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(target); i++ {
		switch c := target[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			end := strings.IndexByte(target[i+1:], ']')
			if end <= 0 {
				return "", fmt.Errorf("glob %q: [ without a closing ]", target)
			}
			class := target[i+1 : i+1+end]
			b.WriteString("[")
			if class[0] == '!' {
				b.WriteString("^")
				class = class[1:]
			}
			b.WriteString(strings.ReplaceAll(class, `\`, `\\`))
			b.WriteString("]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	if _, err := regexp.Compile(b.String()); err != nil {
		return "", fmt.Errorf("glob %q: %w", target, err)
	}
	return b.String(), nil
}
