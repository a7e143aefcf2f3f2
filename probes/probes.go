// Package probes holds the C text of evtrace's BPF programs, embedded in the
// binary and compiled at run time by libbcc, and builds the final text that
// is handed to the compiler: a block of #define lines followed by the source.
package probes

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed listen.c
var listenSource string

//go:embed evtrace.h
var dialectHeader string

//go:embed tutorial/*.c
var tutorialFS embed.FS

// TutorialStep is one step of the tutorial "How to turn any syscall into an
// event", as a probe for the generic runner (evtrace tutorial STEP).
type TutorialStep struct {
	Name     string // hello, backlog, port-ip, netns, perf, maps
	Summary  string
	Source   string
	Pitfalls []Pitfall
}

// Pitfall is one of the tutorial's failures, shown on demand: the step
// compiled with -D Define fails as it did in 2016, and Explain says why.
type Pitfall struct {
	Define  string
	Explain string
}

var tutorialSteps = []struct {
	name, summary string
	pitfalls      []Pitfall
}{
	{"hello", "kprobe on inet_listen, bpf_trace_printk \"Hello World!\"", nil},
	{"backlog", "print listen()'s backlog argument", nil},
	{"port-ip", "read port and address with bpf_probe_read", []Pitfall{{"DIRECT_READ",
		"This is the tutorial's \"R1 invalid mem access\" ('inv' before Linux 5.18): the step read " +
			"sock->sk with a plain load. To the verifier, a pointer taken from a kprobe's registers is a " +
			"number, not memory it may read through; kernel memory is read with bpf_probe_read, which " +
			"checks the address and returns an error instead of faulting. (bcc usually writes that call " +
			"for you, when it can see the pointer is the probed function's argument; the step hides the " +
			"pointer from it in an integer.) Run the step without -D DIRECT_READ for the working version."}}},
	{"netns", "the network namespace; why bpf_trace_printk stops at 3 arguments", nil},
	{"perf", "a struct through BPF_PERF_OUTPUT, decoded without writing Go", nil},
	{"maps", "count listen() calls per process and a histogram of backlogs in maps", nil},
}

// goToolHeader opens each tutorial file: it keeps the Go tool from taking
// the C in a package directory for cgo source.
const goToolHeader = "//go:build ignore\n//\n// (The line above keeps the Go tool from taking this file for cgo source.)\n//\n"

// Tutorial returns the steps in order.
func Tutorial() []TutorialStep {
	steps := make([]TutorialStep, len(tutorialSteps))
	for i, s := range tutorialSteps {
		src, err := tutorialFS.ReadFile("tutorial/" + s.name + ".c")
		if err != nil {
			panic("probes: tutorial step " + s.name + " not embedded: " + err.Error())
		}
		// The files open with a line for the Go tool, not for the reader.
		text := strings.TrimPrefix(string(src), goToolHeader)
		steps[i] = TutorialStep{Name: s.name, Summary: s.summary, Source: text, Pitfalls: s.pitfalls}
	}
	return steps
}

// Define is one preprocessor definition prepended to a probe's source.
type Define struct {
	Name  string
	Value string // empty: defined without a value
}

// Build returns the final C text: one #define per entry, in the given order,
// then the source. Names must be C identifiers.
func Build(source string, defines []Define) (string, error) {
	var b strings.Builder
	if len(defines) > 0 {
		b.WriteString("// evtrace: definitions for this run\n")
	}
	for _, d := range defines {
		if !IsIdent(d.Name) {
			return "", fmt.Errorf("define %q: not a C identifier", d.Name)
		}
		if strings.ContainsAny(d.Value, "\n\r") {
			return "", fmt.Errorf("define %s: value contains a newline", d.Name)
		}
		b.WriteString("#define ")
		b.WriteString(d.Name)
		if d.Value != "" {
			b.WriteByte(' ')
			b.WriteString(d.Value)
		}
		b.WriteByte('\n')
	}
	if len(defines) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(source)
	return b.String(), nil
}

// Listen is the source of the listen probe (listen.c), after the dialect
// header it is written in (evtrace.h).
func Listen() string { return dialectHeader + "\n" + listenSource }

// IsIdent says whether s is a C identifier.
func IsIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
