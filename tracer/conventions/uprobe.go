package conventions

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
)

// parseUprobe parses the TARGET:SYMBOL part of a uprobe or uretprobe
// spec: SYMBOL, SYMBOL+OFFSET, or a raw virtual address 0xADDR (as
// bcc's attach_uprobe(addr=...) takes it: an address of the ELF, as nm
// and readelf print them, which the session turns into a file offset).
// The probe's Target is TARGET as given (a path or a library name); a raw
// address is kept in Symbol, as its 0x text, until the session resolves
// it (see RawAddress).
func parseUprobe(spec string, kind backend.ProbeKind, target, prog string) (backend.Probe, error) {
	i := strings.LastIndexByte(target, ':')
	if i <= 0 || i == len(target)-1 {
		return backend.Probe{}, fmt.Errorf("--attach %q: want %s:TARGET:SYMBOL=PROGRAM (TARGET a path or a library name such as c; SYMBOL a function, FUNCTION+OFFSET or a raw address 0xADDR)", spec, kind)
	}
	p := backend.Probe{Kind: kind, Target: target[:i], Program: prog}
	sym := target[i+1:]
	if strings.HasPrefix(sym, "0x") {
		if _, err := strconv.ParseUint(sym[2:], 16, 64); err != nil {
			return backend.Probe{}, fmt.Errorf("--attach %q: address %q: want hexadecimal digits after 0x", spec, sym)
		}
		if kind == backend.Uretprobe {
			return backend.Probe{}, fmt.Errorf("--attach %q: a uretprobe goes on a function's entry: name the function, not an address", spec)
		}
		p.Symbol = sym
		return p, nil
	}
	name, off, hasOff := strings.Cut(sym, "+")
	if !isSymbol(name) {
		return backend.Probe{}, fmt.Errorf("--attach %q: %q is not a symbol name", spec, name)
	}
	p.Symbol = name
	if hasOff {
		n, err := strconv.ParseUint(off, 0, 64)
		if err != nil {
			return backend.Probe{}, fmt.Errorf("--attach %q: offset %q: want a number (decimal or 0x hexadecimal)", spec, off)
		}
		if kind == backend.Uretprobe && n != 0 {
			return backend.Probe{}, fmt.Errorf("--attach %q: a uretprobe goes on a function's entry: no offset", spec)
		}
		p.Offset = n
	}
	return p, nil
}

// isSymbol accepts the names an ELF symbol table holds for functions: C
// identifiers and C++/Rust mangled names (letters, digits, _ . $).
func isSymbol(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if c != '_' && c != '.' && c != '$' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// RawAddress says whether a parsed uprobe names a raw virtual address
// (Symbol "0xADDR", which no symbol name can be) and returns it.
func RawAddress(p backend.Probe) (uint64, bool) {
	if !strings.HasPrefix(p.Symbol, "0x") {
		return 0, false
	}
	a, err := strconv.ParseUint(p.Symbol[2:], 16, 64)
	return a, err == nil
}

// ParseUSDTSpec parses --usdt TARGET:[PROVIDER:]PROBE=PROGRAM, bcc's
// USDT(path=TARGET).enable_probe(probe="[PROVIDER:]PROBE", fn_name=...).
// TARGET is an absolute path (a program or a library), or "pid" or left
// out (PROVIDER:PROBE, or :PROBE) for the process --pid names; pid is
// --pid's value (0: none).
func ParseUSDTSpec(s string, pid int) (backend.USDT, error) {
	left, prog, ok := strings.Cut(s, "=")
	if !ok || prog == "" || left == "" || !isIdent(prog) {
		return backend.USDT{}, fmt.Errorf("--usdt %q: want TARGET:[PROVIDER:]PROBE=PROGRAM, e.g. /usr/bin/python3:function__entry=on_call", s)
	}
	parts := strings.Split(left, ":")
	u := backend.USDT{Program: prog, Pid: pid}
	switch {
	case strings.HasPrefix(parts[0], "/"):
		u.Target, parts = parts[0], parts[1:]
	case (parts[0] == "pid" || parts[0] == "") && len(parts) > 1:
		parts = parts[1:]
	}
	if u.Target == "" && pid <= 0 {
		return backend.USDT{}, fmt.Errorf("--usdt %q: without a TARGET path, the probes are the process --pid names: give --pid", s)
	}
	switch len(parts) {
	case 1:
		u.Name = parts[0]
	case 2:
		u.Provider, u.Name = parts[0], parts[1]
		if u.Provider == "" {
			return backend.USDT{}, fmt.Errorf("--usdt %q: empty provider", s)
		}
	default:
		return backend.USDT{}, fmt.Errorf("--usdt %q: want TARGET:[PROVIDER:]PROBE=PROGRAM (TARGET an absolute path, or pid)", s)
	}
	if u.Name == "" {
		return backend.USDT{}, fmt.Errorf("--usdt %q: no probe name", s)
	}
	return u, nil
}
