package bccbackend

/*
#cgo LDFLAGS: -lbcc
#include <stdint.h>
#include <stdlib.h>
#include <bcc/bcc_usdt.h>

extern void evtraceUSDTEach(struct bcc_usdt *);

static void evtrace_usdt_foreach(void *ctx) { bcc_usdt_foreach(ctx, evtraceUSDTEach); }
*/
import "C"

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/usym"
)

// usdtNote is one USDT probe of a binary, as libbcc lists it.
type usdtNote struct {
	Provider, Name, BinPath string
	Semaphore               uint64
	Locations               int
}

// usdtListing collects what bcc_usdt_foreach reports. Its callback takes
// no argument of ours, so the listing in progress is the package's, one
// at a time.
var usdtListing struct {
	mu    sync.Mutex
	notes []usdtNote
}

//export evtraceUSDTEach
func evtraceUSDTEach(u *C.struct_bcc_usdt) {
	usdtListing.notes = append(usdtListing.notes, usdtNote{
		Provider:  C.GoString(u.provider),
		Name:      C.GoString(u.name),
		BinPath:   C.GoString(u.bin_path),
		Semaphore: uint64(u.semaphore),
		Locations: int(u.num_locations),
	})
}

// usdtContext is one of libbcc's USDT contexts: a binary, or a process
// (whose probes' semaphores libbcc counts up in its memory when they are
// enabled, and down when the context is closed).
type usdtContext struct {
	target string
	pid    int
	ctx    unsafe.Pointer
	notes  []usdtNote
}

func (c *usdtContext) String() string {
	switch {
	case c.pid > 0 && c.target != "":
		return fmt.Sprintf("%s in PID %d", c.target, c.pid)
	case c.pid > 0:
		return fmt.Sprintf("PID %d", c.pid)
	}
	return c.target
}

// usdtSet is a program's USDT contexts and the uprobes of their enabled
// probes.
type usdtSet struct {
	contexts []*usdtContext
	probes   []backend.Probe
}

// close closes the contexts: libbcc then takes back the semaphores it
// enabled in processes.
func (s *usdtSet) close() {
	if s == nil {
		return
	}
	for _, c := range s.contexts {
		C.bcc_usdt_close(c.ctx)
	}
	s.contexts = nil
}

// openContext opens libbcc's USDT context for a binary or a process, as
// bcc's Python USDT(path=..., pid=...) does, and lists its probes.
func openContext(target string, pid int) (*usdtContext, error) {
	c := &usdtContext{target: target, pid: pid}
	var ctarget *C.char
	if target != "" {
		ctarget = C.CString(target)
		defer C.free(unsafe.Pointer(ctarget))
	}
	log, _ := captureStderr(func() {
		if pid > 0 {
			c.ctx = C.bcc_usdt_new_frompid(C.int(pid), ctarget)
		} else {
			c.ctx = C.bcc_usdt_new_frompath(ctarget)
		}
	})
	if c.ctx == nil {
		detail := ""
		if d := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(log), "HINT:")); d != "" {
			detail = ": " + d
		}
		return nil, fmt.Errorf("usdt: libbcc cannot read the USDT notes of %s (not an ELF binary, or a process that is gone)%s", c, detail)
	}
	usdtListing.mu.Lock()
	usdtListing.notes = nil
	C.evtrace_usdt_foreach(c.ctx)
	c.notes = usdtListing.notes
	usdtListing.notes = nil
	usdtListing.mu.Unlock()
	return c, nil
}

// find returns the probe u names, or an error that lists what there is.
func (c *usdtContext) find(u backend.USDT) (usdtNote, error) {
	if len(c.notes) == 0 {
		return usdtNote{}, fmt.Errorf("usdt %s: %s has no USDT probes (no .note.stapsdt notes)", u, c)
	}
	var found []usdtNote
	for _, n := range c.notes {
		if n.Name == u.Name && (u.Provider == "" || n.Provider == u.Provider) {
			found = append(found, n)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var provs []string
		for _, n := range found {
			provs = append(provs, n.Provider)
		}
		return usdtNote{}, fmt.Errorf("usdt %s: several providers have a probe %s (%s): name one, PROVIDER:%s", u, u.Name, strings.Join(provs, ", "), u.Name)
	}
	var have []string
	for _, n := range c.notes {
		have = append(have, n.Provider+":"+n.Name)
	}
	sort.Strings(have)
	if len(have) > 12 {
		have = append(have[:12], fmt.Sprintf("and %d more", len(have)-12))
	}
	return usdtNote{}, fmt.Errorf("usdt %s: no such probe in %s (it has %s)", u, c, strings.Join(have, ", "))
}

// enableUSDT opens a context for each binary or process of probes,
// enables each probe for its program (libbcc's
// bcc_usdt_enable_fully_specified_probe), and returns the
// argument-reading code libbcc generates for them (bcc_usdt_genargs),
// which goes before the program's source, as bcc's BPF(usdt_contexts=...)
// puts it. As in bcc 0.26, a probe with a semaphore (an is-enabled probe,
// which runs only when its semaphore is not zero) is enabled only in a
// process: libbcc adds one to the semaphore in that process's memory, and
// takes it back when the context is closed. In a binary without --pid,
// libbcc refuses such a probe (it has no process to write to), and so
// does evtrace, saying so.
func enableUSDT(probes []backend.USDT) (*usdtSet, string, error) {
	set := &usdtSet{}
	byKey := map[string]*usdtContext{}
	for _, u := range probes {
		key := fmt.Sprintf("%s\x00%d", u.Target, u.Pid)
		c := byKey[key]
		if c == nil {
			var err error
			if c, err = openContext(u.Target, u.Pid); err != nil {
				set.close()
				return nil, "", err
			}
			byKey[key] = c
			set.contexts = append(set.contexts, c)
		}
		note, err := c.find(u)
		if err == nil && note.Semaphore != 0 && u.Pid <= 0 {
			err = fmt.Errorf("usdt %s: the probe has a semaphore (it runs only while a tracer counts it up); bcc 0.26 enables semaphores only in a running process: give --pid", u)
		}
		if err == nil {
			err = enableProbe(c, note, u)
		}
		if err != nil {
			set.close()
			return nil, "", err
		}
		for i := 0; i < note.Locations; i++ {
			p, err := c.location(note, i, u)
			if err != nil {
				set.close()
				return nil, "", err
			}
			set.probes = append(set.probes, p)
		}
	}
	ctxs := make([]unsafe.Pointer, len(set.contexts))
	for i, c := range set.contexts {
		ctxs[i] = c.ctx
	}
	// bcc_usdt_genargs writes into a static buffer: compileMu guards it.
	carr := C.malloc(C.size_t(len(ctxs)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(carr)
	copy(unsafe.Slice((*unsafe.Pointer)(carr), len(ctxs)), ctxs)
	compileMu.Lock()
	var text *C.char
	log, _ := captureStderr(func() { text = C.bcc_usdt_genargs((*unsafe.Pointer)(carr), C.int(len(ctxs))) })
	var gen string
	if text != nil {
		gen = C.GoString(text)
	}
	compileMu.Unlock()
	if text == nil {
		set.close()
		return nil, "", fmt.Errorf("usdt: libbcc could not generate the code that reads the probes' arguments: %s", strings.TrimSpace(log))
	}
	return set, gen, nil
}

// enableProbe enables a probe of c for u's program.
func enableProbe(c *usdtContext, note usdtNote, u backend.USDT) error {
	cprov, cname, cfn := C.CString(note.Provider), C.CString(note.Name), C.CString(u.Program)
	defer C.free(unsafe.Pointer(cprov))
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cfn))
	var res C.int
	log, _ := captureStderr(func() { res = C.bcc_usdt_enable_fully_specified_probe(c.ctx, cprov, cname, cfn) })
	if res == 0 {
		return nil
	}
	why := "libbcc refused it"
	switch {
	case strings.TrimSpace(log) != "":
		why = strings.TrimSpace(log)
	case note.Semaphore != 0:
		why = fmt.Sprintf("libbcc could not count up its semaphore in PID %d's memory", c.pid)
	}
	return fmt.Errorf("usdt %s: enable for %s: %s (a probe takes one program)", u, u.Program, why)
}

// location returns the uprobe at location i of a probe: libbcc gives its
// virtual address in the binary, which becomes a file offset as bcc's
// attach_uprobe(addr=...) makes it.
func (c *usdtContext) location(note usdtNote, i int, u backend.USDT) (backend.Probe, error) {
	cprov, cname := C.CString(note.Provider), C.CString(note.Name)
	defer C.free(unsafe.Pointer(cprov))
	defer C.free(unsafe.Pointer(cname))
	var loc C.struct_bcc_usdt_location
	if C.bcc_usdt_get_location(c.ctx, cprov, cname, C.int(i), &loc) != 0 {
		return backend.Probe{}, fmt.Errorf("usdt %s: libbcc has no location %d", u, i)
	}
	path := C.GoString(loc.bin_path)
	resolved, err := usym.Resolve(path, "", uint64(loc.address))
	if err != nil {
		return backend.Probe{}, fmt.Errorf("usdt %s: %w", u, err)
	}
	pid := u.Pid
	if pid <= 0 {
		pid = -1
	}
	return backend.Probe{Kind: backend.Uprobe, Target: path, Offset: resolved.Offset, Pid: pid, Program: u.Program}, nil
}

// LoadSourceUSDT compiles source after the argument-reading code of
// probes; see backend.USDTLoader.
func (Loader) LoadSourceUSDT(name, source string, cflags []string, headersDir string, probes []backend.USDT) (backend.USDTProgram, error) {
	set, gen, err := enableUSDT(probes)
	if err != nil {
		return nil, err
	}
	mod, err := compile(name, gen+source, cflags, headersDir)
	if err != nil {
		set.close()
		return nil, err
	}
	return &bccProgram{mod: mod, usdt: set}, nil
}

// USDTProbes are the uprobes of the program's USDT probes' locations.
func (b *bccProgram) USDTProbes() []backend.Probe {
	if b.usdt == nil {
		return nil
	}
	return b.usdt.probes
}

var _ backend.USDTLoader = Loader{}
