package bccbackend

import (
	"fmt"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/backend"
)

// TestVerifierLogFallsBack: a log that does not fit is read at its end when
// the kernel keeps the end (6.4 and later), and reloaded at BPF_LOG_STATS
// alone when the kernel kept the start.
func TestVerifierLogFallsBack(t *testing.T) {
	defer func(size int) { verifierLogSize = size }(verifierLogSize)
	verifierLogSize = 4096
	trace := strings.Repeat("13: (2d) if r0 > r2 goto pc-8         ; R0=scalar(umin=0x1b205) R2=0x1b204\n", 200)
	end := "BPF program is too large. Processed 1000001 insn\nverification time 200469 usec\nstack depth 16\nprocessed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 10104 peak_states 10104 mark_read 0\n"
	// fill writes log into buf as the kernel would: the start (keepEnd
	// false) or the end of it, NUL-terminated.
	fill := func(buf []byte, log string, keepEnd bool) string {
		if len(log) >= len(buf) {
			if keepEnd {
				log = log[len(log)-len(buf)+1:]
			} else {
				log = log[:len(buf)-1]
			}
		}
		copy(buf, log)
		buf[len(log)] = 0
		return log
	}
	for _, keepEnd := range []bool{true, false} {
		var levels []uint
		log := verifierLog(func(level uint, buf []byte) string {
			levels = append(levels, level)
			if level&1 == 0 {
				return fill(buf, end, keepEnd)
			}
			return fill(buf, trace+end, keepEnd)
		})
		verdict := backend.VerifierVerdict(log)
		if !strings.HasPrefix(verdict, "BPF program is too large. Processed 1000001 insn (") {
			t.Errorf("keepEnd %v: verdict %q", keepEnd, verdict)
		}
		if keepEnd {
			// The first whole line follows the note.
			lines := strings.SplitN(log, "\n", 3)
			if fmt.Sprint(levels) != "[5]" || !strings.HasPrefix(lines[0], "... (the start of the verifier's log left out") ||
				!strings.HasPrefix(lines[1], "13: (2d) if r0 > r2") {
				t.Errorf("kernel keeps the end: loads at levels %v, log %q", levels, log[:200])
			}
		} else if fmt.Sprint(levels) != "[5 4]" || log != strings.TrimSpace(end) {
			t.Errorf("kernel keeps the start: loads at levels %v, log %q", levels, log)
		}
	}
	// A log that fits is the log.
	small := "11: (79) r3 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 11 insns (limit 1000000)\n"
	if log := verifierLog(func(level uint, buf []byte) string { return fill(buf, small, false) }); log != strings.TrimSpace(small) {
		t.Errorf("small log: %q", log)
	}
}
