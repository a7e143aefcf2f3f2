package listen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// rawListenEvent lays out a struct listen_event the way the kernel writes
// it, through eventLayout.
func rawListenEvent(ts uint64, pid, tid, netns uint32, backlog int32, family, port uint16, addr []byte, comm string) []byte {
	return rawListenEventRet(ts, pid, tid, netns, backlog, family, port, addr, comm, 0)
}

func rawListenEventRet(ts uint64, pid, tid, netns uint32, backlog int32, family, port uint16, addr []byte, comm string, ret int32) []byte {
	b := make([]byte, EventSize)
	ne := binary.NativeEndian
	l := &eventLayout
	ne.PutUint64(l.TsNs.of(b), ts)
	ne.PutUint32(l.Pid.of(b), pid)
	ne.PutUint32(l.Tid.of(b), tid)
	ne.PutUint32(l.Netns.of(b), netns)
	ne.PutUint32(l.Backlog.of(b), uint32(backlog))
	ne.PutUint16(l.Family.of(b), family)
	ne.PutUint16(l.Lport.of(b), port)
	copy(l.Laddr.of(b), addr)
	copy(l.Comm.of(b), comm)
	ne.PutUint32(l.Ret.of(b), uint32(ret))
	return b
}

// TestDecodeEventEveryField sets every field of the struct, ret included,
// to a value no other field has, and finds each in its place.
func TestDecodeEventEveryField(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::7")
	a := v6.As16()
	got, err := DecodeEvent(rawListenEventRet(0x0102030405060708, 0x11, 0x22, 0x33, -0x44, afInet6, 0x5566, a[:], "fifteen-chars-x", -98))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Mono: 0x0102030405060708, PID: 0x11, TID: 0x22, NetNS: 0x33, Backlog: -0x44, Family: afInet6, Port: 0x5566, Addr: v6, Comm: "fifteen-chars-x", Ret: -98}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestEventLayoutMatchesListenC: listen.c's _Static_asserts (which the
// compiler checks against struct listen_event) state the offsets and size
// eventLayout has, member for member, and the fields tile the struct.
func TestEventLayoutMatchesListenC(t *testing.T) {
	asserts := map[string]int{}
	re := regexp.MustCompile(`_Static_assert\(__builtin_offsetof\(struct listen_event, (\w+)\) == (\d+),`)
	for _, m := range re.FindAllStringSubmatch(probes.Listen(), -1) {
		asserts[m[1]], _ = strconv.Atoi(m[2])
	}
	size := regexp.MustCompile(`_Static_assert\(sizeof\(struct listen_event\) == (\d+),`).FindStringSubmatch(probes.Listen())
	if size == nil || size[1] != strconv.Itoa(EventSize) {
		t.Errorf("listen.c asserts sizeof(struct listen_event) %v, want %d", size, EventSize)
	}
	v := reflect.ValueOf(eventLayout)
	end := 0
	for i := 0; i < v.NumField(); i++ {
		name := regexp.MustCompile(`([a-z])([A-Z])`).ReplaceAllString(v.Type().Field(i).Name, "${1}_${2}")
		name = strings.ToLower(name)
		f := v.Field(i).Interface().(eventField)
		off, ok := asserts[name]
		if !ok {
			t.Errorf("listen.c asserts no offset of %s", name)
		} else if off != f.Off {
			t.Errorf("%s: listen.c says offset %d, eventLayout %d", name, off, f.Off)
		}
		if f.Off != end {
			t.Errorf("%s at %d: the previous field ends at %d", name, f.Off, end)
		}
		end = f.Off + f.Size
		delete(asserts, name)
	}
	if end != EventSize {
		t.Errorf("the fields end at %d, EventSize is %d", end, EventSize)
	}
	for name := range asserts {
		t.Errorf("listen.c asserts the offset of %s, which eventLayout lacks", name)
	}
}

func TestDecodeListenEvent(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		name string
		raw  []byte
		want Event
	}{
		{
			name: "IPv4 loopback",
			raw:  rawListenEvent(5e9, 42, 43, 4026531840, 77, afInet, 4242, []byte{127, 0, 0, 1}, "nc"),
			want: Event{Mono: 5 * time.Second, PID: 42, TID: 43, NetNS: 4026531840, Backlog: 77, Family: afInet, Port: 4242, Addr: netip.MustParseAddr("127.0.0.1"), Comm: "nc"},
		},
		{
			name: "IPv4 wildcard",
			raw:  rawListenEvent(1, 1, 1, 1, 4096, afInet, 80, []byte{0, 0, 0, 0}, "nginx"),
			want: Event{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 4096, Family: afInet, Port: 80, Addr: netip.MustParseAddr("0.0.0.0"), Comm: "nginx"},
		},
		{
			name: "IPv6",
			raw:  rawListenEvent(1, 7, 8, 9, -1, afInet6, 443, v6b[:], "envoy"),
			want: Event{Mono: 1, PID: 7, TID: 8, NetNS: 9, Backlog: -1, Family: afInet6, Port: 443, Addr: v6, Comm: "envoy"},
		},
		{
			name: "comm of 15 characters, kernel padding after the struct",
			raw:  append(rawListenEvent(1, 1, 1, 1, 1, afInet6, 1, make([]byte, 16), "abcdefghijklmno"), 0, 0, 0, 0),
			want: Event{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 1, Family: afInet6, Port: 1, Addr: netip.IPv6Unspecified(), Comm: "abcdefghijklmno"},
		},
		{
			name: "comm with garbage after the terminator",
			raw:  rawListenEvent(1, 1, 1, 1, 1, afInet, 1, nil, "sh\x00junk"),
			want: Event{Mono: 1, PID: 1, TID: 1, NetNS: 1, Backlog: 1, Family: afInet, Port: 1, Addr: netip.IPv4Unspecified(), Comm: "sh"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := DecodeEvent(make([]byte, EventSize-1)); err == nil {
		t.Error("short record decoded without error")
	}
}

func TestProto(t *testing.T) {
	for fam, want := range map[uint16]string{afInet: "TCPv4", afInet6: "TCPv6", 1: "AF1"} {
		if got := (Event{Family: fam}).Proto(); got != want {
			t.Errorf("family %d: %q, want %q", fam, got, want)
		}
	}
}

func TestListenSpec(t *testing.T) {
	btfPlan := Plan{Strategy: StrategyTracepoint, Offsets: OffsetsBTF, OffsetValues: Offsets{"OFF_SOCKET_SK": 24, "OFF_INET_SPORT": 814}}
	tests := []struct {
		name     string
		cfg      Config
		plan     Plan
		contains []string
		omits    []string
		probes   []backend.Probe
	}{
		{
			name:     "perf default, kprobe, headers, no filters",
			cfg:      Config{},
			plan:     Plan{Strategy: StrategyKprobe, Offsets: OffsetsHeaders},
			contains: []string{"#define EVTRACE_MODE_PERF 1\n", "#define EVTRACE_ATTACH_KPROBE 1\n", "EVTRACE_PERF_OUTPUT(listen_events)"},
			omits:    []string{"#define EVTRACE_MODE_DEBUG", "#define FILTER_PID", "#define FILTER_NETNS", "#define EVTRACE_OFFSETS_BTF", "#define OFF_"},
			probes:   []backend.Probe{{Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"}},
		},
		{
			name:     "debug with filters, kretprobe",
			cfg:      Config{Mode: ModeDebug, PID: 1234, NetNS: 4026531840},
			plan:     Plan{Strategy: StrategyKretprobe, Offsets: OffsetsHeaders},
			contains: []string{"#define EVTRACE_MODE_DEBUG 1\n", "#define EVTRACE_ATTACH_KRETPROBE 1\n", "#define FILTER_PID 1234\n", "#define FILTER_NETNS 4026531840\n"},
			omits:    []string{"#define EVTRACE_MODE_PERF", "#define EVTRACE_ATTACH_KPROBE"},
			probes:   []backend.Probe{{Kind: backend.Kretprobe, Target: "inet_listen", Program: "kretprobe__inet_listen"}, {Kind: backend.Kprobe, Target: "inet_listen", Program: "kprobe__inet_listen"}},
		},
		{
			name:     "tracepoint with BTF offsets",
			cfg:      Config{},
			plan:     btfPlan,
			contains: []string{"#define EVTRACE_ATTACH_TRACEPOINT 1\n", "#define EVTRACE_OFFSETS_BTF 1\n", "#define OFF_SOCKET_SK 24\n", "#define OFF_INET_SPORT 814\n"},
			omits:    []string{"#define EVTRACE_ATTACH_KPROBE", "#define OFF_NET_INUM"},
			probes: []backend.Probe{
				{Kind: backend.Tracepoint, Target: "syscalls:sys_exit_listen", Program: "tracepoint__syscalls__sys_exit_listen"},
				{Kind: backend.Tracepoint, Target: "sock:inet_sock_set_state", Program: "tracepoint__sock__inet_sock_set_state"},
				{Kind: backend.Tracepoint, Target: "syscalls:sys_enter_listen", Program: "tracepoint__syscalls__sys_enter_listen"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := SessionSpec(tt.cfg, tt.plan)
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
	if _, err := SessionSpec(Config{Mode: "fast"}, btfPlan); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := SessionSpec(Config{}, Plan{}); err == nil {
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
		req     Strategy
		f       Features
		want    Strategy
		wantErr error
	}{
		{StrategyAuto, all, StrategyKretprobe, nil},
		{"", all, StrategyKretprobe, nil},
		{StrategyAuto, noKprobes, StrategyTracepoint, nil},
		{StrategyAuto, Features{Kprobes: true}, StrategyKretprobe, nil},
		{StrategyAuto, nothing, "", kernel.ErrNoKprobes},
		{StrategyKprobe, all, StrategyKprobe, nil},
		{StrategyKprobe, noKprobes, "", kernel.ErrNoKprobes},
		{StrategyKretprobe, noKprobes, "", kernel.ErrNoKprobes},
		{StrategyTracepoint, all, StrategyTracepoint, nil},
		{StrategyTracepoint, Features{Kprobes: true}, "", kernel.ErrNoTracepoint},
		{StrategyFentry, all, StrategyFentry, nil},
		{StrategyFentry, noKprobes, StrategyFentry, nil},
		{StrategyFentry, Features{Kprobes: true, ListenTracepoints: true}, "", nil}, // no BTF: an error of its own
		{StrategyAuto, unreadable, "", kernel.ErrNoKprobes},
		{StrategyTracepoint, unreadable, "", errTracefs},
		{StrategyAuto, Features{Kprobes: true, TracepointsErr: errTracefs}, StrategyKretprobe, nil},
	}
	for _, tt := range tests {
		got, why, err := ChooseStrategy(tt.req, tt.f)
		wantFail := tt.wantErr != nil || tt.want == ""
		if got != tt.want || (err != nil) != wantFail || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || (err == nil && why == "") {
			t.Errorf("ChooseStrategy(%q, %+v) = %q, %q, %v; want %q, %v", tt.req, tt.f, got, why, err, tt.want, tt.wantErr)
		}
	}
	_, _, err := ChooseStrategy(StrategyKprobe, noKprobes)
	if !strings.Contains(err.Error(), "--attach tracepoint") {
		t.Errorf("no hint towards tracepoints: %v", err)
	}
	_, _, err = ChooseStrategy(StrategyAuto, unreadable)
	if !strings.Contains(err.Error(), "readable by root only") || !strings.Contains(err.Error(), "run as root, or choose with --attach") {
		t.Errorf("auto without tracefs access: %v", err)
	}
	_, _, err = ChooseStrategy(StrategyAuto, Features{TracepointsErr: errors.New("no trace_pipe under /sys/kernel/tracing")})
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
	p, err := choosePlan(Config{}, host, host, load)
	if err != nil || p.Strategy != StrategyTracepoint || p.Offsets != OffsetsBTF || !reflect.DeepEqual(p.OffsetValues, offs) {
		t.Errorf("plan %+v, %v", p, err)
	}
	vm := Features{Kprobes: true, BTF: true}
	p, err = choosePlan(Config{Offsets: OffsetsHeaders}, vm, vm, load)
	if err != nil || p.Strategy != StrategyKretprobe || p.Offsets != OffsetsHeaders || p.OffsetValues != nil || calls != 1 {
		t.Errorf("plan %+v, %v (BTF read %d times)", p, err, calls)
	}
	failing := func() (Offsets, error) { return nil, errors.New("bad BTF") }
	if _, err := choosePlan(Config{}, vm, vm, failing); err == nil {
		t.Error("BTF error swallowed")
	}
	// --ebpf --attach fentry on a kernel without BTF: the strategy as
	// asked, the offsets from the headers.
	noBTF := Features{Kprobes: true}
	p, err = choosePlan(Config{Strategy: StrategyFentry}, Features{Kprobes: true, ListenTracepoints: true, BTF: true}, noBTF, failing)
	if err != nil || p.Strategy != StrategyFentry || p.Offsets != OffsetsHeaders {
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
