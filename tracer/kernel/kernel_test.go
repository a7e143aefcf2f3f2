package kernel

import "testing"

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
