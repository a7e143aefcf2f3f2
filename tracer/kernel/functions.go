package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Functions is the list of kernel functions a kprobe may be attached to,
// and where it came from.
type Functions struct {
	Names []string // sorted, each once
	// From says which file listed them: available_filter_functions, or
	// /proc/kallsyms when that cannot be read.
	From string
	// Blacklisted is how many functions the kprobe blacklist removed.
	Blacklisted int
}

// TraceableFunctions lists the kernel functions kprobes can attach to:
// tracefs's available_filter_functions where it can be read (the functions
// ftrace can trace: neither inlined nor notrace), else the text symbols of
// /proc/kallsyms outside the init and irqentry sections, as bcc's
// get_kprobe_functions reads them. Either way, without the kprobe
// blacklist (debugfs's kprobes/blacklist, NOKPROBE_SYMBOL) and the names
// that bcc also leaves out: _kbl_addr_*, __perf*, perf_* (the perf code
// kprobes run through), __SCT__* (static call trampolines) and gcc's
// *.cold parts.
func TraceableFunctions() (Functions, error) {
	black, err := readBlacklist(filepath.Join(debugfsDir, "kprobes", "blacklist"))
	if err != nil {
		return Functions{}, err
	}
	var fns Functions
	if dir, derr := findTraceFS(); derr == nil && dir != "" {
		path := filepath.Join(dir, "available_filter_functions")
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			names, err := parseFilterFunctions(f)
			if err != nil {
				return Functions{}, fmt.Errorf("read %s: %w", path, err)
			}
			fns = Functions{Names: names, From: path}
		}
	}
	if fns.From == "" {
		f, err := os.Open("/proc/kallsyms")
		if err != nil {
			return Functions{}, fmt.Errorf("list kernel functions: %w", err)
		}
		defer f.Close()
		names, err := parseKallsymsFunctions(f)
		if err != nil {
			return Functions{}, fmt.Errorf("read /proc/kallsyms: %w", err)
		}
		fns = Functions{Names: names, From: "/proc/kallsyms"}
	}
	fns.Names, fns.Blacklisted = filterFunctions(fns.Names, black)
	return fns, nil
}

// parseFilterFunctions reads available_filter_functions: "name" or
// "name [module]" a line (and, on 6.x, "__ftrace_invalid_address___N"
// for functions ftrace lost track of, left out).
func parseFilterFunctions(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), " ")
		name = strings.TrimSpace(name)
		if name == "" || strings.HasPrefix(name, "__ftrace_invalid_address__") {
			continue
		}
		names = append(names, name)
	}
	return names, sc.Err()
}

// parseKallsymsFunctions reads /proc/kallsyms's text symbols ("ADDR t
// NAME [module]"), leaving out those between __init_begin and __init_end
// (freed after boot) and between __irqentry_text_start and
// __irqentry_text_end (not probeable), as bcc does.
func parseKallsymsFunctions(r io.Reader) ([]string, error) {
	var names []string
	skipTo := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		typ, name := f[1], f[2]
		switch {
		case skipTo != "":
			if name == skipTo {
				skipTo = ""
			}
			continue
		case name == "__init_begin":
			skipTo = "__init_end"
			continue
		case name == "__irqentry_text_start":
			skipTo = "__irqentry_text_end"
			continue
		}
		switch typ {
		case "t", "T", "w", "W":
			names = append(names, name)
		}
	}
	return names, sc.Err()
}

// readBlacklist reads the kprobe blacklist ("0xSTART-0xEND\tNAME [module]"
// a line). A missing file (no debugfs, or kprobes not built) or one root
// may not read is an empty list, as for bcc.
func readBlacklist(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the kprobe blacklist: %w", err)
	}
	defer f.Close()
	black := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 {
			black[fields[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the kprobe blacklist: %w", err)
	}
	return black, nil
}

// filterFunctions sorts names, removes duplicates (static functions of the
// same name in several files), the blacklisted and the names kprobes must
// not touch; it returns how many the blacklist removed.
func filterFunctions(names []string, black map[string]bool) ([]string, int) {
	sort.Strings(names)
	out := names[:0]
	blacklisted := 0
	for i, n := range names {
		if i > 0 && names[i-1] == n {
			continue
		}
		if black[n] {
			blacklisted++
			continue
		}
		if unprobeable(n) {
			continue
		}
		out = append(out, n)
	}
	return out, blacklisted
}

func unprobeable(name string) bool {
	for _, p := range []string{"_kbl_addr_", "__perf", "perf_", "__SCT__"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	// gcc's split-off cold parts: "f.cold", "f.cold.12".
	if i := strings.Index(name, ".cold"); i > 0 {
		rest := name[i+len(".cold"):]
		if rest == "" || (rest[0] == '.' && strings.Trim(rest[1:], "0123456789") == "" && len(rest) > 1) {
			return true
		}
	}
	return false
}
