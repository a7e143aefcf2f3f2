package session

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// DefaultProbeLimit is how many kprobes the patterns of one program may
// attach when Spec.ProbeLimit is 0: bcc's default quota (BCC_PROBE_LIMIT),
// for the same reason: every kprobe slows the functions it probes, and
// attaching a thousand takes seconds.
const DefaultProbeLimit = 1000

// PatternResult says what a kprobe pattern attached to.
type PatternResult struct {
	Probe   backend.Probe // as given: Target is the pattern
	From    string        // the list of functions it was matched against
	Matched int           // functions the pattern matched
	// Failed names the matched functions that could not be probed (the
	// kernel refused them, e.g. inlined at every call site); Attached
	// is Matched minus these.
	Failed []string
	// FirstErr is why the first of them failed.
	FirstErr error
}

// Attached is how many functions the pattern's program is attached to.
func (r PatternResult) Attached() int { return r.Matched - len(r.Failed) }

func (r PatternResult) String() string {
	s := fmt.Sprintf("%s %s: %s attached to %d functions (of %s)", r.Probe.Kind, r.Probe.Target, r.Probe.Program, r.Attached(), r.From)
	if n := len(r.Failed); n > 0 {
		names := r.Failed
		if n > 5 {
			names = names[:5]
		}
		s += fmt.Sprintf("; %d could not be probed: %s", n, strings.Join(names, ", "))
		if n > 5 {
			s += ", ..."
		}
		s += fmt.Sprintf(" (%v)", r.FirstErr)
	}
	return s
}

// expandPatterns replaces each pattern probe by one probe per function it
// matches in fns; it refuses a pattern that matches nothing and more than
// limit probes in all.
func expandPatterns(probes []backend.Probe, list func() (kernel.Functions, error), limit int) ([]backend.Probe, []PatternResult, error) {
	var (
		out     []backend.Probe
		results []PatternResult
		fns     kernel.Functions
		listed  bool
	)
	for _, p := range probes {
		if p.Pattern == "" {
			out = append(out, p)
			continue
		}
		if !listed {
			var err error
			if fns, err = list(); err != nil {
				return nil, nil, err
			}
			listed = true
		}
		re, err := regexp.Compile(p.Pattern)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", p.Kind, p.Target, err)
		}
		r := PatternResult{Probe: p, From: fns.From}
		for _, name := range fns.Names {
			if re.MatchString(name) {
				q := p
				q.Target = name
				out = append(out, q)
				r.Matched++
			}
		}
		if r.Matched == 0 {
			return nil, nil, fmt.Errorf("%s %s: no traceable kernel function matches (%d functions in %s, the kprobe blacklist left out)", p.Kind, p.Target, len(fns.Names), fns.From)
		}
		results = append(results, r)
	}
	if limit <= 0 {
		limit = DefaultProbeLimit
	}
	if len(results) > 0 && len(out) > limit {
		return nil, nil, fmt.Errorf("the patterns match %d functions, more than the limit of %d probes (--probe-limit; bcc's BCC_PROBE_LIMIT): narrow them", len(out), limit)
	}
	return out, results, nil
}

// patternFor returns the result of the pattern a probe was expanded from.
func patternFor(results []PatternResult, p backend.Probe) *PatternResult {
	for i := range results {
		r := &results[i]
		if r.Probe.Kind == p.Kind && r.Probe.Pattern == p.Pattern && r.Probe.Program == p.Program {
			return r
		}
	}
	return nil
}
