package bccbackend

/*
#cgo LDFLAGS: -lbcc
#include <stdint.h>
#include <stdlib.h>

// From bcc's libbpf.h (its enum bpf_probe_attach_type is an int: 0
// entry, 1 return), declared here to keep that header's kernel types out.
int bpf_attach_uprobe(int progfd, int attach_type, const char *ev_name,
		const char *binary_path, uint64_t offset, int pid, uint32_t ref_ctr_offset);
int bpf_detach_uprobe(const char *ev_name);
int bpf_close_perf_event_fd(int fd);
*/
import "C"

import (
	"errors"
	"fmt"
	"regexp"
	"syscall"
	"unsafe"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/usym"
)

// attachedUprobe is a uprobe libbcc attached: its perf event and the
// name libbcc gave it (a uprobe_events entry, NAME_bcc_PID, on kernels
// without the uprobe PMU).
type attachedUprobe struct {
	fd     int
	evName string
}

// evNameRe is what bcc's Python replaces with _ in a uprobe's event name.
var evNameRe = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// uprobeEventName names a uprobe as bcc's Python does (_get_uprobe_evname):
// p_ or r_, the binary's path, the offset, and the PID when there is one.
func uprobeEventName(kind backend.ProbeKind, path string, offset uint64, pid int) string {
	prefix := "p"
	if kind == backend.Uretprobe {
		prefix = "r"
	}
	name := fmt.Sprintf("%s_%s_0x%x", prefix, evNameRe.ReplaceAllString(path, "_"), offset)
	if pid > 0 {
		name += fmt.Sprintf("_%d", pid)
	}
	return name
}

// attachUprobe attaches the loaded program fd at p (resolved by the
// session: Target an absolute path; Symbol plus Offset, or the file offset
// Offset) with libbcc's bpf_attach_uprobe, as bcc's attach_uprobe does.
// Close detaches it.
func (b *bccProgram) attachUprobe(p backend.Probe, fd int) error {
	offset := p.Offset
	if p.Symbol != "" {
		loc, err := usym.Resolve(p.Target, p.Symbol, p.Offset)
		if err != nil {
			return err
		}
		offset = loc.Offset
	}
	pid := p.Pid
	if pid <= 0 {
		pid = -1
	}
	attachType := 0
	if p.Kind == backend.Uretprobe {
		attachType = 1
	}
	evName := uprobeEventName(p.Kind, p.Target, offset, pid)
	cev, cpath := C.CString(evName), C.CString(p.Target)
	defer C.free(unsafe.Pointer(cev))
	defer C.free(unsafe.Pointer(cpath))
	res, err := C.bpf_attach_uprobe(C.int(fd), C.int(attachType), cev, cpath, C.uint64_t(offset), C.int(pid), 0)
	if res < 0 {
		// Without the uprobe PMU, or when it refused, libbcc made a
		// uprobe_events entry (NAME_bcc_PID) and leaves it there when
		// perf_event_open then fails: remove it.
		C.bpf_detach_uprobe(cev)
		if err == nil {
			err = errors.New("libbcc's bpf_attach_uprobe failed")
		}
		if errors.Is(err, syscall.EINVAL) {
			// Seen on Debian 12: bcc 0.26's Python passes no
			// ref_ctr_offset, so the kernel gets a random one.
			return fmt.Errorf("at file offset 0x%x: %w (the kernel refuses a uprobe where another tracer has one with a different reference counter offset, \"ref_ctr_offset mismatch\" in dmesg: Debian's bcc 0.26 Python tools set a random one; stop the other tracer, and any process still in a function it probed the return of)", offset, err)
		}
		return fmt.Errorf("at file offset 0x%x: %w", offset, err)
	}
	b.uprobes = append(b.uprobes, attachedUprobe{fd: int(res), evName: evName})
	return nil
}

// detachUprobes closes every uprobe's perf event and removes its
// uprobe_events entry if libbcc made one, last attached first.
func (b *bccProgram) detachUprobes() {
	for i := len(b.uprobes) - 1; i >= 0; i-- {
		u := b.uprobes[i]
		C.bpf_close_perf_event_fd(C.int(u.fd))
		cev := C.CString(u.evName)
		C.bpf_detach_uprobe(cev)
		C.free(unsafe.Pointer(cev))
	}
	b.uprobes = nil
}
