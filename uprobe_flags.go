package main

import (
	"github.com/urfave/cli/v2"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
)

// userProbeFlags are evtrace run's flags for user-space probes.
func userProbeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pid", Usage: "limit uprobes and USDT probes to process `PID` (USDT: read its probes and enable their semaphores in it)"},
		&cli.StringSliceFlag{Name: "usdt", Usage: "attach a USDT probe: `SPEC` is TARGET:[PROVIDER:]PROBE=PROGRAM, TARGET an absolute path, or pid (or left out) for --pid's process (repeatable)"},
	}
}

// parseUserProbeFlags reads --pid and --usdt.
func parseUserProbeFlags(c *cli.Context) (pid int, usdt []backend.USDT, err error) {
	id, err := parseID(c.String("pid"), "--pid", "a process id")
	if err != nil {
		return 0, nil, err
	}
	pid = int(id)
	for _, s := range c.StringSlice("usdt") {
		u, err := conventions.ParseUSDTSpec(s, pid)
		if err != nil {
			return 0, nil, usageError{err}
		}
		usdt = append(usdt, u)
	}
	return pid, usdt, nil
}
