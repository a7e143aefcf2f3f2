package kernel_test

import (
	"slices"
	"testing"

	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
)

// TestTraceableFunctions reads this machine's lists: whichever file it
// comes from, the functions every kernel has are there and the
// perf functions are not.
func TestTraceableFunctions(t *testing.T) {
	testenv.RequireRoot(t)
	fns, err := kernel.TraceableFunctions()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d functions from %s, %d blacklisted", len(fns.Names), fns.From, fns.Blacklisted)
	if len(fns.Names) < 1000 {
		t.Errorf("only %d functions from %s", len(fns.Names), fns.From)
	}
	for _, name := range []string{"vfs_read", "do_sys_openat2", "inet_listen"} {
		if _, found := slices.BinarySearch(fns.Names, name); !found {
			t.Errorf("%s is not in the list from %s", name, fns.From)
		}
	}
	if _, found := slices.BinarySearch(fns.Names, "perf_event_open"); found {
		t.Errorf("perf_event_open is in the list: perf functions are left out")
	}
}
