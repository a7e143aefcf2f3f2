package output

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/layout"
	"github.com/evtrace/evtrace/tracer/stacks"
	"github.com/evtrace/evtrace/tracer/symbols"
	"github.com/evtrace/evtrace/tracer/tables"
	"github.com/evtrace/evtrace/tracer/tabletype"
)

func testStacks() (stacks.Stack, stacks.Stack) {
	k := stacks.Stack{Member: "kernel_stack_id", Kind: stacks.Kernel, ID: 7, Frames: []symbols.Frame{
		{Addr: 0xffffffff81000010, Symbol: "do_syscall_64", Offset: 0x10},
		{Addr: 0xffffffff81000100, Symbol: "entry_SYSCALL_64", Offset: 0x20},
	}}
	u := stacks.Stack{Member: "user_stack_id", Kind: stacks.User, ID: -14, Err: stacks.Explain(stacks.User, -14)}
	return k, u
}

func TestRecordStacks(t *testing.T) {
	k, u := testStacks()
	fields := []layout.Field{
		{Name: "pid", Kind: layout.FieldUint, Size: 4},
		{Name: "kernel_stack_id", Kind: layout.FieldInt, Size: 4},
		{Name: "user_stack_id", Kind: layout.FieldInt, Size: 4},
	}
	var b bytes.Buffer
	p := NewRecordPrinter(&b, Text, []string{"events"}, "")
	if err := p.Record("events", fields, []any{uint64(42), k, u}); err != nil {
		t.Fatal(err)
	}
	want := "PID        KERNEL_STACK_ID USER_STACK_ID\n" +
		"42         7               -14\n" +
		"  kernel_stack_id (kernel stack 7):\n" +
		"    do_syscall_64+0x10\n" +
		"    entry_SYSCALL_64+0x20\n" +
		"  user_stack_id (user stack -14):\n" +
		"    [no user stack (EFAULT): a kernel thread, or no user context]\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	p = NewRecordPrinter(&b, JSON, []string{"events"}, "")
	if err := p.Record("events", fields, []any{uint64(42), k, u}); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"pid":42,"kernel_stack_id":7,"kernel_stack_id_stack":{"id":7,"kind":"kernel","frames":[{"addr":"0xffffffff81000010","symbol":"do_syscall_64","offset":16},{"addr":"0xffffffff81000100","symbol":"entry_SYSCALL_64","offset":32}]},` +
		`"user_stack_id":-14,"user_stack_id_stack":{"id":-14,"kind":"user","error":"no user stack (EFAULT): a kernel thread, or no user context"}}` + "\n"
	if b.String() != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), wantJSON)
	}
}

func TestMapStacks(t *testing.T) {
	k, _ := testStacks()
	key, err := tabletype.Parse(`["key_t",[["pid","unsigned int"],["kernel_stack_id","int"]],"struct_packed"]`)
	if err == nil {
		err = key.CheckSize(8)
	}
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := tabletype.Parse(`"unsigned long long"`)
	kv, err := key.Decode([]byte{42, 0, 0, 0, 7, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := leaf.Decode([]byte{5, 0, 0, 0, 0, 0, 0, 0})
	snap := tables.Snapshot{Map: "counts", Kind: "hash", Time: time.Unix(0, 0), Mode: tables.Table,
		KeyLeaves: key.Leaves(), ValueLeaves: leaf.Leaves(), Total: 1,
		Entries: []tables.Entry{{Key: kv, Value: v, Stacks: []stacks.Stack{k}}}}
	var b bytes.Buffer
	if err := NewMapPrinter(&b, Text).Print([]tables.Snapshot{snap}); err != nil {
		t.Fatal(err)
	}
	want := "counts:\npid  kernel_stack_id  value\n42   7                5\n  kernel_stack_id (kernel stack 7):\n    do_syscall_64+0x10\n    entry_SYSCALL_64+0x20\n"
	if b.String() != want {
		t.Errorf("text:\n%q\nwant:\n%q", b.String(), want)
	}
	b.Reset()
	if err := NewMapPrinter(&b, JSON).Print([]tables.Snapshot{snap}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"stacks":{"kernel_stack_id":{"id":7,"kind":"kernel","frames":[{"addr":"0xffffffff81000010","symbol":"do_syscall_64"`) {
		t.Errorf("json: %s", b.String())
	}
}
