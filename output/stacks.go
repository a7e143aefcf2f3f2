package output

import (
	"encoding/json"
	"strconv"

	"github.com/evtrace/evtrace/tracer/stacks"
)

// appendStacks appends, under a record's or entry's line, each stack
// among vals as bcc's stackcount prints one: a line naming the member,
// then one frame a line, innermost first, indented; a negative id's
// explanation in brackets, as bcc's "[Missed Kernel Stack]".
func appendStacks(b []byte, vals []any) []byte {
	for _, v := range vals {
		if s, ok := v.(stacks.Stack); ok {
			b = appendStack(b, s)
		}
	}
	return b
}

func appendStack(b []byte, s stacks.Stack) []byte {
	b = append(b, "  "...)
	b = appendEscaped(b, s.Member)
	b = append(b, " ("...)
	b = append(b, s.Kind.String()...)
	b = append(b, " stack "...)
	b = strconv.AppendInt(b, s.ID, 10)
	b = append(b, "):\n"...)
	for _, l := range s.Lines() {
		b = append(b, "    "...)
		b = appendEscaped(b, l)
		b = append(b, '\n')
	}
	return b
}

// appendStackJSON appends a stack member: the id under key, the stack
// under stackKey.
func appendStackJSON(b []byte, key, stackKey string, s stacks.Stack) ([]byte, error) {
	b = append(b, key...)
	b = strconv.AppendInt(b, s.ID, 10)
	v, err := json.Marshal(s)
	if err != nil {
		return b, err
	}
	b = append(b, ',')
	b = append(b, stackKey...)
	return append(b, v...), nil
}
