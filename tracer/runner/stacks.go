package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/evtrace/evtrace/tracer/bpfmap"
	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/symbols"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tabletype"
	"golang.org/x/sys/unix"
)

// stackState turns the stack ids of records and map keys into stacks.
// Records are symbolized when they are read (their processes usually
// still run); map keys when the maps are read, by which time a process
// may have exited: its user frames are then [unknown], as in bcc.
type stackState struct {
	res     *stacks.Resolver
	sym     *symbols.Resolver
	records map[string]stacks.Plan // by perf table
	keys    map[string]stacks.Plan // by map
	noted   bool                   // the kernel symbols' error was said
	note    func(string)
}

// prepareStacks opens the program's stack tables and finds the stack-id
// members of its records and map keys.
func (r *Runner) prepareStacks(note func(string)) error {
	var tabs []stacks.Table
	st := &stackState{sym: symbols.NewResolver(), records: map[string]stacks.Plan{}, keys: map[string]stacks.Plan{}, note: note}
	for _, m := range r.sess.Maps() {
		if m.Type != unix.BPF_MAP_TYPE_STACK_TRACE || m.FD < 0 {
			continue
		}
		t, err := bpfmap.OpenStackTable(m.Name, m.FD, m.ValueSize)
		if err != nil {
			for _, t := range tabs {
				t.Close()
			}
			return err
		}
		tabs = append(tabs, t)
	}
	st.res = stacks.NewResolver(tabs, st.sym)
	r.stacks = st
	used := map[string]bool{}
	for table, d := range r.decoders {
		cols := make([]stacks.Column, len(d.Fields))
		for i, f := range d.Fields {
			cols[i] = stacks.Column{Name: f.Name, Int: (f.Kind == layout.FieldInt || f.Kind == layout.FieldUint) && len(f.Dims) == 0 && f.Bits == 0 && (f.Size == 4 || f.Size == 8)}
		}
		p, err := st.res.Plan(r.opts.Stacks, cols, used)
		if err != nil {
			return fmt.Errorf("perf table %s: %w", table, err)
		}
		if len(p.Members) > 0 {
			st.records[table] = p
		}
	}
	if r.maps != nil {
		for name, leaves := range r.maps.KeyLeaves() {
			cols := make([]stacks.Column, len(leaves))
			for i, l := range leaves {
				cols[i] = stacks.Column{Name: l.Name, Int: (l.Type.Kind == tabletype.Int || l.Type.Kind == tabletype.Uint) && (l.Type.Size == 4 || l.Type.Size == 8)}
			}
			p, err := st.res.Plan(r.opts.Stacks, cols, used)
			if err != nil {
				return fmt.Errorf("map %s: key: %w", name, err)
			}
			if len(p.Members) > 0 {
				st.keys[name] = p
			}
		}
	}
	var unused []string
	for m := range r.opts.Stacks.Kinds {
		if !used[m] {
			unused = append(unused, m)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return fmt.Errorf("--stack %s: no such member in the records or the map keys printed", strings.Join(unused, ", "))
	}
	return nil
}

// record replaces the stack ids of a record of table by Stacks.
func (st *stackState) record(table string, fields []layout.Field, vals []any) {
	if st == nil {
		return
	}
	p, ok := st.records[table]
	if !ok {
		return
	}
	pid := 0
	if p.PID >= 0 {
		pid = stacks.PIDOf(vals[p.PID])
	}
	for _, m := range p.Members {
		id, ok := stacks.ID(vals[m.Index], fields[m.Index].Size)
		if ok {
			vals[m.Index] = st.res.Resolve(m.Table, m.Name, m.Kind, id, pid)
		}
	}
	st.noteKernel()
}

// mapKeys fills in the Stacks of the entries of tables whose keys hold
// stack ids.
func (st *stackState) mapKeys(snaps []tables.Snapshot) {
	if st == nil || len(st.keys) == 0 {
		return
	}
	st.sym.Forget() // processes may have exited or exec'd since the last read
	for i := range snaps {
		p, ok := st.keys[snaps[i].Map]
		if !ok || snaps[i].Mode != tables.Table {
			continue
		}
		leaves := snaps[i].KeyLeaves
		for j := range snaps[i].Entries {
			e := &snaps[i].Entries[j]
			pid := 0
			if p.PID >= 0 {
				if v, ok := e.Key.At(leaves[p.PID].Path); ok {
					pid = stacks.PIDOf(scalar(v))
				}
			}
			for _, m := range p.Members {
				v, ok := e.Key.At(leaves[m.Index].Path)
				if !ok {
					continue
				}
				if id, ok := stacks.ID(scalar(v), leaves[m.Index].Type.Size); ok {
					e.Stacks = append(e.Stacks, st.res.Resolve(m.Table, m.Name, m.Kind, id, pid))
				}
			}
		}
	}
	st.noteKernel()
}

// scalar is an integer Value as layout decodes one: int64 or uint64.
func scalar(v tabletype.Value) any {
	if v.Type == nil {
		return nil
	}
	switch v.Type.Kind {
	case tabletype.Int:
		return v.Int
	case tabletype.Uint:
		return v.Uint
	}
	return nil
}

// noteKernel says once why kernel frames are unknown, if they are.
func (st *stackState) noteKernel() {
	if err := st.sym.KernelErr(); err != nil && !st.noted {
		st.noted = true
		st.note(fmt.Sprintf("warning: kernel frames print as [unknown]: %v", err))
	}
}

func (st *stackState) close() error {
	if st == nil {
		return nil
	}
	return errors.Join(st.res.Close())
}
