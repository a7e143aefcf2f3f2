package bccbackend

import (
	"errors"
	"fmt"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/iovisor/gobpf/bcc"
	"golang.org/x/sys/unix"
)

// attachPerfEvent attaches a perf-event program on every online CPU, as
// bcc's attach_perf_event does: one perf event a CPU, counting every
// process, sampling at p.Freq a second or every p.Period events. The
// module closes them when it closes (and closes those opened already when
// one CPU fails).
func attachPerfEvent(mod *bcc.Module, p backend.Probe, fd int) error {
	if (p.Freq == 0) == (p.Period == 0) {
		return fmt.Errorf("attach perf %s: want a frequency or a period", p.Target)
	}
	log, err := captureStderrErr(func() error {
		return mod.AttachPerfEvent(int(p.PerfType), int(p.PerfConfig), int(p.Period), int(p.Freq), -1, -1, -1, fd)
	})
	if err == nil {
		return nil
	}
	var why string
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODEV):
		why = "this machine has no such event"
		if p.PerfType == 0 || p.PerfType == 3 {
			why += " (hardware events need the CPU's performance counters, which virtual machines often lack; software events such as cpu-clock work everywhere)"
		}
	case errors.Is(err, unix.EINVAL):
		why = "the kernel refuses this event or sampling (a frequency above kernel.perf_event_max_sample_rate?)"
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		why = "not permitted (root, or kernel.perf_event_paranoid)"
	}
	detail := backend.FirstDiagnostic(log)
	if why != "" {
		if detail != "" {
			why += "; libbcc: " + detail
		}
		return fmt.Errorf("attach perf %s: %w: %s", p.Target, err, why)
	}
	return backend.AttachError(p, err, detail)
}
