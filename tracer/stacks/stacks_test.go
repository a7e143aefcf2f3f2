package stacks

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/evtrace/evtrace/tracer/symbols"
)

func TestKindOf(t *testing.T) {
	for name, want := range map[string]Kind{
		"stack_id": Kernel, "kernel_stack_id": Kernel, "kern_stack_id": Kernel, "k_stack_id": Kernel,
		"w_k_stack_id": Kernel, "stackid": Kernel, "first_mutex_stack_id": Kernel, "kstack_id": Kernel,
		"user_stack_id": User, "u_stack_id": User, "t_u_stack_id": User, "ustack_id": User, "USER_STACK_ID": User,
		"key.user_stack_id": User, "pid": None, "stack": None, "stack_id_count": None,
	} {
		if got := KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	var c Config
	for _, s := range []string{"sid=user", "kernel_stack_id=none", "other=kernel:st2"} {
		if err := c.ParseFlag(s); err != nil {
			t.Fatal(err)
		}
	}
	if c.Kind("sid") != User || c.Kind("kernel_stack_id") != None || c.Kind("user_stack_id") != User || c.Tables["other"] != "st2" {
		t.Errorf("config = %+v", c)
	}
	for _, bad := range []string{"sid", "=user", "x=both", "sid=kernel"} {
		if err := c.ParseFlag(bad); err == nil {
			t.Errorf("--stack %q: no error", bad)
		}
	}
}

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		id   int64
		want string
	}{
		{User, -int64(syscall.EFAULT), "no user stack (EFAULT)"},
		{Kernel, -int64(syscall.EFAULT), "no kernel stack (EFAULT)"},
		{Kernel, -int64(syscall.EEXIST), "hash collision"},
		{User, -int64(syscall.ENOMEM), "table is full"},
		{Kernel, -int64(syscall.EINVAL), "invalid argument"},
	} {
		if got := Explain(c.kind, c.id); !strings.Contains(got, c.want) {
			t.Errorf("Explain(%v, %d) = %q, want it to contain %q", c.kind, c.id, got, c.want)
		}
	}
}

func TestID(t *testing.T) {
	for _, c := range []struct {
		v    any
		size int
		want int64
	}{
		{int64(-14), 4, -14}, {uint64(0xfffffff2), 4, -14}, {uint64(0xfffffffffffffff2), 8, -14}, {uint64(7), 4, 7},
	} {
		if got, ok := ID(c.v, c.size); !ok || got != c.want {
			t.Errorf("ID(%v, %d) = %d %v, want %d", c.v, c.size, got, ok, c.want)
		}
	}
}

type fakeTable struct {
	name   string
	stacks map[uint32][]uint64
}

func (f fakeTable) Name() string { return f.name }
func (f fakeTable) Lookup(id uint32) ([]uint64, error) {
	if s, ok := f.stacks[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("lookup: %w", syscall.ENOENT)
}
func (f fakeTable) Close() error { return nil }

type fakeSym struct{}

func (fakeSym) Kernel(a uint64) symbols.Frame {
	return symbols.Frame{Addr: a, Symbol: "ksym", Offset: a & 0xff}
}
func (fakeSym) User(pid int, a uint64) symbols.Frame {
	if pid == 0 {
		return symbols.Frame{Addr: a}
	}
	return symbols.Frame{Addr: a, Symbol: fmt.Sprintf("usym%d", pid), Offset: 1, Module: "/bin/x"}
}

func TestResolve(t *testing.T) {
	tab := fakeTable{name: "st", stacks: map[uint32][]uint64{3: {0xffffffff81000010, 0xffffffff81000020}}}
	r := NewResolver([]Table{tab}, fakeSym{})
	s := r.Resolve(tab, "kernel_stack_id", Kernel, 3, 0)
	if got := strings.Join(s.Lines(), "|"); got != "ksym+0x10|ksym+0x20" {
		t.Errorf("kernel lines = %q", got)
	}
	u := r.Resolve(tab, "user_stack_id", User, 3, 42)
	if got := strings.Join(u.Lines(), "|"); got != "usym42+0x1 [/bin/x]|usym42+0x1 [/bin/x]" {
		t.Errorf("user lines = %q", got)
	}
	if got := strings.Join(r.Resolve(tab, "user_stack_id", User, 3, 0).Lines(), "|"); got != "[unknown]|[unknown]" {
		t.Errorf("user lines without a pid = %q", got)
	}
	neg := r.Resolve(tab, "user_stack_id", User, -14, 42)
	if len(neg.Frames) != 0 || neg.Lines()[0] != "[no user stack (EFAULT): a kernel thread, or no user context]" {
		t.Errorf("-EFAULT = %+v", neg)
	}
	if gone := r.Resolve(tab, "kernel_stack_id", Kernel, 9, 0); !strings.Contains(gone.Err, "not in st") {
		t.Errorf("absent id: %+v", gone)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":3,"kind":"kernel","frames":[{"addr":"0xffffffff81000010","symbol":"ksym","offset":16},{"addr":"0xffffffff81000020","symbol":"ksym","offset":32}]}`; string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	b, _ = json.Marshal(neg)
	if !strings.Contains(string(b), `"error":"no user stack (EFAULT)`) || strings.Contains(string(b), "frames") {
		t.Errorf("JSON of -EFAULT = %s", b)
	}
}

func TestPlan(t *testing.T) {
	tab := fakeTable{name: "st"}
	r := NewResolver([]Table{tab}, fakeSym{})
	cols := []Column{{"pid", true}, {"tgid", true}, {"user_stack_id", true}, {"kernel_stack_id", true}, {"stack_id", false}, {"sid", true}}
	var c Config
	c.ParseFlag("sid=user")
	used := map[string]bool{}
	p, err := r.Plan(c, cols, used)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range p.Members {
		got = append(got, fmt.Sprintf("%d:%s:%v", m.Index, m.Name, m.Kind))
	}
	if strings.Join(got, " ") != "2:user_stack_id:user 3:kernel_stack_id:kernel 5:sid:user" || p.PID != 1 || !used["sid"] {
		t.Errorf("plan = %v pid %d used %v", got, p.PID, used)
	}
	// Several tables: the member must say which.
	r2 := NewResolver([]Table{tab, fakeTable{name: "st2"}}, fakeSym{})
	if _, err := r2.Plan(Config{}, cols, used); err == nil || !strings.Contains(err.Error(), "several") {
		t.Errorf("several tables: %v", err)
	}
	// No table: names like stack ids are left alone, unless --stack says.
	r3 := NewResolver(nil, fakeSym{})
	if p, err := r3.Plan(Config{}, cols, used); err != nil || len(p.Members) != 0 {
		t.Errorf("no table: %+v %v", p, err)
	}
	if _, err := r3.Plan(c, cols, used); err == nil {
		t.Error("--stack without a table: no error")
	}
	var bad Config
	bad.ParseFlag("stack_id=kernel")
	if _, err := r.Plan(bad, cols, used); err == nil {
		t.Error("--stack on a member that is no integer: no error")
	}
}
