// Package stacks prints stack ids as stacks: it says which members of a
// record or map key hold stack ids (bcc's naming: *stack_id, with
// kernel_/user_ and k_/u_ prefixes; --stack overrides), reads the
// addresses of an id from the program's BPF_STACK_TRACE table, and
// symbolizes them (tracer/symbols), or explains a negative id as bcc's
// tools do.
package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/evtrace/evtrace/tracer/symbols"
)

// Kind is whose stack an id is: the kernel's, or the user process's
// (bpf_get_stackid with BPF_F_USER_STACK).
type Kind int

const (
	None   Kind = iota // not a stack id
	Kernel             // kernel frames, symbolized from /proc/kallsyms
	User               // user frames, symbolized from the process's mappings
)

func (k Kind) String() string {
	switch k {
	case Kernel:
		return "kernel"
	case User:
		return "user"
	}
	return "none"
}

// KindOf applies bcc's naming convention to a member's name: a name
// ending in stack_id or stackid is a stack id (bcc's tools name them
// stack_id, kernel_stack_id, user_stack_id, kern_stack_id, k_stack_id,
// u_stack_id, w_u_stack_id, ...); it is a user stack when the word before
// "stack" is user, usr or u (or it starts ustack), else a kernel stack.
// A dotted name (a nested member) is judged by its last part.
func KindOf(member string) Kind {
	name := strings.ToLower(member[strings.LastIndexByte(member, '.')+1:])
	var prefix string
	switch {
	case strings.HasSuffix(name, "stack_id"):
		prefix = strings.TrimSuffix(name, "stack_id")
	case strings.HasSuffix(name, "stackid"):
		prefix = strings.TrimSuffix(name, "stackid")
	default:
		return None
	}
	prefix = strings.TrimRight(prefix, "_")
	word := prefix[strings.LastIndexByte(prefix, '_')+1:]
	switch word {
	case "user", "usr", "u":
		return User
	}
	return Kernel
}

// Config is what --stack says: members whose kind the convention gets
// wrong or misses (None: not a stack id), and which stack table holds
// them when the program has several.
type Config struct {
	Kinds  map[string]Kind
	Tables map[string]string
}

// ParseFlag reads one --stack MEMBER=kernel|user|none[:TABLE] into c.
func (c *Config) ParseFlag(s string) error {
	member, val, ok := strings.Cut(s, "=")
	if !ok || member == "" {
		return fmt.Errorf("--stack %q: want MEMBER=kernel, MEMBER=user or MEMBER=none (MEMBER=KIND:TABLE names the BPF_STACK_TRACE table)", s)
	}
	kind, table, _ := strings.Cut(val, ":")
	var k Kind
	switch kind {
	case "kernel":
		k = Kernel
	case "user":
		k = User
	case "none":
		k = None
	default:
		return fmt.Errorf("--stack %q: unknown kind %q (want kernel, user or none)", s, kind)
	}
	if c.Kinds == nil {
		c.Kinds, c.Tables = map[string]Kind{}, map[string]string{}
	}
	if _, dup := c.Kinds[member]; dup {
		return fmt.Errorf("--stack names %s twice", member)
	}
	c.Kinds[member] = k
	if table != "" {
		c.Tables[member] = table
	}
	return nil
}

// Kind says whether member holds a stack id, and whose: --stack's word,
// else the convention (KindOf).
func (c Config) Kind(member string) Kind {
	if k, ok := c.Kinds[member]; ok {
		return k
	}
	return KindOf(member)
}

// Stack is one stack id as printed: its frames, innermost first, or why
// there are none.
type Stack struct {
	Member string // the member that holds the id
	Kind   Kind
	ID     int64
	Err    string // a negative id explained, or why the stack could not be read
	Frames []symbols.Frame
}

// MarshalJSON writes {"id":N,"kind":"kernel","frames":[{addr, symbol,
// offset, module}...]} or, without frames, "error" instead of "frames".
// Addresses are strings ("0xffffffff81000000"): JSON numbers lose
// precision past 2^53.
func (s Stack) MarshalJSON() ([]byte, error) {
	type frame struct {
		Addr   string `json:"addr"`
		Symbol string `json:"symbol"`
		Offset uint64 `json:"offset"`
		Module string `json:"module,omitempty"`
	}
	out := struct {
		ID     int64   `json:"id"`
		Kind   string  `json:"kind"`
		Frames []frame `json:"frames,omitempty"`
		Error  string  `json:"error,omitempty"`
	}{ID: s.ID, Kind: s.Kind.String(), Error: s.Err}
	for _, f := range s.Frames {
		sym := f.Symbol
		if sym == "" {
			sym = "[unknown]"
		}
		out.Frames = append(out.Frames, frame{Addr: "0x" + strconv.FormatUint(f.Addr, 16), Symbol: sym, Offset: f.Offset, Module: f.Module})
	}
	if out.Frames == nil && out.Error == "" {
		out.Frames = []frame{}
	}
	return json.Marshal(out)
}

// Lines is the stack as text, one frame a line (innermost first), or its
// error in brackets, as bcc's tools print "[Missed Kernel Stack]".
func (s Stack) Lines() []string {
	if s.Err != "" {
		return []string{"[" + s.Err + "]"}
	}
	lines := make([]string, len(s.Frames))
	for i, f := range s.Frames {
		lines[i] = f.String()
	}
	return lines
}

// Explain says why bpf_get_stackid returned a negative id (-errno),
// following bcc's tools: -EFAULT is a stack that does not exist (a
// kernel thread's user stack, or a kernel stack when the event was in
// user space); -EEXIST a hash collision and -ENOMEM a full table, both
// lost stacks that a larger table would keep (stackcount's and profile's
// "Consider increasing --stack-storage-size").
func Explain(kind Kind, id int64) string {
	missed := "missed " + kind.String() + " stack"
	switch syscall.Errno(-id) {
	case syscall.EFAULT:
		if kind == User {
			return "no user stack (EFAULT): a kernel thread, or no user context"
		}
		return "no kernel stack (EFAULT)"
	case syscall.EEXIST:
		return missed + " (EEXIST): a hash collision in the stack table; a larger BPF_STACK_TRACE keeps more stacks"
	case syscall.ENOMEM:
		return missed + " (ENOMEM): the stack table is full; a larger BPF_STACK_TRACE keeps more stacks"
	}
	if id < -4095 {
		return fmt.Sprintf("missed %s stack: id %d is no stack id", kind, id)
	}
	return fmt.Sprintf("%s (bpf_get_stackid: %v)", missed, syscall.Errno(-id))
}

// ID reads a stack id from a decoded integer: int64 as it is; uint64 as
// the int32 or int64 its size held (a negative errno stored in a u32 or
// u64 member).
func ID(v any, size int) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		if size == 4 {
			return int64(int32(uint32(x))), true
		}
		return int64(x), true
	}
	return 0, false
}

// Table is a stack trace map: bpfmap.StackTable, or a test's.
type Table interface {
	Name() string
	Lookup(id uint32) ([]uint64, error)
	Close() error
}

// Symbolizer is what Resolver needs of symbols.Resolver.
type Symbolizer interface {
	Kernel(addr uint64) symbols.Frame
	User(pid int, addr uint64) symbols.Frame
}

// Resolver turns stack ids into Stacks. It is not safe for concurrent use.
type Resolver struct {
	tables []Table
	sym    Symbolizer
}

// NewResolver resolves ids against tables with sym.
func NewResolver(tables []Table, sym Symbolizer) *Resolver {
	return &Resolver{tables: tables, sym: sym}
}

// Table finds the stack table for a member: the one --stack names, or the
// program's only one.
func (r *Resolver) Table(member, named string) (Table, error) {
	var names []string
	for _, t := range r.tables {
		if t.Name() == named {
			return t, nil
		}
		names = append(names, t.Name())
	}
	switch {
	case named != "":
		return nil, fmt.Errorf("--stack %s: no BPF_STACK_TRACE table %s (the program has %s)", member, named, listOr(names))
	case len(r.tables) == 1:
		return r.tables[0], nil
	case len(r.tables) == 0:
		return nil, fmt.Errorf("member %s holds stack ids, but the program has no BPF_STACK_TRACE table (--stack %s=none prints it as a number)", member, member)
	}
	return nil, fmt.Errorf("member %s holds stack ids and the program has several BPF_STACK_TRACE tables (%s): name its table with --stack %s=KIND:TABLE", member, strings.Join(names, ", "), member)
}

func listOr(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Resolve reads stack id of the given kind from t and symbolizes it; pid
// is the process whose user stack it is (0: unknown, its frames
// unknown).
func (r *Resolver) Resolve(t Table, member string, kind Kind, id int64, pid int) Stack {
	s := Stack{Member: member, Kind: kind, ID: id}
	if id < 0 {
		s.Err = Explain(kind, id)
		return s
	}
	if id > int64(^uint32(0)) {
		s.Err = fmt.Sprintf("id %d is no stack id", id)
		return s
	}
	addrs, err := t.Lookup(uint32(id))
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			s.Err = fmt.Sprintf("stack %d is not in %s (replaced by a later stack, or the table was cleared)", id, t.Name())
		} else {
			s.Err = err.Error()
		}
		return s
	}
	s.Frames = make([]symbols.Frame, len(addrs))
	for i, a := range addrs {
		if kind == User {
			s.Frames[i] = r.sym.User(pid, a)
		} else {
			s.Frames[i] = r.sym.Kernel(a)
		}
	}
	return s
}

// Close closes the stack tables.
func (r *Resolver) Close() error {
	var errs []error
	for _, t := range r.tables {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}
