package backend

import (
	"fmt"
	"regexp"
	"strings"
)

// CompileError is returned when libbcc cannot compile a probe. Log holds the
// compiler's own diagnostics, as clang printed them.
type CompileError struct {
	Name string // what was compiled, e.g. "listen.c"
	Log  string
}

func (e *CompileError) Error() string {
	first := FirstDiagnostic(e.Log)
	if first == "" {
		return fmt.Sprintf("compile %s: failed (the compiler printed nothing)", e.Name)
	}
	return fmt.Sprintf("compile %s: %s", e.Name, first)
}

// LoadError is returned when the kernel refuses a compiled program. Log holds
// the verifier's log when the kernel wrote one (the end of it, where the
// verifier says why, if it did not fit), else what the loader printed;
// Verdict is the verifier's own conclusion, from the end of its log ("" when
// there is no verifier log).
type LoadError struct {
	Program string
	Err     error
	Log     string
	Verdict string
}

func (e *LoadError) Error() string {
	if e.Verdict != "" {
		return fmt.Sprintf("load program %s: the verifier refused it: %s", e.Program, e.Verdict)
	}
	msg := fmt.Sprintf("load program %s: %v", e.Program, e.Err)
	if first := FirstDiagnostic(e.Log); first != "" {
		msg += ": " + first
	}
	return msg
}

// LogTail is the last n lines of Log, saying how many were left out: the
// verifier's reasons are at the end of its log, and a refused loop can
// leave a megabyte of instructions before them.
func (e *LoadError) LogTail(n int) string { return logTail(e.Log, n) }

func logTail(log string, n int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before these left out)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func (e *LoadError) Unwrap() error { return e.Err }

// FirstDiagnostic returns the first line of a compiler or loader log that
// says what went wrong, preferring lines that contain "error".
func FirstDiagnostic(log string) string {
	var first string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "error") {
			return line
		}
		if first == "" {
			first = line
		}
	}
	return first
}

// VerifierVerdict says what the verifier concluded, from its log (any log
// level): its last message, and its statistics when it printed them, e.g.
//
//	BPF program is too large. Processed 1000001 insn (verification time 200469 usec, processed 1000001 insns, limit 1000000)
//
// The log ends with the statistics (verification time, stack depth,
// "processed N insns"); before them, the message, which the instruction
// trace of log level 1 precedes. A message may be two lines ("invalid
// access to map value ..." and why), and some are followed by details
// ("cur state:", "old state:" after "infinite loop detected at insn N").
// It returns "" if the log has no message: empty, or cut before its end.
func VerifierVerdict(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	end := len(lines)
	var time, processed string
	for ; end > 0; end-- {
		l := strings.TrimSpace(lines[end-1])
		if m := verifierTimeRe.FindStringSubmatch(l); m != nil {
			time = "verification time " + m[1] + " usec"
		} else if m := verifierProcessedRe.FindStringSubmatch(l); m != nil {
			processed = "processed " + m[1] + " insns"
			if m[2] != "" {
				processed += ", limit " + m[2]
			}
		} else if l != "" && !strings.HasPrefix(l, "stack depth ") {
			break
		}
	}
	var msg []string
	for i := end - 1; i >= 0 && len(msg) < 2; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || verifierDetailRe.MatchString(l) {
			continue
		}
		if verifierTraceRe.MatchString(l) {
			break
		}
		msg = append([]string{l}, msg...)
	}
	if len(msg) == 0 {
		return ""
	}
	verdict := strings.Join(msg, "; ")
	var stats []string
	for _, s := range []string{time, processed} {
		if s != "" {
			stats = append(stats, s)
		}
	}
	if len(stats) > 0 {
		verdict += " (" + strings.Join(stats, ", ") + ")"
	}
	return verdict
}

// EndsWithStats says whether log ends with the verifier's statistics, as a
// whole log does (the kernel prints them last, whatever the verdict).
func EndsWithStats(log string) bool {
	log = strings.TrimSpace(log)
	last := strings.TrimSpace(log[strings.LastIndexByte(log, '\n')+1:])
	return verifierTimeRe.MatchString(last) || verifierProcessedRe.MatchString(last) || strings.HasPrefix(last, "stack depth ")
}

var (
	// BPF_LOG_STATS (log level 4) only, since Linux 5.2.
	verifierTimeRe = regexp.MustCompile(`^verification time (\d+) usec$`)
	// Any log level: "processed 11 insns (limit 1000000) max_states_per_insn
	// 0 ..." since 5.2; "processed 11 insns (limit 131072), stack depth 16"
	// before.
	verifierProcessedRe = regexp.MustCompile(`^processed (\d+) insns(?: \(limit (\d+)\))?`)
	// The instruction trace of log level 1: "12: (bf) r1 = r3 ; R1=...",
	// "0: R1=ctx() R10=fp0", "; source line @ file.c:21", "from 13 to 6:
	// ...", register and frame states of calls.
	verifierTraceRe = regexp.MustCompile(`^(\d+: |; |;$|from \d+ to \d+: |frame\d+: |R\d+\w*=|(caller|callee|returning from callee):$|to caller at \d+:$)`)
	// Details printed after a message.
	verifierDetailRe = regexp.MustCompile(`^(cur|old) state:`)
)
