package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bccbackend"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

// TestTutorialStepsLoad compiles every step with libbcc and loads it into
// the kernel (kprobe programs load on a kernel without kprobes; only
// attaching needs them), and step 3 with -D DIRECT_READ, which the
// verifier must refuse with the tutorial's "R1 invalid mem access".
func TestTutorialStepsLoad(t *testing.T) {
	testenv.RequireBPF(t)
	rel, err := kernel.Release()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := headers.Find(headers.Search{Env: os.Getenv("BCC_KERNEL_SOURCE"), Release: rel})
	if err != nil {
		if tree, err = headers.OtherRelease("/lib/modules", rel, headers.DefaultCache); err != nil {
			t.Fatal(err)
		}
	}
	load := func(step probes.TutorialStep, cflags ...string) error {
		prog, err := bccbackend.New().LoadSource(step.Name+".c", step.Source, cflags, tree.Dir)
		if err != nil {
			return err
		}
		defer prog.Close()
		return prog.Attach(backend.Probe{Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"})
	}
	for _, step := range probes.Tutorial() {
		err := load(step)
		var le *backend.LoadError
		if errors.As(err, &le) {
			t.Errorf("step %s: the kernel refused it: %v\n%s", step.Name, err, le.Log)
		} else if err != nil && kernel.KprobesSupported() {
			t.Errorf("step %s: %v", step.Name, err)
		}
		for _, p := range step.Pitfalls {
			err := load(step, "-D"+p.Define)
			if !errors.As(err, &le) || !strings.Contains(le.Verdict, "invalid mem access") {
				t.Errorf("step %s -D %s: %v; want the verifier's invalid mem access", step.Name, p.Define, err)
			}
		}
	}
}

// TestSecondReader: while evtrace reads trace_pipe, a second open is
// refused (Linux >= 6.5) or shares the lines; secondReader says which,
// and what it means.
func TestSecondReader(t *testing.T) {
	testenv.RequireRoot(t)
	first, err := tracepipe.Open()
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("trace_pipe: %v", err))
		return
	}
	defer first.Close()
	var buf bytes.Buffer
	ended := secondReader(output.NewStatus(&buf))
	ended()
	got := buf.String()
	if !strings.Contains(got, "a second open of ") {
		t.Fatalf("said %q", got)
	}
	if strings.Contains(got, "failed") {
		if !strings.Contains(got, "device or resource busy") || !strings.Contains(got, "one reader at a time") {
			t.Errorf("refused, said %q", got)
		}
	} else if !strings.Contains(got, "lines that this step's reader never saw") {
		t.Errorf("shared, said %q", got)
	}
	t.Logf("%s", got)
}
