package session

import (
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/perf"
)

// TestOpenRefusesBadPerfPages: a ring size that would wrap
// pages*pagesize (2^52 pages became a ring of 0 bytes, and every event was
// lost without a word) or that the kernel cannot map is refused before
// anything is loaded, whoever calls Open.
func TestOpenRefusesBadPerfPages(t *testing.T) {
	for _, pages := range []int{-8, 3, 2 * perf.MaxPages(), 1 << 52, 1 << 62} {
		_, err := Open(backend.Set{}, Spec{Name: "x.c", Source: "int x;", PerfPages: pages})
		if err == nil || !strings.HasPrefix(err.Error(), "perf buffer pages ") || !strings.Contains(err.Error(), "want a power of two from 1 to") {
			t.Errorf("Open with %d pages: %v", pages, err)
		}
	}
}
