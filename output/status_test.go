package output

import (
	"bytes"
	"errors"
	"testing"
)

func TestStatusLines(t *testing.T) {
	var b bytes.Buffer
	s := NewStatus(&b)
	s.Say("tracing (%s); Ctrl-C to stop", "kprobe inet_listen")
	s.Warn(errors.New("no BTF"))
	s.Lost("events cpu 1", 7)
	s.Summary(RunStats{Events: 3, Lost: 7, LossesExact: true})
	s.Summary(RunStats{Events: 1, LossesExact: false, Foreign: 2})
	s.RingFill("events", 256*1024, 1000)
	want := "evtrace: tracing (kprobe inet_listen); Ctrl-C to stop\n" +
		"evtrace: warning: no BTF\n" +
		"evtrace: lost 7 events (events cpu 1)\n" +
		"evtrace: 3 events, 7 lost\n" +
		"evtrace: 1 events, 0 lost (this kernel, before Linux 6.0, does not report drops after a ring's last record: more may be lost); 2 trace lines of other programs ignored\n" +
		"evtrace: ring buffer events: 256 KiB, fullest seen 1% (the kernel counts no drops in ring buffers: a full ring fails the program's ringbuf_output/ringbuf_reserve)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
