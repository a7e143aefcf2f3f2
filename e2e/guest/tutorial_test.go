//go:build vmguest

package guest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
	"golang.org/x/sys/unix"
)

// TestTutorial runs each tutorial step against a real listener. Steps 1-4
// read the trace pipe, which has one reader for the machine, so they run one
// after another; step 5 (perf) runs beside step 1.
func TestTutorial(t *testing.T) {
	if !kernel.KprobesSupported() {
		t.Fatal("the tutorial's steps are kprobes, and this kernel has none: TestTutorial runs in the VM")
	}
	// Not /proc/self: TestListen left a thread in another namespace, and
	// that may have been the main thread.
	netns := initialNetns
	hello := startEvtrace(t, "hello", "tutorial", "hello", "--format", "{1} {5}")
	perf := startEvtrace(t, "perf", "tutorial", "perf", "-o", "json")
	waitReady(t, 5*time.Minute, hello, perf)
	tid, port := listenFromThread(t, unix.AF_INET, "127.0.0.1", 41, -1)
	expect(t, hello, fmt.Sprintf("%d Hello World!", tid))
	expect(t, perf, fmt.Sprintf(`{"laddr":2130706433,"lport":%d,"netns":%d,"backlog":41}`, port, netns))
	stopClean(t, hello, perf)

	for _, s := range []struct {
		name    string
		backlog int
		want    func(port int) []string
	}{
		{"backlog", 42, func(int) []string { return []string{"Listening with up to 42 pending connections!"} }},
		{"port-ip", 43, func(port int) []string {
			return []string{fmt.Sprintf("Listening on 7f000001 %d with 43 pending connections", port)}
		}},
		{"netns", 44, func(port int) []string {
			return []string{
				fmt.Sprintf("Listening on 7f000001 %d with 44 pending connections", port),
				fmt.Sprintf("... in network namespace %d", netns),
			}
		}},
	} {
		e := startEvtrace(t, s.name, "tutorial", s.name, "--format", "{5}")
		waitReady(t, 4*time.Minute, e)
		_, port := listenFromThread(t, unix.AF_INET, "127.0.0.1", s.backlog, -1)
		for _, w := range s.want(port) {
			expect(t, e, w)
		}
		stopClean(t, e)
	}
}

func expect(t *testing.T, e *evtrace, line string) {
	t.Helper()
	out, ok := e.waitOutput(30*time.Second, func(out string) bool {
		for _, l := range strings.Split(out, "\n") {
			if l == line {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Errorf("tutorial %s: no line %q in:\n%s", e.name, line, out)
	}
}

func stopClean(t *testing.T, es ...*evtrace) {
	t.Helper()
	for _, e := range es {
		if code := e.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("tutorial %s: exit %d after SIGTERM:\n%s", e.name, code, e.stderr.String())
		}
	}
}
