package perf

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPerfPagesBounded: a ring size that would wrap pages*pagesize (2^52
// pages became a ring of 0 bytes, and every event was lost without a
// word) or that the kernel cannot map is refused before anything is
// loaded (session.Open checks with CheckPages: TestOpenRefusesBadPerfPages).
func TestPerfPagesBounded(t *testing.T) {
	max := MaxPages()
	for _, pages := range []int{1, 64, max} {
		if err := CheckPages(pages); err != nil {
			t.Errorf("%d pages: %v", pages, err)
		}
	}
	for _, pages := range []int{-8, 3, 2 * max, 1 << 52, 1 << 62} {
		if err := CheckPages(pages); err == nil {
			t.Errorf("%d pages accepted", pages)
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
