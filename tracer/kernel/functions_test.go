package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseFilterFunctions(t *testing.T) {
	in := "vfs_read\nvfs_write\n__ftrace_invalid_address___64\nnf_conntrack_in [nf_conntrack]\n\n"
	got, err := parseFilterFunctions(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vfs_read", "vfs_write", "nf_conntrack_in"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseKallsymsFunctions(t *testing.T) {
	in := `ffffffff81000000 T _stext
ffffffff81000100 t do_one
ffffffff81000200 D some_data
ffffffff81000300 T __irqentry_text_start
ffffffff81000310 T asm_irq_entry
ffffffff81000320 T __irqentry_text_end
ffffffff81000400 W weak_fn
ffffffff82000000 T __init_begin
ffffffff82000010 t init_only
ffffffff82000020 T __init_end
ffffffff82000030 t after_init
ffffffffc0000000 t mod_fn	[mymod]
`
	got, err := parseKallsymsFunctions(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_stext", "do_one", "weak_fn", "after_init", "mod_fn"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadBlacklist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blacklist")
	data := "0xffffffff81001000-0xffffffff81001100\tdo_int3\n0xffffffffc0001000-0xffffffffc0001040\tmod_nokprobe [mymod]\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	black, err := readBlacklist(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(black) != 2 || !black["do_int3"] || !black["mod_nokprobe"] {
		t.Errorf("blacklist %v", black)
	}
	if black, err := readBlacklist(filepath.Join(dir, "missing")); err != nil || len(black) != 0 {
		t.Errorf("a missing blacklist: %v, %v; want empty, nil", black, err)
	}
}

func TestFilterFunctions(t *testing.T) {
	names := []string{"vfs_read", "do_int3", "vfs_read", "perf_event_open", "__perf_x", "_kbl_addr_foo",
		"__SCT__tp_func_x", "tcp_v4_rcv.cold", "tcp_x.cold.12", "coldplug", "f.colder", "a_fn"}
	got, black := filterFunctions(names, map[string]bool{"do_int3": true})
	want := []string{"a_fn", "coldplug", "f.colder", "vfs_read"}
	if !slices.Equal(got, want) || black != 1 {
		t.Errorf("got %q (%d blacklisted), want %q (1)", got, black, want)
	}
}
