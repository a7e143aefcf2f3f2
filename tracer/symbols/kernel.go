// Package symbols turns code addresses into symbol names, as bcc's
// BPF.ksym and BPF.sym do: kernel addresses through /proc/kallsyms, user
// addresses through a process's mappings (/proc/PID/maps) and the ELF
// symbols (.symtab, then .dynsym) of the files it maps, read through the
// kernel's handle of each mapping (/proc/PID/map_files). Pure Go.
package symbols

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Frame is one address and what it resolves to. Symbol is empty when
// it is unknown (printed "[unknown]", as bcc prints it); Module is the
// kernel module ("" for the kernel itself) or the mapped file's path, or
// a mapping's name such as "[vdso]".
type Frame struct {
	Addr   uint64
	Symbol string
	Offset uint64 // from the symbol's start
	Module string
}

// String is the frame as evtrace prints it: "symbol+0xoff [module]",
// "[unknown] [module]" or "[unknown]" (a mapping that is no file keeps
// its own brackets: "[unknown] [vdso]").
func (f Frame) String() string {
	var b strings.Builder
	if f.Symbol == "" {
		b.WriteString("[unknown]")
	} else {
		b.WriteString(f.Symbol)
		b.WriteString("+0x")
		b.WriteString(strconv.FormatUint(f.Offset, 16))
	}
	switch {
	case strings.HasPrefix(f.Module, "["): // [vdso], [heap], ...
		b.WriteString(" ")
		b.WriteString(f.Module)
	case f.Module != "":
		b.WriteString(" [")
		b.WriteString(f.Module)
		b.WriteString("]")
	}
	return b.String()
}

// ksym is one kernel text symbol.
type ksym struct {
	addr   uint64
	name   string
	module string
}

// Kernel is the kernel's text symbols, sorted by address.
type Kernel struct {
	syms []ksym
}

// Kallsyms is where the kernel lists its symbols.
const Kallsyms = "/proc/kallsyms"

// LoadKernel reads /proc/kallsyms.
func LoadKernel() (*Kernel, error) {
	f, err := os.Open(Kallsyms)
	if err != nil {
		return nil, fmt.Errorf("kernel symbols: %w", err)
	}
	defer f.Close()
	k, err := ParseKallsyms(f)
	if err != nil {
		return nil, fmt.Errorf("kernel symbols: %s: %w", Kallsyms, err)
	}
	return k, nil
}

// ParseKallsyms reads kallsyms' format ("ADDR TYPE NAME [MODULE]" a
// line) and keeps the text symbols (types t, T, w, W). Addresses that are
// all zero (kptr_restrict hides them from whoever lacks CAP_SYSLOG) are an
// error: they would make every frame a wrong symbol.
func ParseKallsyms(r io.Reader) (*Kernel, error) {
	var syms []ksym
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lines, zero := 0, 0
	for sc.Scan() {
		line := sc.Text()
		lines++
		fields := strings.Fields(line)
		if len(fields) < 3 || len(fields[1]) != 1 {
			return nil, fmt.Errorf("line %d: %q: want ADDRESS TYPE NAME", lines, line)
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: address %q: %w", lines, fields[0], err)
		}
		if addr == 0 {
			zero++
			continue
		}
		switch fields[1][0] {
		case 't', 'T', 'w', 'W':
		default:
			continue
		}
		s := ksym{addr: addr, name: fields[2]}
		if len(fields) > 3 {
			s.module = strings.Trim(fields[3], "[]")
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		if zero > 0 {
			return nil, fmt.Errorf("every address is 0 (hidden by kernel.kptr_restrict: root with CAP_SYSLOG sees them)")
		}
		return nil, fmt.Errorf("no text symbols")
	}
	slices.SortStableFunc(syms, func(a, b ksym) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	return &Kernel{syms: syms}, nil
}

// Len is how many text symbols the table holds.
func (k *Kernel) Len() int { return len(k.syms) }

// Lookup resolves a kernel address to the symbol at or below it: the
// kernel lists no sizes, so an address past a function's end is named
// after it, as bcc's ksym names it. An address below every symbol is
// unknown.
func (k *Kernel) Lookup(addr uint64) Frame {
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr }) - 1
	if i < 0 {
		return Frame{Addr: addr}
	}
	for i > 0 && k.syms[i-1].addr == k.syms[i].addr {
		i-- // the first listed of several symbols at one address
	}
	s := k.syms[i]
	return Frame{Addr: addr, Symbol: s.name, Offset: addr - s.addr, Module: s.module}
}
