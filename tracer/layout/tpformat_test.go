package layout

import (
	"strings"
	"testing"
)

const setStateFormat = `name: inet_sock_set_state
ID: 2287
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:int oldstate;	offset:16;	size:4;	signed:1;
	field:int newstate;	offset:20;	size:4;	signed:1;
	field:__u16 sport;	offset:24;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
	field:__data_loc char[] name;	offset:36;	size:4;	signed:0;

print fmt: "sport=%hu", REC->sport
`

func TestTracepointStruct(t *testing.T) {
	fields, err := parseTracepointFormat(setStateFormat)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 10 {
		t.Fatalf("%d fields, want 10", len(fields))
	}
	got, err := tracepointStruct("sock", "inet_sock_set_state", fields)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"struct tracepoint__sock__inet_sock_set_state {\n",
		"\tunsigned short common_type;\n",
		"\tsigned int common_pid;\n",
		"\tunsigned long long skaddr;\n",
		"\tsigned int newstate;\n",
		"\tunsigned short sport;\n",
		"\tunsigned char __pad_26[6];\n", // the gap 26..32
		"\tunsigned char saddr[4];\n",
		"\tunsigned int name;\n",
		"_Static_assert(__builtin_offsetof(struct tracepoint__sock__inet_sock_set_state, saddr) == 32, \"saddr\");\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("struct lacks %q:\n%s", want, got)
		}
	}
}

func TestTracepointFormatErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no fields":   "name: x\nformat:\n\nprint fmt: \"\"\n",
		"bad offset":  "\tfield:int a;\toffset:x;\tsize:4;\tsigned:1;\n",
		"no size":     "\tfield:int a;\toffset:0;\tsigned:1;\n",
		"no name":     "\tfield:int ;\toffset:0;\tsize:4;\tsigned:1;\n",
		"zero length": "\tfield:int a;\toffset:0;\tsize:0;\tsigned:1;\n",
	} {
		if _, err := parseTracepointFormat(text); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	overlap := []tracepointField{{name: "a", decl: "int a", offset: 0, size: 4}, {name: "b", decl: "int b", offset: 2, size: 4}}
	if _, err := tracepointStruct("c", "e", overlap); err == nil {
		t.Error("overlapping fields: no error")
	}
}
