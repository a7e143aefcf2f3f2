package output

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/tracepipe"
)

var when = time.Date(2026, 11, 25, 10, 4, 5, 123456789, time.UTC)

func events() []listen.Event {
	return []listen.Event{
		{Time: when, PID: 4940, TID: 4941, Comm: "nc", NetNS: 4026531840, Family: 2, Backlog: 1, Addr: netip.MustParseAddr("127.0.0.1"), Port: 4242},
		{Time: when, PID: 123456, TID: 123456, Comm: "a-very-long-name", NetNS: 4026532165, Family: 10, Backlog: 4096, Addr: netip.MustParseAddr("fe80::1234:5678:9abc:def0"), Port: 65535},
	}
}

func TestTextColumns(t *testing.T) {
	for _, showNetNS := range []bool{false, true} {
		var b bytes.Buffer
		p := NewListenPrinter(&b, Text, showNetNS, false)
		p.EventHeader()
		for _, e := range events() {
			p.Event(e)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		want := []string{
			"TIME     PID     COMM            PROTO BACKLOG  PORT ADDR",
			"10:04:05 4940    nc              TCPv4       1  4242 127.0.0.1",
			"10:04:05 123456  a-very-long-name TCPv6    4096 65535 fe80::1234:5678:9abc:def0", // never cut
		}
		if showNetNS {
			want = []string{
				"TIME     PID     COMM            NETNS      PROTO BACKLOG  PORT ADDR",
				"10:04:05 4940    nc              4026531840 TCPv4       1  4242 127.0.0.1",
				"10:04:05 123456  a-very-long-name 4026532165 TCPv6    4096 65535 fe80::1234:5678:9abc:def0",
			}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("show-netns=%v:\ngot\n%s\nwant\n%s", showNetNS, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		if !showNetNS {
			for _, l := range lines {
				if len(l) >= 80 {
					t.Errorf("line of %d characters: %q", len(l), l)
				}
			}
		}
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	p := NewListenPrinter(&b, JSON, false, false)
	p.EventHeader() // prints nothing in JSON
	for _, e := range events() {
		p.Event(e)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		`{"time":"2026-11-25T10:04:05.123456789Z","pid":4940,"tid":4941,"comm":"nc","netns":4026531840,"proto":"TCPv4","backlog":1,"addr":"127.0.0.1","port":4242}`,
		`{"time":"2026-11-25T10:04:05.123456789Z","pid":123456,"tid":123456,"comm":"a-very-long-name","netns":4026532165,"proto":"TCPv6","backlog":4096,"addr":"fe80::1234:5678:9abc:def0","port":65535}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines: %q", len(lines), b.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\ngot  %s\nwant %s", i, lines[i], want[i])
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &v); err != nil {
			t.Errorf("line %d is not JSON: %v", i, err)
		}
	}
}

func TestTrace(t *testing.T) {
	l := tracepipe.Line{Task: "nc", PID: 4940, CPU: 1, Flags: "d..31", Time: 1234567890 * time.Microsecond, Message: "listen4 addr=7f000001 port=4242 backlog=1"}
	var b bytes.Buffer
	p := NewListenPrinter(&b, Text, false, false)
	p.TraceHeader()
	p.Trace(l, when)
	want := "TIME     TID     CPU COMM            MESSAGE\n" +
		"10:04:05 4940    1   nc              listen4 addr=7f000001 port=4242 backlog=1\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	p = NewListenPrinter(&b, JSON, false, false)
	p.Trace(l, when)
	wantJSON := `{"time":"2026-11-25T10:04:05.123456789Z","ts":1234.56789,"task":"nc","pid":4940,"cpu":1,"flags":"d..31","msg":"listen4 addr=7f000001 port=4242 backlog=1"}` + "\n"
	if b.String() != wantJSON {
		t.Errorf("got  %s\nwant %s", b.String(), wantJSON)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"text", "json"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}

// TestWidth: with the RET column that auto's strategies add, a line stays
// under 80 characters for any IPv4 address and IPv6 addresses up to 21
// characters; ADDR comes last so that a longer one only extends its line.
func TestWidth(t *testing.T) {
	e := events()[1]
	e.HasRet, e.Ret, e.Backlog, e.PID = true, -125, 65535, 4194304
	e.Comm = "fifteen-chars-x"
	for _, addr := range []string{"255.255.255.255", "2001:db8:aaaa:bbbb::1", "fe80::1234:5678:9abc"} {
		e.Addr = netip.MustParseAddr(addr)
		var b bytes.Buffer
		p := NewListenPrinter(&b, Text, false, true)
		p.EventHeader()
		p.Event(e)
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if len(l) >= 80 {
				t.Errorf("%s: line of %d characters: %q", addr, len(l), l)
			}
		}
	}
}

func TestRetColumn(t *testing.T) {
	e := events()[0]
	e.HasRet, e.Ret = true, -98
	var b bytes.Buffer
	p := NewListenPrinter(&b, Text, false, true)
	p.EventHeader()
	p.Event(e)
	want := "TIME     PID     COMM            PROTO BACKLOG  RET  PORT ADDR\n" +
		"10:04:05 4940    nc              TCPv4       1  -98  4242 127.0.0.1\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	p = NewListenPrinter(&b, JSON, false, true)
	p.Event(e)
	wantJSON := `{"time":"2026-11-25T10:04:05.123456789Z","pid":4940,"tid":4941,"comm":"nc","netns":4026531840,"proto":"TCPv4","backlog":1,"ret":-98,"addr":"127.0.0.1","port":4242}` + "\n"
	if b.String() != wantJSON {
		t.Errorf("got  %s\nwant %s", b.String(), wantJSON)
	}
}

// forged is a task name a process can give itself with prctl(PR_SET_NAME):
// an OSC sequence that sets the terminal's title, a screen clear, CR and
// LF (a fake line), bytes that are not UTF-8.
const forged = "\x1b]0;X\x07\x1b[2J\r\n\xff\xfe"

// forgedText is forged as a JSON string holds it: each byte that is not
// UTF-8 is U+FFFD.
const forgedText = "\x1b]0;X\x07\x1b[2J\r\n\uFFFD\uFFFD"

const forgedEscaped = `\x1b]0;X\x07\x1b[2J\r\n\xff\xfe`

// noControlBytes fails when text output holds a byte a terminal acts on,
// other than the newline that ends each of its lines.
func noControlBytes(t *testing.T, out string, lines int) {
	t.Helper()
	if !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f }) {
		t.Errorf("raw control bytes or invalid UTF-8 in %q", out)
	}
	if n := strings.Count(out, "\n"); n != lines {
		t.Errorf("%d lines, want %d: %q", n, lines, out)
	}
}

func TestForgedCommText(t *testing.T) {
	e := events()[0]
	e.Comm = forged
	var b bytes.Buffer
	p := NewListenPrinter(&b, Text, false, false)
	p.EventHeader()
	p.Event(e)
	noControlBytes(t, b.String(), 2)
	want := "10:04:05 4940    " + forgedEscaped + " TCPv4       1  4242 127.0.0.1\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("got\n%s\nwant a line\n%s", b.String(), want)
	}

	b.Reset()
	l := tracepipe.Line{Task: forged, PID: 7, CPU: 1, Flags: "d..31", Message: "comm " + forged + " \\ end"}
	p.TraceHeader()
	p.Trace(l, when)
	noControlBytes(t, b.String(), 2)
	want = "10:04:05 7       1   " + forgedEscaped + " comm " + forgedEscaped + ` \\ end` + "\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("got\n%s\nwant a line\n%s", b.String(), want)
	}
}

// TestForgedCommJSON: JSON stays valid, and bytes that are not UTF-8
// (U+FFFD in the string) are kept in a _b64 field.
func TestForgedCommJSON(t *testing.T) {
	e := events()[0]
	e.Comm = forged
	var b bytes.Buffer
	NewListenPrinter(&b, JSON, false, false).Event(e)
	l := tracepipe.Line{Task: forged, PID: 7, Message: "comm " + forged}
	NewListenPrinter(&b, JSON, false, false).Trace(l, when)
	e.Comm = "nc"
	NewListenPrinter(&b, JSON, false, false).Event(e)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	var ev struct {
		Comm    string
		CommB64 string `json:"comm_b64"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Comm != forgedText || decodeB64(t, ev.CommB64) != forged {
		t.Errorf("event: %s", lines[0])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	if str("task") != forgedText || decodeB64(t, str("task_b64")) != forged || decodeB64(t, str("msg_b64")) != "comm "+forged {
		t.Errorf("trace: %s", lines[1])
	}
	if strings.Contains(lines[2], "_b64") {
		t.Errorf("a valid name got a _b64 field: %s", lines[2])
	}
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Errorf("base64 %q: %v", s, err)
	}
	return string(b)
}
