package listen

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/evtrace/evtrace/probes"
	"github.com/evtrace/evtrace/tracer/kernel"
)

// OffsetSource says where the listen probe's struct offsets come from.
type OffsetSource string

const (
	// OffsetsAuto: BTF when the kernel has it, else the headers.
	OffsetsAuto OffsetSource = "auto"
	// OffsetsBTF: computed from the running kernel's BTF
	// (/sys/kernel/btf/vmlinux) and passed to the C as defines; right even
	// when the headers bcc compiles against belong to another kernel.
	OffsetsBTF OffsetSource = "btf"
	// OffsetsHeaders: whatever the kernel headers say (bcc's way).
	OffsetsHeaders OffsetSource = "headers"
)

// ParseOffsetSource accepts auto, btf and headers.
func ParseOffsetSource(s string) (OffsetSource, error) {
	switch OffsetSource(s) {
	case OffsetsAuto, OffsetsBTF, OffsetsHeaders:
		return OffsetSource(s), nil
	}
	return "", fmt.Errorf("unknown offsets source %q (want auto, btf or headers)", s)
}

// listenField is one kernel struct member the listen probe reads.
type listenField struct {
	define   string // C macro that receives the byte offset
	typ      string // struct name
	path     string // member path, dots between names; anonymous members are searched
	optional bool   // absent in some kernels or configurations (CONFIG_NET_NS, CONFIG_IPV6)
	size     uint32 // the member's size the probe reads it with; 0: any (an offset only)
}

var listenFields = []listenField{
	{"OFF_SOCKET_SK", "socket", "sk", false, 0},
	{"OFF_SOCK_FAMILY", "sock", "__sk_common.skc_family", false, 0},
	{"OFF_SOCK_RCV_SADDR", "sock", "__sk_common.skc_rcv_saddr", false, 0},
	{"OFF_SOCK_V6_RCV_SADDR", "sock", "__sk_common.skc_v6_rcv_saddr", true, 0},
	{"OFF_SOCK_NET", "sock", "__sk_common.skc_net.net", true, 0},
	{"OFF_NET_INUM", "net", "ns.inum", true, 0},
	{"OFF_INET_SPORT", "inet_sock", "inet_sport", false, 0},
	// The way from a file descriptor to its socket, for a listen() that
	// changes no socket state (tracepoint strategy): task->files->fdt->fd[N]
	// ->private_data, a socket whose file points back. sk_protocol is a
	// bitfield before Linux 5.6: then the probe does without this way.
	{"OFF_TASK_FILES", "task_struct", "files", true, 0},
	{"OFF_FILES_FDT", "files_struct", "fdt", true, 0},
	{"OFF_FDTABLE_MAX_FDS", "fdtable", "max_fds", true, 0},
	{"OFF_FDTABLE_FD", "fdtable", "fd", true, 0},
	{"OFF_FILE_PRIVATE_DATA", "file", "private_data", true, 0},
	{"OFF_SOCKET_FILE", "socket", "file", true, 0},
	{"OFF_SOCKET_TYPE", "socket", "type", true, 0},
	{"OFF_SOCK_PROTOCOL", "sock", "sk_protocol", true, 0},
	// The socket's inode number, the key evtrace listeners matches with
	// /proc/PID/fd and sock_diag: sk->sk_socket, then the vfs_inode that
	// follows struct socket in struct socket_alloc (SOCK_INODE).
	{"OFF_SOCK_SOCKET", "sock", "sk_socket", true, 0},
	{"OFF_SOCKET_INO", "socket_alloc", "vfs_inode.i_ino", true, 8},
	// The backlog the kernel keeps (listen()'s, capped at somaxconn), as
	// sock_diag reports it; u16 in old kernels, where the probe does without.
	{"OFF_SOCK_MAX_ACK_BACKLOG", "sock", "sk_max_ack_backlog", true, 4},
}

// Offsets are byte offsets of the members the listen probe reads, by the
// name of the C define that carries each.
type Offsets map[string]uint32

// OffsetsFromBTF computes the listen probe's offsets from a BTF spec. An
// optional member that the kernel lacks is left out (the probe then does
// without it); a missing required one is an error naming it.
func OffsetsFromBTF(spec *btf.Spec) (Offsets, error) {
	offs := Offsets{}
	for _, f := range listenFields {
		var s *btf.Struct
		if err := spec.TypeByName(f.typ, &s); err != nil {
			if f.optional {
				continue
			}
			return nil, fmt.Errorf("BTF: struct %s: %w", f.typ, err)
		}
		off, typ, err := memberOffset(s, f.path)
		if err == nil && f.size != 0 {
			if n, serr := btf.Sizeof(typ); serr != nil || uint32(n) != f.size {
				err = fmt.Errorf("member %s: size %d, the probe reads %d", f.path, n, f.size)
			}
		}
		if err == nil && f.typ == "socket_alloc" {
			// sock_ino reads from the struct socket pointer: socket
			// must be socket_alloc's first member, as it always was.
			if first, _, ferr := memberOffset(s, "socket"); ferr != nil || first != 0 {
				err = fmt.Errorf("struct socket_alloc: socket is not its first member")
			}
		}
		if err != nil {
			if f.optional {
				continue
			}
			return nil, fmt.Errorf("BTF: struct %s: %w", f.typ, err)
		}
		offs[f.define] = off
	}
	return offs, nil
}

// KernelOffsets reads the running kernel's BTF and computes the
// listen probe's offsets.
func KernelOffsets() (Offsets, error) {
	f, err := os.Open(kernel.BTF)
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	defer f.Close()
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("kernel BTF %s: %w", kernel.BTF, err)
	}
	return OffsetsFromBTF(spec)
}

// memberOffset returns the byte offset of a member path ("a.b.c") in t,
// and the member's type. Members of anonymous structs and unions are found
// as C finds them.
func memberOffset(t btf.Type, path string) (uint32, btf.Type, error) {
	var total uint32
	cur := t
	for _, name := range strings.Split(path, ".") {
		bits, m, err := findMember(cur, name)
		if err != nil {
			return 0, nil, fmt.Errorf("member %s: %w", path, err)
		}
		if m.BitfieldSize != 0 || bits%8 != 0 {
			return 0, nil, fmt.Errorf("member %s: a bitfield", path)
		}
		total += bits / 8
		cur = m.Type
	}
	return total, cur, nil
}

var errNoMember = errors.New("no such member")

// findMember looks for name among t's members, descending into anonymous
// members, and returns its bit offset from the start of t.
func findMember(t btf.Type, name string) (uint32, btf.Member, error) {
	var members []btf.Member
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = u.Members
	case *btf.Union:
		members = u.Members
	default:
		return 0, btf.Member{}, fmt.Errorf("%s in %s, which is not a struct or union", name, t)
	}
	for _, m := range members {
		if m.Name == name {
			return uint32(m.Offset), m, nil
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		if bits, found, err := findMember(m.Type, name); err == nil {
			return uint32(m.Offset) + bits, found, nil
		}
	}
	return 0, btf.Member{}, fmt.Errorf("%w %q", errNoMember, name)
}

// defines returns the offsets as C defines, in the order of listenFields,
// plus EVTRACE_OFFSETS_BTF.
func (o Offsets) defines() []probes.Define {
	ds := []probes.Define{{Name: "EVTRACE_OFFSETS_BTF", Value: "1"}}
	for _, f := range listenFields {
		if v, ok := o[f.define]; ok {
			ds = append(ds, probes.Define{Name: f.define, Value: strconv.FormatUint(uint64(v), 10)})
		}
	}
	return ds
}
