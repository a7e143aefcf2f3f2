package tracepipe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTraceLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Line
	}{
		{
			name: "4.x kernel, 4-char flags, empty event name",
			line: "              nc-4940  [000] d... 22666.991714: : Hello World!\n",
			want: Line{Task: "nc", PID: 4940, CPU: 0, Flags: "d...", Time: 22666*time.Second + 991714*time.Microsecond, Message: "Hello World!"},
		},
		{
			name: "5.13+ kernel, 5-char flags, bpf_trace_printk prefix",
			line: "            curl-1234    [001] d..31  1234.567890: bpf_trace_printk: listen4 addr=7f000001 port=4242 backlog=1",
			want: Line{Task: "curl", PID: 1234, CPU: 1, Flags: "d..31", Time: 1234*time.Second + 567890*time.Microsecond, Message: "listen4 addr=7f000001 port=4242 backlog=1"},
		},
		{
			name: "unknown task name",
			line: "           <...>-77      [003] ....1   12.000001: bpf_trace_printk: hi",
			want: Line{Task: "<...>", PID: 77, CPU: 3, Flags: "....1", Time: 12*time.Second + time.Microsecond, Message: "hi"},
		},
		{
			name: "task name with dashes and spaces",
			line: " kworker/u4:2-my task-901 [010] dN.h2 5.5: bpf_trace_printk: x=1",
			want: Line{Task: "kworker/u4:2-my task", PID: 901, CPU: 10, Flags: "dN.h2", Time: 5*time.Second + 500*time.Millisecond, Message: "x=1"},
		},
		{
			name: "TGID column (record-tgid option)",
			line: "            nc-4941  (   4940) [000] d... 22666.991714: bpf_trace_printk: m",
			want: Line{Task: "nc", PID: 4941, TGID: 4940, CPU: 0, Flags: "d...", Time: 22666*time.Second + 991714*time.Microsecond, Message: "m"},
		},
		{
			name: "TGID unknown",
			line: "            nc-4941  (-------) [000] d... 1.000000: bpf_trace_printk: m",
			want: Line{Task: "nc", PID: 4941, CPU: 0, Flags: "d...", Time: time.Second, Message: "m"},
		},
		{
			name: "old kernel: program address as event name",
			line: "              nc-5020  [000] d... 25497.154070: 0x00000001: Listening with with up to 1 pending connections!",
			want: Line{Task: "nc", PID: 5020, CPU: 0, Flags: "d...", Time: 25497*time.Second + 154070*time.Microsecond, Message: "Listening with with up to 1 pending connections!"},
		},
		{
			name: "nanosecond clock",
			line: "  a-1 [000] d.... 3.123456789: bpf_trace_printk: ns",
			want: Line{Task: "a", PID: 1, CPU: 0, Flags: "d....", Time: 3*time.Second + 123456789, Message: "ns"},
		},
		{
			name: "lost events",
			line: "CPU:1 [LOST 123 EVENTS]",
			want: Line{CPU: 1, Lost: 123},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if err != nil {
				t.Fatalf("ParseLine: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseTraceLineBlankAndBad(t *testing.T) {
	for _, line := range []string{"", "\n", "   \n", "# tracer: nop\n", "#                              _-----=> irqs-off"} {
		if _, err := ParseLine(line); !errors.Is(err, ErrBlankLine) {
			t.Errorf("ParseLine(%q): %v, want ErrBlankLine", line, err)
		}
	}
	for _, line := range []string{"garbage", "nc-12 [000] d... notatime: x", "CPU:x [LOST 1 EVENTS]"} {
		_, err := ParseLine(line)
		if err == nil || errors.Is(err, ErrBlankLine) {
			t.Errorf("ParseLine(%q): %v, want a parse error", line, err)
		}
	}
}

func FuzzParseTraceLine(f *testing.F) {
	f.Add("            curl-1234    [001] d..31  1234.567890: bpf_trace_printk: hi")
	f.Add("CPU:1 [LOST 123 EVENTS]")
	f.Fuzz(func(t *testing.T, s string) {
		ParseLine(s) // must not panic
	})
}

// TestTracePipeReaders finds the processes that hold a trace pipe in a
// made-up /proc.
func TestTracePipeReaders(t *testing.T) {
	proc := t.TempDir()
	mk := func(pid, comm string, links map[string]string) {
		fdDir := filepath.Join(proc, pid, "fd")
		if err := os.MkdirAll(fdDir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(proc, pid, "comm"), []byte(comm+"\n"), 0o644)
		for fd, target := range links {
			if err := os.Symlink(target, filepath.Join(fdDir, fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("123", "cat", map[string]string{"0": "/dev/null", "3": "/sys/kernel/tracing/trace_pipe"})
	mk("456", "per cpu", map[string]string{"4": "/sys/kernel/debug/tracing/per_cpu/cpu1/trace_pipe"})
	mk("789", "other", map[string]string{"5": "/sys/kernel/tracing/instances/mine/trace_pipe", "6": "/tmp/x"})
	mk("42", "self", map[string]string{"3": "/sys/kernel/tracing/trace_pipe"})
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)

	got := tracePipeReaders(proc, 42)
	want := []tracePipeReader{{PID: 123, Comm: "cat"}, {PID: 456, Comm: "per cpu"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tracePipeReaders = %+v, want %+v", got, want)
	}
	err := errTracePipeBusy("/sys/kernel/tracing/trace_pipe", got)
	if msg := err.Error(); !errors.Is(err, ErrBusy) || msg != `open /sys/kernel/tracing/trace_pipe: another reader holds it (the kernel allows one at a time): PID 123 ("cat"), PID 456 ("per cpu"); stop it and try again` {
		t.Errorf("message %q", msg)
	}
}

// TestParseTraceLinesSplitNames: a process may put newlines in its own name
// (prctl PR_SET_NAME). The kernel prints it as it is, padded to 16
// columns, so one entry arrives as several lines; they must come back as
// one entry with the true name, and no line may pass for an entry of its
// own.
func TestParseTraceLinesSplitNames(t *testing.T) {
	const rest = "-4321    [001] d..31  100.000001: bpf_trace_printk: evtrace-abc listen4 addr=7f000001 port=80 backlog=5"
	entry := func(comm string) string { return fmt.Sprintf("%16s", comm) + rest }
	want := func(comm string) Line {
		return Line{Task: comm, PID: 4321, CPU: 1, Flags: "d..31", Time: 100*time.Second + time.Microsecond,
			Message: "evtrace-abc listen4 addr=7f000001 port=80 backlog=5"}
	}
	tests := []struct {
		name  string
		lines []string
		want  []Line
	}{
		{"plain", []string{entry("nc")}, []Line{want("nc")}},
		{"one newline", strings.Split(entry("ev\nil"), "\n"), []Line{want("ev\nil")}},
		{"newline first", strings.Split(entry("\nabc"), "\n"), []Line{want("\nabc")}},
		{"newline last", strings.Split(entry("abc\n"), "\n"), []Line{want("abc\n")}},
		{"several newlines, 15 bytes", strings.Split(entry("a\n\nb\nc-1 [0] 1."), "\n"), []Line{want("a\n\nb\nc-1 [0] 1.")}},
		{"carriage return kept", strings.Split(entry("x\r\ny"), "\n"), []Line{want("x\r\ny")}},
		{
			// The name holds what looks like a whole header: the entry is
			// still put back together at the kernel's columns.
			"fake header in the name",
			strings.Split(entry("\n-1 [0] 2.0:"), "\n"),
			[]Line{want("\n-1 [0] 2.0:")},
		},
		{
			"noise before a split entry stays apart",
			append([]string{"garbage", ""}, strings.Split(entry("p\nq"), "\n")...),
			[]Line{{Message: "garbage"}, want("p\nq")},
		},
		{
			"entries on both sides",
			append(append([]string{entry("a")}, strings.Split(entry("b\nc"), "\n")...), entry("d")),
			[]Line{want("a"), want("b\nc"), want("d")},
		},
		{"lone head", []string{"           ab"}, []Line{{Message: "           ab"}}},
		{"lost events", []string{"CPU:1 [LOST 3 EVENTS]"}, []Line{{CPU: 1, Lost: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseTraceLines(tt.lines)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d:\ngot  %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// A name may hold "-123 [000]": read by the kernel's columns, a whole line
// gets its true name and PID, whatever the name holds.
func TestParseTraceLineNameLikeHeader(t *testing.T) {
	line := fmt.Sprintf("%16s", "x-9 [7] 1.0: y") + "-4321    [001] d..31  100.000001: bpf_trace_printk: m"
	got, err := ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if got.Task != "x-9 [7] 1.0: y" || got.PID != 4321 || got.CPU != 1 || got.Message != "m" {
		t.Errorf("got %+v", got)
	}
}
