package bpfmap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// possiblePath is where the kernel lists the CPUs that may ever come
// online: a per-CPU map holds one value for each of them.
const possiblePath = "/sys/devices/system/cpu/possible"

// PossibleCPUs returns the ids of the machine's possible CPUs in
// ascending order, from /sys/devices/system/cpu/possible. A per-CPU map's
// entry holds one value per possible CPU, in this order: Values[i] of an
// Entry belongs to CPU PossibleCPUs()[i].
func PossibleCPUs() ([]int, error) {
	b, err := os.ReadFile(possiblePath)
	if err != nil {
		return nil, fmt.Errorf("possible CPUs: %w", err)
	}
	cpus, err := parseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("possible CPUs: %s: %w", possiblePath, err)
	}
	return cpus, nil
}

// parseCPUList parses the kernel's CPU list format: comma-separated ids
// and inclusive ranges, such as "0-3,8,10-11".
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty CPU list")
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		if len(cpus) > 0 && first <= cpus[len(cpus)-1] {
			return nil, fmt.Errorf("bad CPU list %q: not ascending", s)
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
