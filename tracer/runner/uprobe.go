package runner

import (
	"fmt"

	"github.com/evtrace/evtrace/tracer/backend"
)

// userProbes applies --pid to the explicit uprobes, and refuses it when
// there are neither uprobes nor USDT probes to limit: evtrace cannot
// filter other probes by process without changing the C.
func userProbes(opts Options) ([]backend.Probe, error) {
	probes := make([]backend.Probe, len(opts.Probes))
	copy(probes, opts.Probes)
	user := len(opts.USDT) > 0
	for i, p := range probes {
		if p.Kind == backend.Uprobe || p.Kind == backend.Uretprobe {
			user = true
			if p.Pid == 0 {
				probes[i].Pid = opts.Pid
			}
		}
	}
	if opts.Pid != 0 && !user {
		return nil, fmt.Errorf("--pid %d limits uprobes and USDT probes, and %s has none: filter other probes in the C (e.g. -D PID=%d and a test of bpf_get_current_pid_tgid() >> 32)", opts.Pid, opts.Name, opts.Pid)
	}
	return probes, nil
}

// describeProbes names what is attached, for the start line: each probe,
// uprobes by binary and symbol (or file offset), and the locations of each
// USDT probe as one entry.
func describeProbes(probes []backend.Probe, usdt []backend.USDT) []string {
	usdtProgs := map[string]bool{}
	for _, u := range usdt {
		usdtProgs[u.Program] = true
	}
	var out []string
	locations := map[string]int{}
	for _, p := range probes {
		switch {
		case p.Kind == backend.Uprobe && p.Symbol == "" && usdtProgs[p.Program]:
			locations[p.Program]++
			continue
		case (p.Kind == backend.Uprobe || p.Kind == backend.Uretprobe) && p.Symbol != "":
			s := p.Kind.String() + " " + p.Target + ":" + p.Symbol
			if p.Offset != 0 {
				s += fmt.Sprintf("+0x%x", p.Offset)
			}
			out = append(out, s+pidNote(p.Pid))
		case p.Kind == backend.Uprobe || p.Kind == backend.Uretprobe:
			out = append(out, fmt.Sprintf("%s %s at file offset 0x%x%s", p.Kind, p.Target, p.Offset, pidNote(p.Pid)))
		default:
			out = append(out, p.Kind.String()+" "+p.Target)
		}
	}
	for _, u := range usdt {
		n := locations[u.Program]
		plural := "s"
		if n == 1 {
			plural = ""
		}
		out = append(out, fmt.Sprintf("usdt %s, %d location%s", u, n, plural))
	}
	return out
}

func pidNote(pid int) string {
	if pid > 0 {
		return fmt.Sprintf(" in PID %d", pid)
	}
	return ""
}
