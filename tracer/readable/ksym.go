package readable

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Ksyms is the kernel's symbol table, from /proc/kallsyms, sorted by
// address: enough to name the function an address is in, as bcc's
// BPF.ksym does. (Stacks get their own symbolizer; this is the small one
// --field needs.)
type Ksyms struct {
	addrs []uint64
	names []string // "name" or "name [module]"
}

// LoadKsyms reads a kallsyms file.
func LoadKsyms(path string) (*Ksyms, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseKsyms(f, path)
}

func parseKsyms(r io.Reader, path string) (*Ksyms, error) {
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	sc := bufio.NewScanner(r)
	nonzero := false
	for sc.Scan() {
		// ADDRESS TYPE NAME [MODULE]
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil {
			continue
		}
		switch fields[1] {
		case "t", "T", "w", "W": // functions (and weak ones)
		default:
			continue
		}
		name := fields[2]
		if len(fields) > 3 {
			name += " " + fields[3]
		}
		nonzero = nonzero || addr != 0
		syms = append(syms, sym{addr, name})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !nonzero {
		return nil, errors.New(path + " lists no function addresses (all zero: kptr_restrict, or not root)")
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	k := &Ksyms{addrs: make([]uint64, len(syms)), names: make([]string, len(syms))}
	for i, s := range syms {
		k.addrs[i], k.names[i] = s.addr, s.name
	}
	return k, nil
}

// Symbolize names the function addr is in, "name+0xoff" (with " [module]"
// for a module's), or "[unknown]" below the first function, as bcc does.
func (k *Ksyms) Symbolize(addr uint64) string {
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	if i < 0 || addr == 0 {
		return "[unknown]"
	}
	name, mod, _ := strings.Cut(k.names[i], " ")
	s := name + "+0x" + strconv.FormatUint(addr-k.addrs[i], 16)
	if mod != "" {
		s += " " + mod
	}
	return s
}
