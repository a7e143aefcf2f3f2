package tracer

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rawListenEvent lays out a struct listen_event the way the kernel writes it.
func rawListenEvent(ts uint64, pid, tid, netns uint32, backlog int32, family, port uint16, addr []byte, comm string) []byte {
	b := make([]byte, ListenEventSize)
	ne := binary.NativeEndian
	ne.PutUint64(b[0:], ts)
	ne.PutUint32(b[8:], pid)
	ne.PutUint32(b[12:], tid)
	ne.PutUint32(b[16:], netns)
	ne.PutUint32(b[20:], uint32(backlog))
	ne.PutUint16(b[24:], family)
	ne.PutUint16(b[26:], port)
	copy(b[28:44], addr)
	copy(b[44:60], comm)
	return b
}

func TestDecodeListenEvent(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		name string
		raw  []byte
		want ListenEvent
	}{
		{
			name: "IPv4 loopback",
			raw:  rawListenEvent(5e9, 42, 43, 4026531840, 77, afInet, 4242, []byte{127, 0, 0, 1}, "nc"),
			want: ListenEvent{Mono: 5 * time.Second, PID: 42, TID: 43, NetNS: 4026531840, Backlog: 77, Family: afInet, Port: 4242, Addr: netip.MustParseAddr("127.0.0.1"), Comm: "nc"},
		},
		{
			name: "IPv4 wildcard",
			raw:  rawListenEvent(1, 1, 1, 1, 4096, afInet, 80, []byte{0, 0, 0, 0}, "nginx"),
			want: ListenEvent{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 4096, Family: afInet, Port: 80, Addr: netip.MustParseAddr("0.0.0.0"), Comm: "nginx"},
		},
		{
			name: "IPv6",
			raw:  rawListenEvent(1, 7, 8, 9, -1, afInet6, 443, v6b[:], "envoy"),
			want: ListenEvent{Mono: 1, PID: 7, TID: 8, NetNS: 9, Backlog: -1, Family: afInet6, Port: 443, Addr: v6, Comm: "envoy"},
		},
		{
			name: "comm of 15 characters, kernel padding after the struct",
			raw:  append(rawListenEvent(1, 1, 1, 1, 1, afInet6, 1, make([]byte, 16), "abcdefghijklmno"), 0, 0, 0, 0),
			want: ListenEvent{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 1, Family: afInet6, Port: 1, Addr: netip.IPv6Unspecified(), Comm: "abcdefghijklmno"},
		},
		{
			name: "comm with garbage after the terminator",
			raw:  rawListenEvent(1, 1, 1, 1, 1, afInet, 1, nil, "sh\x00junk"),
			want: ListenEvent{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 1, Family: afInet, Port: 1, Addr: netip.IPv4Unspecified(), Comm: "sh"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeListenEvent(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := DecodeListenEvent(make([]byte, ListenEventSize-1)); err == nil {
		t.Error("short record decoded without error")
	}
}

func TestProto(t *testing.T) {
	for fam, want := range map[uint16]string{afInet: "TCPv4", afInet6: "TCPv6", 1: "AF1"} {
		if got := (ListenEvent{Family: fam}).Proto(); got != want {
			t.Errorf("family %d: %q, want %q", fam, got, want)
		}
	}
}

func TestListenSpec(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ListenConfig
		contains []string
		omits    []string
	}{
		{
			name:     "perf default, no filters",
			cfg:      ListenConfig{},
			contains: []string{"#define EVTRACE_MODE_PERF 1\n", "BPF_PERF_OUTPUT(listen_events)", "kprobe__inet_listen"},
			omits:    []string{"#define EVTRACE_MODE_DEBUG", "#define FILTER_PID", "#define FILTER_NETNS"},
		},
		{
			name:     "debug with filters",
			cfg:      ListenConfig{Mode: ModeDebug, PID: 1234, NetNS: 4026531840},
			contains: []string{"#define EVTRACE_MODE_DEBUG 1\n", "#define FILTER_PID 1234\n", "#define FILTER_NETNS 4026531840\n", "bpf_trace_printk"},
			omits:    []string{"#define EVTRACE_MODE_PERF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := ListenSpec(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(spec.Source, s) {
					t.Errorf("C text lacks %q", s)
				}
			}
			for _, s := range tt.omits {
				if strings.Contains(spec.Source, s) {
					t.Errorf("C text has %q", s)
				}
			}
			if len(spec.Probes) != 1 || spec.Probes[0] != (Probe{Kprobe, "inet_listen", "kprobe__inet_listen"}) {
				t.Errorf("probes %+v", spec.Probes)
			}
			debug := tt.cfg.Mode == ModeDebug
			if spec.TracePipe != debug || (len(spec.PerfTables) == 1) == debug {
				t.Errorf("outputs: trace pipe %v, perf tables %v", spec.TracePipe, spec.PerfTables)
			}
		})
	}
	if _, err := ListenSpec(ListenConfig{Mode: "fast"}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"perf", "debug"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Perf", "trace"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}
