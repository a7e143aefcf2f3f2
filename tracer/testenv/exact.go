package testenv

import "github.com/evtrace/evtrace/tracer/perf"

// ExactRuns is how many runs each case makes, and calls how many events
// each run causes.
const (
	ExactRuns  = 10
	ExactCalls = 1_000_000
)

// ExactCase is one load: calls at rate (0: as fast as one thread can),
// read through rings of pages pages.
type ExactCase struct {
	Name  string
	Calls int
	Rate  int
	Pages int
}

// The loads of the exactness tests (session and listen): as fast as one thread can, through bcc's ring size (the ring
// overflows), and at a rate the reader keeps up with through the default
// rings. listen() calls cost more (a socket each, and three programs on
// the tracepoint path): their paced case makes fewer, to stay short.
var (
	ExactPerfCases = []ExactCase{
		{"max", ExactCalls, 0, 8},
		{"paced", ExactCalls, 250_000, perf.DefaultPages},
	}
	ExactListenCases = []ExactCase{
		{"max", ExactCalls, 0, 8},
		{"paced", 200_000, 50_000, perf.DefaultPages},
	}
)
