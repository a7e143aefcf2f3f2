package conventions

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
)

// The perf_event_attr types (include/uapi/linux/perf_event.h) by name.
var perfTypes = map[string]uint64{
	"hardware": 0, "software": 1, "tracepoint": 2, "hw_cache": 3, "raw": 4, "breakpoint": 5,
}

// perfConfigs names the configs of the hardware and software types, as
// perf(1) spells them (perf_hw_id, perf_sw_ids).
var perfConfigs = map[uint64]map[string]uint64{
	0: {
		"cpu-cycles": 0, "cycles": 0, "instructions": 1, "cache-references": 2, "cache-misses": 3,
		"branch-instructions": 4, "branches": 4, "branch-misses": 5, "bus-cycles": 6,
		"stalled-cycles-frontend": 7, "stalled-cycles-backend": 8, "ref-cycles": 9,
	},
	1: {
		"cpu-clock": 0, "task-clock": 1, "page-faults": 2, "faults": 2, "context-switches": 3, "cs": 3,
		"cpu-migrations": 4, "migrations": 4, "minor-faults": 5, "major-faults": 6,
		"alignment-faults": 7, "emulation-faults": 8, "dummy": 9, "bpf-output": 10, "cgroup-switches": 11,
	},
}

// parsePerfSpec parses the rest of --attach perf:TYPE:CONFIG:freq=N=PROG
// (or period=N): TYPE hardware, software, ... or a number, CONFIG a name
// of perf(1)'s (cpu-clock, cpu-cycles, ...) or a number (0x for hex), as
// bcc's attach_perf_event(ev_type, ev_config, sample_freq|sample_period,
// fn_name) takes them.
func parsePerfSpec(spec, rest string) (backend.Probe, error) {
	usage := func(why string) error {
		return fmt.Errorf("--attach %q: %s (want perf:TYPE:CONFIG:freq=N=PROGRAM or period=N, e.g. perf:software:cpu-clock:freq=99=on_sample)", spec, why)
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return backend.Probe{}, usage("want TYPE:CONFIG:SAMPLING")
	}
	sampling, prog, ok := strings.Cut(parts[2], "=")
	if !ok {
		return backend.Probe{}, usage("no sampling")
	}
	num, prog, ok := strings.Cut(prog, "=")
	if !ok || prog == "" {
		return backend.Probe{}, usage("no program")
	}
	p := backend.Probe{Kind: backend.PerfEvent, Program: prog}
	typ, ok := perfTypes[parts[0]]
	if !ok {
		n, err := strconv.ParseUint(parts[0], 0, 32)
		if err != nil {
			return backend.Probe{}, usage(fmt.Sprintf("unknown type %q (hardware, software, hw_cache, raw, breakpoint, tracepoint, or a number)", parts[0]))
		}
		typ = n
	}
	config, ok := perfConfigs[typ][parts[1]]
	if !ok {
		n, err := strconv.ParseUint(parts[1], 0, 64)
		if err != nil {
			return backend.Probe{}, usage(fmt.Sprintf("unknown %s event %q (%s, or a number)", parts[0], parts[1], configNames(typ)))
		}
		config = n
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return backend.Probe{}, usage(fmt.Sprintf("%s=%s: want a positive number", sampling, num))
	}
	switch sampling {
	case "freq":
		p.Freq = n
	case "period":
		p.Period = n
	default:
		return backend.Probe{}, usage(fmt.Sprintf("unknown sampling %q (freq or period)", sampling))
	}
	p.PerfType, p.PerfConfig = typ, config
	p.Target = parts[0] + ":" + parts[1] + ":" + sampling + "=" + num
	return p, nil
}

func configNames(typ uint64) string {
	names := map[uint64]string{
		0: "cpu-cycles, instructions, cache-references, cache-misses, branches, branch-misses, bus-cycles, ref-cycles, ...",
		1: "cpu-clock, task-clock, page-faults, context-switches, cpu-migrations, minor-faults, major-faults, ...",
	}
	if s, ok := names[typ]; ok {
		return s
	}
	return "this type takes numbers"
}
