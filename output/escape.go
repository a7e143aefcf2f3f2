package output

import (
	"encoding/base64"
	"unicode"
	"unicode/utf8"
)

// Strings in events come from traced processes: a task name is whatever
// the task set (prctl(PR_SET_NAME), or the name of what it exec'd), and a
// program may submit any bytes. Text output escapes, in every string
// column, what a terminal would act on or that would make a line look like
// another: control bytes (ESC, BEL, CR, LF, ...), DEL, bytes that are not
// UTF-8, and non-printing characters (C1 controls, bidi overrides, ...).
// As ls -b and ps do: \n \r \t, \xHH for the other bytes (all of a
// non-printing character's bytes), and \\ for a backslash, so that the
// escaped text tells the original bytes exactly.

// clean says whether s is printable ASCII without a backslash: the common
// case, printed as it is.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s to b, escaped for text output.
func appendEscaped(b []byte, s string) []byte {
	if clean(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || !unicode.IsPrint(r) {
				for _, c := range []byte(s[i : i+size]) {
					b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
				}
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return b
}

// escape returns s escaped for text output; s itself when it is clean.
func escape(s string) string {
	if clean(s) {
		return s
	}
	return string(appendEscaped(nil, s))
}

// b64 is what JSON output adds next to a string that is not valid UTF-8:
// JSON strings are Unicode, and encoding/json replaces each invalid byte
// with U+FFFD, so the original bytes go, in standard base64, in a field
// named after the string's with "_b64" added. "" (no field) for valid UTF-8.
func b64(s string) string {
	if utf8.ValidString(s) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}
