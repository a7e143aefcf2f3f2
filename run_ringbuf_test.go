package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/testenv"
	"golang.org/x/sys/unix"
)

// connectProbe sends every connect() of process WANT_PID to a ring
// buffer: the address it connects to, read from the caller's sockaddr
// (an IPv4 one as a u32 in network order, as bcc's tools keep it; an IPv6
// one as an unsigned __int128), and known constants for the other
// formats: -ENOENT, a kernel function's address, flags.
const connectProbe = `
struct conn {
	u16 family;
	u16 pad;
	u32 daddr;
	unsigned __int128 daddr6;
	s32 err;
	u32 flags;
	u64 ts;
	u64 ip;
};
BPF_RINGBUF_OUTPUT(conns, 16);

TRACEPOINT_PROBE(syscalls, sys_enter_connect)
{
	if ((bpf_get_current_pid_tgid() >> 32) != WANT_PID)
		return 0;
	u8 sa[24] = {};
	bpf_probe_read_user(sa, sizeof(sa), args->uservaddr);
	struct conn *c = conns.ringbuf_reserve(sizeof(struct conn));
	if (!c)
		return 0;
	__builtin_memset(c, 0, sizeof(*c));
	__builtin_memcpy(&c->family, sa, 2);
	if (c->family == AF_INET_)
		__builtin_memcpy(&c->daddr, sa + 4, 4);
	else
		__builtin_memcpy(&c->daddr6, sa + 8, 16);
	c->err = -2;
	c->flags = 0xbeef;
	c->ts = bpf_ktime_get_ns();
	c->ip = KSYM_ADDR;
	conns.ringbuf_submit(c, 0);
	return 0;
}`

// TestRunRingBufferFields runs the real binary on a ring buffer program
// while this process connects to 127.0.0.1 and ::1 (both refused: nothing
// listens on port 1): each connect is an event, decoded from the struct
// given to ringbuf_reserve, with --field formats in text and in JSON.
func TestRunRingBufferFields(t *testing.T) {
	testenv.RequireBPF(t)
	ksym, err := kallsymsAddr("do_syscall_64")
	if err != nil {
		t.Skipf("kallsyms: %v", err)
	}
	probe := writeProbe(t, connectProbe)
	fields := []string{"--field", "daddr=ipv4", "--field", "daddr6=ipv6", "--field", "err=errno", "--field", "flags=hex", "--field", "ts=time", "--field", "ip=ksym"}
	run := func(extra ...string) (string, string) {
		args := append([]string{"run", probe, "-D", "WANT_PID=" + strconv.Itoa(os.Getpid()), "-D", "AF_INET_=2",
			"-D", fmt.Sprintf("KSYM_ADDR=0x%xULL", ksym+0x10), "--count", "4", "--duration", "20s"}, fields...)
		cmd := exec.Command(evtraceBinary(t), append(args, extra...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		for {
			select {
			case <-done:
				if code := cmd.ProcessState.ExitCode(); code != 0 {
					t.Fatalf("exit %d: %s", code, stderr.String())
				}
				return stdout.String(), stderr.String()
			case <-time.After(50 * time.Millisecond):
				connectTo(t, unix.AF_INET)
				connectTo(t, unix.AF_INET6)
			}
		}
	}
	stdout, stderr := run()
	if !strings.Contains(stderr, "evtrace: ring buffer conns: 64 KiB, fullest seen") || !strings.Contains(stderr, "evtrace: 4 events, 0 lost") {
		t.Errorf("stderr:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	header := regexp.MustCompile(`^FAMILY +PAD +DADDR +DADDR6 +ERR +FLAGS +TS +IP$`)
	row4 := regexp.MustCompile(`^2 +0 +127\.0\.0\.1 +:: +-ENOENT +0xbeef +\d\d:\d\d:\d\d\.\d{6} +do_syscall_64\+0x10$`)
	row6 := regexp.MustCompile(`^10 +0 +0\.0\.0\.0 +::1 +-ENOENT +0xbeef +\d\d:\d\d:\d\d\.\d{6} +do_syscall_64\+0x10$`)
	if len(lines) != 5 || !header.MatchString(lines[0]) {
		t.Fatalf("want a header and 4 rows:\n%s", stdout)
	}
	for _, l := range lines[1:] {
		if !row4.MatchString(l) && !row6.MatchString(l) {
			t.Errorf("row %q", l)
		}
	}

	stdout, _ = run("-o", "json")
	v4 := regexp.MustCompile(`^\{"family":2,"pad":0,"daddr":16777343,"daddr_str":"127\.0\.0\.1","daddr6":0,"daddr6_str":"::","err":-2,"err_str":"-ENOENT","flags":48879,"flags_str":"0xbeef","ts":\d+,"ts_str":"[0-9T:.+Z-]+","ip":\d+,"ip_str":"do_syscall_64\+0x10"\}$`)
	v6 := regexp.MustCompile(`^\{"family":10,"pad":0,"daddr":0,"daddr_str":"0\.0\.0\.0","daddr6":1329227995784915872903807060280344576,"daddr6_str":"::1","err":-2,"err_str":"-ENOENT",.*"ip_str":"do_syscall_64\+0x10"\}$`)
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !v4.MatchString(l) && !v6.MatchString(l) {
			t.Errorf("JSON %s", l)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d JSON lines, want 4:\n%s", n, stdout)
	}
}

// connectTo connects to port 1 of the loopback address of family (refused).
func connectTo(t *testing.T, family int) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Errorf("socket: %v", err)
		return
	}
	defer unix.Close(fd)
	if family == unix.AF_INET {
		unix.Connect(fd, &unix.SockaddrInet4{Port: 1, Addr: [4]byte{127, 0, 0, 1}})
	} else {
		unix.Connect(fd, &unix.SockaddrInet6{Port: 1, Addr: [16]byte{15: 1}})
	}
}

// kallsymsAddr is a kernel function's address.
func kallsymsAddr(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[2] == name && (f[1] == "T" || f[1] == "t") {
			return strconv.ParseUint(f[0], 16, 64)
		}
	}
	return 0, fmt.Errorf("no %s", name)
}

// TestRunBadField: a --field that names no member, or a format the
// member's type does not fit, is one line and exit 1, before attaching;
// a malformed one is a usage error.
func TestRunBadField(t *testing.T) {
	testenv.RequireBPF(t)
	probe := writeProbe(t, connectProbe)
	base := []string{"run", probe, "-D", "WANT_PID=1", "-D", "AF_INET_=2", "-D", "KSYM_ADDR=0", "--duration", "5s"}
	for _, tt := range []struct {
		field string
		code  int
		want  string
	}{
		{"dport=ipv4", 1, "--field dport=ipv4: no table has a member dport (members: conns.family, conns.pad, conns.daddr, conns.daddr6, conns.err, conns.flags, conns.ts, conns.ip)"},
		{"daddr=ipv6", 1, "--field daddr=ipv6: ring buffer conns: daddr is a u32; ipv6 wants a 16-byte member"},
		{"family=time", 1, "--field family=time: ring buffer conns: family is a u16; time wants a 64-bit member"},
		{"daddr=dotted", 2, `unknown format "dotted"`},
		{"daddr=usym", 2, "usym is not supported yet"},
	} {
		code, stdout, stderr := runCLI(append(base, "--field", tt.field)...)
		if code != tt.code || stdout != "" || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "tracing (") {
			t.Errorf("--field %s: exit %d, stdout %q, stderr %q; want %d and %q, nothing attached", tt.field, code, stdout, stderr, tt.code, tt.want)
		}
	}
}
