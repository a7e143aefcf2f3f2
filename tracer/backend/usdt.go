package backend

import "fmt"

// USDT is a user statically defined tracepoint to attach a program to,
// as bcc's USDT(path=..., pid=...).enable_probe(probe, fn_name) names it:
// the probe's argument-reading code is generated for the program before
// it is compiled (bpf_usdt_readarg), then a uprobe goes on each of its
// locations.
type USDT struct {
	// Target is the binary (an absolute path: a program or a library);
	// "" with Pid: the process's own binary and libraries.
	Target string
	// Pid, when > 0, reads the probes of this process and enables their
	// semaphores in it; the uprobes are limited to it.
	Pid      int
	Provider string // "" : any provider with a probe of that name
	Name     string
	Program  string // the C function
}

func (u USDT) String() string {
	where := u.Target
	if where == "" {
		where = fmt.Sprintf("PID %d", u.Pid)
	} else if u.Pid > 0 {
		where += fmt.Sprintf(" (PID %d)", u.Pid)
	}
	if u.Provider != "" {
		return where + ":" + u.Provider + ":" + u.Name
	}
	return where + ":" + u.Name
}

// USDTLoader is a SourceLoader that also attaches USDT probes: it reads
// their notes before the compile, to generate their argument-reading
// code (libbcc's USDT API: bccbackend).
type USDTLoader interface {
	// LoadSourceUSDT is LoadSource with the argument-reading code of
	// these probes put before source. The Program it returns attaches a
	// uprobe at each of their locations with AttachUSDT, and closes the
	// probes' contexts (their semaphores) on Close.
	LoadSourceUSDT(name, source string, cflags []string, headersDir string, probes []USDT) (USDTProgram, error)
}

// USDTProgram is a Program with USDT probes.
type USDTProgram interface {
	Program
	// USDTProbes are the uprobes of the USDT probes' locations, to be
	// attached with Attach.
	USDTProbes() []Probe
}
