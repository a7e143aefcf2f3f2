package tracer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPerfPagesBounded: a ring size that would wrap pages*pagesize (2^52
// pages became a ring of 0 bytes, and every event was lost without a
// word) or that the kernel cannot map is refused before anything is
// loaded, whoever calls Open.
func TestPerfPagesBounded(t *testing.T) {
	max := MaxPerfPages()
	for _, pages := range []int{1, 64, max} {
		if err := CheckPerfPages(pages); err != nil {
			t.Errorf("%d pages: %v", pages, err)
		}
	}
	for _, pages := range []int{-8, 3, 2 * max, 1 << 52, 1 << 62} {
		if err := CheckPerfPages(pages); err == nil {
			t.Errorf("%d pages accepted", pages)
		}
		_, err := Open(Spec{Name: "x.c", Source: "int x;", PerfPages: pages})
		if err == nil || !strings.HasPrefix(err.Error(), "perf buffer pages ") || !strings.Contains(err.Error(), "want a power of two from 1 to") {
			t.Errorf("Open with %d pages: %v", pages, err)
		}
	}
}

func TestMemTotal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	os.WriteFile(path, []byte("MemFree:  100 kB\nMemTotal:        2014504 kB\n"), 0o644)
	if n, err := memTotal(path); err != nil || n != 2014504<<10 {
		t.Errorf("memTotal = %d, %v", n, err)
	}
	os.WriteFile(path, []byte("MemFree:  100 kB\n"), 0o644)
	if _, err := memTotal(path); err == nil {
		t.Error("no MemTotal accepted")
	}
}
