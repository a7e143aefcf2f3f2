package elfobj

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/layout"
)

// Program is what Prepare compiles: a probe in evtrace's dialect
// (probes/evtrace.h) with its probes named.
type Program struct {
	Name   string   // for messages, e.g. "listen.c"
	Source string   // the final C text
	CFlags []string // extra compiler flags
	Probes []backend.Probe
}

// Build is what the ELF backend compiles and the key it is cached by.
type Build struct {
	tools  clangTools
	name   string
	text   string
	cflags []string
	roots  []string
	inputs CacheInputs
}

// Prepare makes the ELF variant of p's text (EVTRACE_ELF, and the
// tracepoint argument structs that bcc would have generated) and its key.
func Prepare(p Program, tree headers.Tree, release string) (*Build, error) {
	if err := Supports(p.Probes); err != nil {
		return nil, err
	}
	tools, err := findClang()
	if err != nil {
		return nil, err
	}
	roots, err := headers.Roots(tree, release)
	if err != nil {
		return nil, err
	}
	structs, err := layout.TracepointStructs(tracepointNames(p.Probes))
	if err != nil {
		return nil, err
	}
	text := "#define EVTRACE_ELF 1\n" + structs + p.Source
	b := &Build{tools: tools, name: p.Name, text: text, cflags: p.CFlags, roots: roots}
	b.inputs = CacheInputs{
		Source:   text,
		CFlags:   elfCFlags(p.CFlags),
		Compiler: tools.identity(),
		Kernel:   kernelIdentity(),
		Headers:  headers.Identity(roots),
	}
	return b, nil
}

// Key is the build's object cache key.
func (b *Build) Key() string { return b.inputs.Key() }

// object returns the compiled object from the cache, or compiles and
// stores it; status says which.
func (b *Build) Object(ctx context.Context, cache Cache) (obj []byte, status string, err error) {
	key := b.inputs.Key()
	obj, _, err = cache.Get(key)
	if err == nil {
		return obj, "hit", nil
	}
	if !errors.Is(err, ErrCacheMiss) {
		return nil, "", err
	}
	why := "miss"
	if err != ErrCacheMiss {
		why = err.Error()
	}
	tmp, err := cache.compileDir()
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	obj, took, err := runClang(ctx, b.tools, tmp, b.name, b.text, b.cflags, b.roots)
	if err != nil {
		return nil, "", err
	}
	entry := CacheEntry{
		Key: key, Name: b.name, Created: time.Now().UTC(),
		Kernel: b.inputs.Kernel, Headers: b.inputs.Headers, CompileMS: took.Milliseconds(),
	}
	status = fmt.Sprintf("%s; compiled with clang in %v and stored", why, took.Round(time.Millisecond))
	if perr := cache.Put(obj, entry); perr != nil {
		status = fmt.Sprintf("%s; compiled with clang in %v, not stored: %v", why, took.Round(time.Millisecond), perr)
	}
	return obj, status, nil
}

// tracepointNames lists the tracepoints the probes attach to.
func tracepointNames(probes []backend.Probe) []string {
	var names []string
	for _, p := range probes {
		if p.Kind == backend.Tracepoint {
			names = append(names, p.Target)
		}
	}
	return names
}

// Section is the section gobpf/elf finds p's program in.
func Section(p backend.Probe) (string, error) {
	switch p.Kind {
	case backend.Kprobe:
		return "kprobe/" + p.Target, nil
	case backend.Kretprobe:
		return "kretprobe/" + p.Target, nil
	case backend.Tracepoint:
		cat, event, ok := strings.Cut(p.Target, ":")
		if !ok {
			return "", fmt.Errorf("tracepoint %q: want CATEGORY:EVENT", p.Target)
		}
		return "tracepoint/" + cat + "/" + event, nil
	}
	return "", fmt.Errorf("%s %s: the ELF backend (gobpf/elf) attaches kprobes, kretprobes and tracepoints only: use --backend bcc", p.Kind, p.Target)
}

// Supports says whether the ELF backend can attach every probe.
func Supports(probes []backend.Probe) error {
	for _, p := range probes {
		if _, err := Section(p); err != nil {
			return err
		}
	}
	return nil
}
