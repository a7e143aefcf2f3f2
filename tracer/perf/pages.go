package perf

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/evtrace/evtrace/tracer/kernel"
)

// DefaultPages is the size of each per-CPU perf ring, in pages. bcc uses
// 8; 64 (256 KiB with 4 KiB pages) rides out bursts of listen() calls and
// of cheaper events without loss.
const DefaultPages = 64

// MaxRingBytes bounds one perf ring (one per CPU and table): 256 MiB,
// 65536 pages of 4 KiB. The kernel allocates a ring's pages when it is
// mapped and keeps them while it is open; it refuses rings of more than
// about 2^19 pages, and a wakeup watermark (a quarter ring) must fit in 32
// bits. Rings past a few MiB only absorb longer stalls of the reader.
const MaxRingBytes = 256 << 20

// MaxPages is the most pages a perf ring may have with this machine's
// page size.
func MaxPages() int { return MaxRingBytes / os.Getpagesize() }

// CheckPages reports a perf ring size, in pages per CPU, that evtrace
// does not use: not a power of two (the kernel's rule), or more than
// MaxPages.
func CheckPages(pages int) error {
	if max := MaxPages(); pages < 1 || pages > max || pages&(pages-1) != 0 {
		return fmt.Errorf("%d: want a power of two from 1 to %d (a ring of at most %d MiB per CPU)", pages, max, MaxRingBytes>>20)
	}
	return nil
}

// CheckMemory refuses rings that would take more than half of the
// machine's memory for one table: the kernel allocates them up front.
func CheckMemory(pages int) error {
	cpus, err := kernel.OnlineCPUs()
	if err != nil {
		return nil // Open reports it
	}
	total, err := memTotal("/proc/meminfo")
	if err != nil {
		return nil // no limit known; the kernel's own checks remain
	}
	need := uint64(pages) * uint64(os.Getpagesize()) * uint64(len(cpus))
	if need > total/2 {
		return fmt.Errorf("%d pages per CPU on %d CPUs is %d MiB for each perf table, more than half of this machine's memory (%d MiB): use fewer pages", pages, len(cpus), need>>20, total>>20)
	}
	return nil
}

// memTotal reads MemTotal, in bytes, from a meminfo file.
func memTotal(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: MemTotal %q: %w", path, rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no MemTotal", path)
}
