package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/conventions"
	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/usym"
)

// resolveUprobe checks a uprobe before anything is compiled (the
// process, the binary, the symbol) and returns it as the backends take
// it: Target the binary's absolute path, and either Symbol and Offset
// into it, or, for a raw address, no Symbol and the file offset.
func resolveUprobe(p backend.Probe) (backend.Probe, error) {
	if p.Pid > 0 {
		if err := usym.CheckPID(p.Pid); err != nil {
			return p, fmt.Errorf("%s %s: --pid %w", p.Kind, p.Target, err)
		}
	}
	path, err := usym.FindTarget(p.Target, p.Pid)
	if err != nil {
		return p, fmt.Errorf("%s: %w", p.Kind, err)
	}
	if p.Symbol == "" {
		// Resolved already: Offset is a file offset.
		p.Target = path
		return p, nil
	}
	sym, off := p.Symbol, p.Offset
	if addr, raw := conventions.RawAddress(p); raw {
		sym, off = "", addr
	}
	loc, err := usym.Resolve(path, sym, off)
	if err != nil {
		return p, fmt.Errorf("%s: %w", p.Kind, err)
	}
	p.Target = path
	if sym == "" {
		p.Symbol, p.Offset = "", loc.Offset
	}
	return p, nil
}

// resolveUprobes resolves every uprobe of probes (see resolveUprobe).
func resolveUprobes(probes []backend.Probe) ([]backend.Probe, error) {
	out := make([]backend.Probe, len(probes))
	for i, p := range probes {
		if p.Kind == backend.Uprobe || p.Kind == backend.Uretprobe {
			var err error
			if p, err = resolveUprobe(p); err != nil {
				return nil, err
			}
		}
		out[i] = p
	}
	return out, nil
}

// checkUSDT checks USDT probes before anything is compiled: the binary
// and the process. libbcc reads their notes (and says which probes it
// has) at load.
func checkUSDT(probes []backend.USDT) error {
	for _, u := range probes {
		if u.Pid > 0 {
			if err := usym.CheckPID(u.Pid); err != nil {
				return fmt.Errorf("usdt %s: --pid %w", u, err)
			}
		}
		if u.Target == "" {
			if u.Pid <= 0 {
				return fmt.Errorf("usdt %s: no binary and no process", u)
			}
			continue
		}
		if !filepath.IsAbs(u.Target) {
			return fmt.Errorf("usdt %s: want an absolute path", u)
		}
		st, err := os.Stat(u.Target)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("usdt %s: %w", u, usym.ErrNoBinary)
		}
		if err != nil {
			return fmt.Errorf("usdt %s: %w", u, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("usdt %s: not a regular file", u)
		}
	}
	return nil
}

// loadUSDT compiles spec's program with the argument-reading code of its
// USDT probes, through a loader that has libbcc's USDT API.
func loadUSDT(loader backend.SourceLoader, spec Spec, tree headers.Tree) (backend.Program, error) {
	u, ok := loader.(backend.USDTLoader)
	if !ok {
		return nil, fmt.Errorf("%s: this build's bcc backend attaches no USDT probes", spec.Name)
	}
	return u.LoadSourceUSDT(spec.Name, spec.Source, spec.CFlags, tree.Dir, spec.USDT)
}
