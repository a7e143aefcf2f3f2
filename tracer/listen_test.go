package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/kernel"
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
	btfPlan := ListenPlan{Attach: AttachTracepoint, Offsets: OffsetsBTF, OffsetValues: Offsets{"OFF_SOCKET_SK": 24, "OFF_INET_SPORT": 814}}
	tests := []struct {
		name     string
		cfg      ListenConfig
		plan     ListenPlan
		contains []string
		omits    []string
		probes   []Probe
	}{
		{
			name:     "perf default, kprobe, headers, no filters",
			cfg:      ListenConfig{},
			plan:     ListenPlan{Attach: AttachKprobe, Offsets: OffsetsHeaders},
			contains: []string{"#define EVTRACE_MODE_PERF 1\n", "#define EVTRACE_ATTACH_KPROBE 1\n", "EVTRACE_PERF_OUTPUT(listen_events)"},
			omits:    []string{"#define EVTRACE_MODE_DEBUG", "#define FILTER_PID", "#define FILTER_NETNS", "#define EVTRACE_OFFSETS_BTF", "#define OFF_"},
			probes:   []Probe{{Kprobe, "inet_listen", "kprobe__inet_listen"}},
		},
		{
			name:     "debug with filters, kretprobe",
			cfg:      ListenConfig{Mode: ModeDebug, PID: 1234, NetNS: 4026531840},
			plan:     ListenPlan{Attach: AttachKretprobe, Offsets: OffsetsHeaders},
			contains: []string{"#define EVTRACE_MODE_DEBUG 1\n", "#define EVTRACE_ATTACH_KRETPROBE 1\n", "#define FILTER_PID 1234\n", "#define FILTER_NETNS 4026531840\n"},
			omits:    []string{"#define EVTRACE_MODE_PERF", "#define EVTRACE_ATTACH_KPROBE"},
			probes:   []Probe{{Kretprobe, "inet_listen", "kretprobe__inet_listen"}, {Kprobe, "inet_listen", "kprobe__inet_listen"}},
		},
		{
			name:     "tracepoint with BTF offsets",
			cfg:      ListenConfig{},
			plan:     btfPlan,
			contains: []string{"#define EVTRACE_ATTACH_TRACEPOINT 1\n", "#define EVTRACE_OFFSETS_BTF 1\n", "#define OFF_SOCKET_SK 24\n", "#define OFF_INET_SPORT 814\n"},
			omits:    []string{"#define EVTRACE_ATTACH_KPROBE", "#define OFF_NET_INUM"},
			probes: []Probe{
				{Tracepoint, "syscalls:sys_exit_listen", "tracepoint__syscalls__sys_exit_listen"},
				{Tracepoint, "sock:inet_sock_set_state", "tracepoint__sock__inet_sock_set_state"},
				{Tracepoint, "syscalls:sys_enter_listen", "tracepoint__syscalls__sys_enter_listen"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := ListenSpec(tt.cfg, tt.plan)
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
			if !reflect.DeepEqual(spec.Probes, tt.probes) {
				t.Errorf("probes %+v, want %+v", spec.Probes, tt.probes)
			}
			debug := tt.cfg.Mode == ModeDebug
			if spec.TracePipe != debug || (len(spec.PerfTables) == 1) == debug {
				t.Errorf("outputs: trace pipe %v, perf tables %v", spec.TracePipe, spec.PerfTables)
			}
		})
	}
	if _, err := ListenSpec(ListenConfig{Mode: "fast"}, btfPlan); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := ListenSpec(ListenConfig{}, ListenPlan{}); err == nil {
		t.Error("no attach strategy accepted")
	}
}

func TestChooseAttach(t *testing.T) {
	all := Features{Kprobes: true, ListenTracepoints: true, BTF: true}
	noKprobes := Features{ListenTracepoints: true, BTF: true} // this CI host
	nothing := Features{}
	errTracefs := fmt.Errorf("the tracing file system /sys/kernel/tracing is readable by root only: %w", os.ErrPermission)
	unreadable := Features{BTF: true, TracepointsErr: errTracefs} // this host, not root
	tests := []struct {
		req     Attach
		f       Features
		want    Attach
		wantErr error
	}{
		{AttachAuto, all, AttachKretprobe, nil},
		{"", all, AttachKretprobe, nil},
		{AttachAuto, noKprobes, AttachTracepoint, nil},
		{AttachAuto, Features{Kprobes: true}, AttachKretprobe, nil},
		{AttachAuto, nothing, "", kernel.ErrNoKprobes},
		{AttachKprobe, all, AttachKprobe, nil},
		{AttachKprobe, noKprobes, "", kernel.ErrNoKprobes},
		{AttachKretprobe, noKprobes, "", kernel.ErrNoKprobes},
		{AttachTracepoint, all, AttachTracepoint, nil},
		{AttachTracepoint, Features{Kprobes: true}, "", kernel.ErrNoTracepoint},
		{AttachFentry, all, AttachFentry, nil},
		{AttachFentry, noKprobes, AttachFentry, nil},
		{AttachFentry, Features{Kprobes: true, ListenTracepoints: true}, "", nil}, // no BTF: an error of its own
		{AttachAuto, unreadable, "", kernel.ErrNoKprobes},
		{AttachTracepoint, unreadable, "", errTracefs},
		{AttachAuto, Features{Kprobes: true, TracepointsErr: errTracefs}, AttachKretprobe, nil},
	}
	for _, tt := range tests {
		got, why, err := ChooseAttach(tt.req, tt.f)
		wantFail := tt.wantErr != nil || tt.want == ""
		if got != tt.want || (err != nil) != wantFail || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || (err == nil && why == "") {
			t.Errorf("ChooseAttach(%q, %+v) = %q, %q, %v; want %q, %v", tt.req, tt.f, got, why, err, tt.want, tt.wantErr)
		}
	}
	_, _, err := ChooseAttach(AttachKprobe, noKprobes)
	if !strings.Contains(err.Error(), "--attach tracepoint") {
		t.Errorf("no hint towards tracepoints: %v", err)
	}
	_, _, err = ChooseAttach(AttachAuto, unreadable)
	if !strings.Contains(err.Error(), "readable by root only") || !strings.Contains(err.Error(), "run as root, or choose with --attach") {
		t.Errorf("auto without tracefs access: %v", err)
	}
	_, _, err = ChooseAttach(AttachAuto, Features{TracepointsErr: errors.New("no trace_pipe under /sys/kernel/tracing")})
	if err == nil || strings.Contains(err.Error(), "run as root") {
		t.Errorf("auto without tracefs, as root: %v (no advice to run as root)", err)
	}
}

func TestChooseOffsets(t *testing.T) {
	tests := []struct {
		req     OffsetSource
		btf     bool
		want    OffsetSource
		wantErr bool
	}{
		{OffsetsAuto, true, OffsetsBTF, false},
		{OffsetsAuto, false, OffsetsHeaders, false},
		{OffsetsBTF, true, OffsetsBTF, false},
		{OffsetsBTF, false, "", true},
		{OffsetsHeaders, true, OffsetsHeaders, false},
	}
	for _, tt := range tests {
		got, _, err := ChooseOffsets(tt.req, Features{BTF: tt.btf})
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ChooseOffsets(%q, btf=%v) = %q, %v", tt.req, tt.btf, got, err)
		}
	}
}

func TestPlanListen(t *testing.T) {
	offs := Offsets{"OFF_SOCKET_SK": 24}
	calls := 0
	load := func() (Offsets, error) { calls++; return offs, nil }
	host := Features{ListenTracepoints: true, BTF: true}
	p, err := planListen(ListenConfig{}, host, host, load)
	if err != nil || p.Attach != AttachTracepoint || p.Offsets != OffsetsBTF || !reflect.DeepEqual(p.OffsetValues, offs) {
		t.Errorf("plan %+v, %v", p, err)
	}
	vm := Features{Kprobes: true, BTF: true}
	p, err = planListen(ListenConfig{Offsets: OffsetsHeaders}, vm, vm, load)
	if err != nil || p.Attach != AttachKretprobe || p.Offsets != OffsetsHeaders || p.OffsetValues != nil || calls != 1 {
		t.Errorf("plan %+v, %v (BTF read %d times)", p, err, calls)
	}
	failing := func() (Offsets, error) { return nil, errors.New("bad BTF") }
	if _, err := planListen(ListenConfig{}, vm, vm, failing); err == nil {
		t.Error("BTF error swallowed")
	}
	// --ebpf --attach fentry on a kernel without BTF: the strategy as
	// asked, the offsets from the headers.
	noBTF := Features{Kprobes: true}
	p, err = planListen(ListenConfig{Attach: AttachFentry}, Features{Kprobes: true, ListenTracepoints: true, BTF: true}, noBTF, failing)
	if err != nil || p.Attach != AttachFentry || p.Offsets != OffsetsHeaders {
		t.Errorf("fentry text without BTF: plan %+v, %v", p, err)
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
