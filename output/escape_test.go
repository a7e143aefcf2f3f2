package output

import (
	"bytes"
	"encoding/base64"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"nc":                    "nc",
		"":                      "",
		`a\b`:                   `a\\b`,
		"\x1b]0;pwned\x07":      `\x1b]0;pwned\x07`,
		"\x1b[2J":               `\x1b[2J`,
		"a\r\nb\t":              `a\r\nb\t`,
		"\x00\x7f":              `\x00\x7f`,
		"\xff\xfe":              `\xff\xfe`,
		"h\xc3":                 `h\xc3`, // a truncated UTF-8 sequence
		"café ½ 日本":             "café ½ 日本",
		"\u202eevil":            `\xe2\x80\xaeevil`, // right-to-left override
		"\u009b31m":             `\xc2\x9b31m`,      // C1 CSI
		"x\u00a0y":              `x\xc2\xa0y`,       // no-break space
		`\x41`:                  `\\x41`,
		"<...>":                 "<...>",
		"\x1b]0;X\x07\r\n\xff~": `\x1b]0;X\x07\r\n\xff~`,
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// unescape reverses appendEscaped: the escaping must tell the original
// bytes exactly.
func unescape(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			t.Fatalf("%q: unknown escape \\%c", s, s[i])
		}
	}
	return b.String()
}

// TestEscapeRoundTrip: for any bytes, the escaped text is printable
// UTF-8 with no control byte, and says exactly what the bytes were.
func TestEscapeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("\x00\x07\x08\t\n\r\x1b\\ ~\x7f\x80\x9b\xc2\xe2\xff\xfeaZ[];")
	for range 20000 {
		b := make([]byte, rng.Intn(16))
		for i := range b {
			if rng.Intn(3) == 0 {
				b[i] = byte(rng.Intn(256))
			} else {
				b[i] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		in := string(b)
		out := escape(in)
		if !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("escape(%q) = %q: not printable", in, out)
		}
		if back := unescape(t, out); back != in {
			t.Fatalf("escape(%q) = %q, which reads back as %q", in, out, back)
		}
	}
}

func TestB64(t *testing.T) {
	if b64("nc") != "" || b64("café") != "" {
		t.Error("valid UTF-8 got a _b64 field")
	}
	if got, _ := base64.StdEncoding.DecodeString(b64("a\xff\x1b")); !bytes.Equal(got, []byte("a\xff\x1b")) {
		t.Errorf("b64 round trip: %q", got)
	}
}
