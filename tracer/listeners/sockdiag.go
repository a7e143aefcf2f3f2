package listeners

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag structures (linux/inet_diag.h), laid out by hand:
// golang.org/x/sys/unix has the constants but not these.
const (
	inetDiagReqV2Size = 56 // struct inet_diag_req_v2
	inetDiagMsgSize   = 72 // struct inet_diag_msg
	tcpListen         = 10 // TCP_LISTEN
)

// diagRequest is a dump request for the TCP sockets of one family in
// TCP_LISTEN: nlmsghdr, then struct inet_diag_req_v2 (family, protocol,
// ext, pad, states, and a zero inet_diag_sockid: every socket).
func diagRequest(family uint8, seq uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqV2Size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	r := b[unix.NLMSG_HDRLEN:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpListen)
	return b
}

// diagSocket is what one struct inet_diag_msg says of a listening socket.
type diagSocket struct {
	Family  uint16
	Addr    netip.Addr
	Port    uint16
	Cookie  uint64
	Inode   uint64
	Backlog uint32 // idiag_wqueue: sk_max_ack_backlog for a listener
	Queue   uint32 // idiag_rqueue: connections waiting for accept
	UID     uint32
}

// parseDiagMsg decodes a struct inet_diag_msg.
func parseDiagMsg(b []byte) (diagSocket, error) {
	if len(b) < inetDiagMsgSize {
		return diagSocket{}, fmt.Errorf("sock_diag: message of %d bytes, want %d", len(b), inetDiagMsgSize)
	}
	ne := binary.NativeEndian
	d := diagSocket{Family: uint16(b[0])}
	id := b[4:52] // struct inet_diag_sockid: sport, dport (big endian), src[16], dst[16], if, cookie[2]
	d.Port = binary.BigEndian.Uint16(id[0:])
	switch d.Family {
	case unix.AF_INET:
		d.Addr = netip.AddrFrom4([4]byte(id[4:8]))
	case unix.AF_INET6:
		d.Addr = netip.AddrFrom16([16]byte(id[4:20]))
	default:
		return diagSocket{}, fmt.Errorf("sock_diag: family %d", d.Family)
	}
	d.Cookie = uint64(ne.Uint32(id[40:])) | uint64(ne.Uint32(id[44:]))<<32
	d.Queue = ne.Uint32(b[56:])
	d.Backlog = ne.Uint32(b[60:])
	d.UID = ne.Uint32(b[64:])
	d.Inode = uint64(ne.Uint32(b[68:]))
	return d, nil
}

// dumpListeners asks a NETLINK_SOCK_DIAG socket (fd, in the namespace to
// look at) for its namespace's TCP listeners of one family.
func dumpListeners(fd int, family uint8, seq uint32) ([]diagSocket, error) {
	if err := unix.Sendto(fd, diagRequest(family, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	var out []diagSocket
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno < 0 {
						return nil, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
					}
				}
				return out, nil
			case unix.SOCK_DIAG_BY_FAMILY:
				d, err := parseDiagMsg(m.Data)
				if err != nil {
					return nil, err
				}
				out = append(out, d)
			}
		}
	}
}
