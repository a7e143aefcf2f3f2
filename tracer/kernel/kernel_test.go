package kernel

import (
	"slices"
	"testing"
)

func TestStaleKprobeNames(t *testing.T) {
	for line, want := range map[string]string{
		"p:kprobes/p_inet_listen_bcc_1234 inet_listen":      "1234",
		"r:kprobes/r_inet_listen_gobpf_77 inet_listen":      "77",
		"p:kprobes/pinet_listen inet_listen":                "",
		"p:kprobes/p_inet_listen_other_12 inet_listen":      "",
		"p:kprobes/p_tcp_v4_connect_gobpf_9 tcp_v4_connect": "9",
	} {
		m := staleKprobeRe.FindStringSubmatch(line)
		got := ""
		if m != nil {
			got = m[2]
		}
		if got != want {
			t.Errorf("%q: pid %q, want %q", line, got, want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-3", []int{0, 1, 2, 3}},
		{"0,2-3,7", []int{0, 2, 3, 7}},
	} {
		got, err := parseCPUList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "3-1", "1-", "-1"} {
		if got, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) = %v, want an error", bad, got)
		}
	}
}
