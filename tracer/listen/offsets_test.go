package listen

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// A small model of the kernel's layout: sock_common keeps its addresses in
// an anonymous union of an anonymous struct, as Linux does.
func modelTypes() (*btf.Struct, *btf.Struct) {
	u16 := &btf.Int{Name: "unsigned short", Size: 2}
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	ptr := &btf.Pointer{Target: &btf.Void{}}
	addrs := &btf.Struct{Size: 8, Members: []btf.Member{
		{Name: "skc_daddr", Type: u32, Offset: 0},
		{Name: "skc_rcv_saddr", Type: u32, Offset: 32},
	}}
	addrUnion := &btf.Union{Size: 8, Members: []btf.Member{
		{Name: "skc_addrpair", Type: &btf.Int{Name: "u64", Size: 8}},
		{Name: "", Type: addrs},
	}}
	possibleNet := &btf.Struct{Name: "possible_net_t", Size: 8, Members: []btf.Member{{Name: "net", Type: ptr}}}
	common := &btf.Struct{Name: "sock_common", Size: 64, Members: []btf.Member{
		{Name: "", Type: addrUnion, Offset: 0},
		{Name: "skc_family", Type: u16, Offset: 16 * 8},
		{Name: "skc_flags", Type: u16, Offset: 18 * 8, BitfieldSize: 4},
		{Name: "skc_net", Type: &btf.Typedef{Name: "possible_net_t", Type: possibleNet}, Offset: 48 * 8},
	}}
	sock := &btf.Struct{Name: "sock", Size: 128, Members: []btf.Member{
		{Name: "__sk_common", Type: common, Offset: 0},
	}}
	return sock, common
}

func TestMemberOffset(t *testing.T) {
	sock, _ := modelTypes()
	for path, want := range map[string]uint32{
		"__sk_common.skc_family":    16,
		"__sk_common.skc_rcv_saddr": 4, // through the anonymous union and struct
		"__sk_common.skc_daddr":     0,
		"__sk_common.skc_net.net":   48, // through a typedef
	} {
		got, _, err := memberOffset(sock, path)
		if err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", path, got, err, want)
		}
	}
	if _, _, err := memberOffset(sock, "__sk_common.skc_nope"); !errors.Is(err, errNoMember) {
		t.Errorf("missing member: %v", err)
	}
	if _, _, err := memberOffset(sock, "__sk_common.skc_flags"); err == nil {
		t.Error("bitfield accepted")
	}
	if _, _, err := memberOffset(sock, "__sk_common.skc_family.x"); err == nil {
		t.Error("member of an integer accepted")
	}
}

// TestKernelListenOffsets reads this machine's BTF (a real kernel's) and
// checks the offsets against facts of the kernel's own layout.
func TestKernelListenOffsets(t *testing.T) {
	if _, err := os.Stat(kernel.BTF); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI host has no %s", kernel.BTF)
		}
		t.Skipf("no kernel BTF: %v", err)
	}
	offs, err := KernelOffsets()
	if err != nil {
		t.Fatal(err)
	}
	// Optional members are optional for other kernels, not for this one
	// when it has what they serve: a missing netns member would make every
	// NETNS 0, a missing descriptor-table member would drop re-listens.
	var major, minor int
	rel, _ := kernel.Release()
	fmt.Sscanf(rel, "%d.%d", &major, &minor)
	_, netnsErr := os.Stat("/proc/self/ns/net")
	_, ipv6Err := os.Stat("/proc/net/if_inet6")
	required := func(f listenField) bool {
		switch f.define {
		case "OFF_SOCK_NET", "OFF_NET_INUM":
			return netnsErr == nil
		case "OFF_SOCK_V6_RCV_SADDR":
			return ipv6Err == nil
		}
		return !f.optional || major > 5 || (major == 5 && minor >= 6)
	}
	for _, f := range listenFields {
		if _, ok := offs[f.define]; !ok && required(f) {
			t.Errorf("%s missing on kernel %s", f.define, rel)
		}
	}
	// Layout facts stable for many releases: struct socket is {state,
	// type, ...}; struct fdtable begins with max_fds.
	for define, want := range map[string]uint32{"OFF_SOCKET_TYPE": 4, "OFF_FDTABLE_MAX_FDS": 0} {
		if got, ok := offs[define]; ok && got != want {
			t.Errorf("%s = %d, want %d", define, got, want)
		}
	}
	for _, define := range []string{"OFF_SOCK_NET", "OFF_SOCKET_FILE", "OFF_TASK_FILES", "OFF_FILES_FDT", "OFF_FDTABLE_FD", "OFF_FILE_PRIVATE_DATA"} {
		if got, ok := offs[define]; ok && got%8 != 0 {
			t.Errorf("%s = %d: a pointer member, want 8-byte alignment", define, got)
		}
	}
	// struct sock begins with struct sock_common, whose first members are
	// the address pair (daddr, rcv_saddr), then hash, then the port pair,
	// then skc_family: stable since Linux 3.x.
	if got := offs["OFF_SOCK_RCV_SADDR"]; got != 4 {
		t.Errorf("skc_rcv_saddr at %d, want 4", got)
	}
	if got := offs["OFF_SOCK_FAMILY"]; got != 16 {
		t.Errorf("skc_family at %d, want 16", got)
	}
	// inet_sock embeds struct sock first, so inet_sport lies past it.
	f, _ := os.Open(kernel.BTF)
	defer f.Close()
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var sock *btf.Struct
	if err := spec.TypeByName("sock", &sock); err != nil {
		t.Fatal(err)
	}
	if got := offs["OFF_INET_SPORT"]; got < sock.Size {
		t.Errorf("inet_sport at %d, inside struct sock (%d bytes)", got, sock.Size)
	}
	if got := offs["OFF_SOCKET_SK"]; got == 0 || got%8 != 0 {
		t.Errorf("socket.sk at %d, want a non-zero pointer-aligned offset", got)
	}
	t.Logf("offsets: %v", offs)
}
