package layout

import (
	"regexp"
	"strconv"
	"strings"
)

// libbcc records the struct passed to perf_submit as "name#type" strings
// (bpf_perf_event_field): bitfield widths and packing are not in them (bcc
// writes FieldDecl::getType(), which is the same for `u8 a` and `u8 a:3`,
// and says nothing of __attribute__((packed))). What libbcc leaves out is
// read here from the struct's definition in the C text evtrace compiled: a
// small scanner for struct definitions, not a C parser. It does not run
// the preprocessor: what it cannot read for certain (a width given by a
// macro, an attribute it does not know, a #pragma pack form it does not
// know) is reported as a problem, and the decoder refuses the struct.

// cStruct is a struct or union definition found in C text.
type cStruct struct {
	tag     string // "" for an untagged struct (typedef struct { ... } name_t)
	union   bool
	packed  bool      // __attribute__((packed)) on the struct
	pack    int       // #pragma pack(N) in effect at the definition; 0: none
	problem string    // what evtrace cannot lay out, if anything
	members []cMember // one per declarator, in declaration order
}

func (s *cStruct) String() string {
	if s.tag != "" {
		return "struct " + s.tag
	}
	names := make([]string, len(s.members))
	for i, m := range s.members {
		names[i] = m.name
	}
	return "struct { " + strings.Join(names, ", ") + " }"
}

// cMember is one declarator of a struct member declaration.
type cMember struct {
	name    string // "" for an unnamed bitfield or an anonymous struct or union
	bits    int    // bitfield width; -1 when not a bitfield
	packed  bool   // __attribute__((packed)) on the member
	problem string // what evtrace cannot lay out, if anything

	// What the declaration says of the type, to tell apart structs with
	// the same member names: its words ("unsigned int", "u8"; "struct"
	// for a struct, union or enum), and whether it is a pointer or array.
	typ          string
	ptr, isArray bool
}

// cToken is a token of C text. Comments, string and character literals
// and preprocessor directives are dropped; pack is the #pragma pack in
// effect where the token is (0: none, -1: a form evtrace does not read).
type cToken struct {
	kind byte // 'a' identifier or keyword, '0' number, 'p' punctuation, 'm' a macro that may change a layout, 't' a struct/union/enum type (made by the parser)
	text string
	pack int
}

func (t cToken) is(s string) bool { return t.text == s && t.kind != 't' }

var (
	pragmaPackRe = regexp.MustCompile(`^\s*pragma\s+pack\s*\(([^)]*)\)`)
	pragmaOpRe   = regexp.MustCompile(`^\s*\(\s*"([^"]*)"`)
	defineRe     = regexp.MustCompile(`^\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(?:\([^)]*\))?(.*)$`)
	layoutWordRe = regexp.MustCompile(`__attribute|\[\[|packed|aligned|[Aa]lignas|_Pragma|\bpack\b`)
	pragmaWordRe = regexp.MustCompile(`_Pragma|\bpack\b`)
)

// cTokens splits C text into tokens.
func cTokens(src string) []cToken {
	var (
		toks      []cToken
		pack      int
		packStack []int
		lineStart = true
		macros    = map[string]bool{} // macros that may change a layout: true for a pragma
	)
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			lineStart = true
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			continue
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += 2 + end + 2
			}
			continue
		case c == '#' && lineStart:
			// A directive runs to the end of the line, lines ended by a
			// backslash included.
			end := i
			for end < len(src) && (src[end] != '\n' || src[end-1] == '\\') {
				end++
			}
			if m := pragmaPackRe.FindStringSubmatch(src[i+1 : end]); m != nil {
				pack, packStack = pragmaPack(m[1], pack, packStack)
			}
			if m := defineRe.FindStringSubmatch(src[i+1 : end]); m != nil && layoutWordRe.MatchString(m[2]) {
				// A macro that may pack or align what uses it.
				macros[m[1]] = pragmaWordRe.MatchString(m[2])
			}
			i = end
			continue
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			i = min(j+1, len(src))
			lineStart = false
			continue
		}
		lineStart = false
		j := i + 1
		kind := byte('p')
		switch {
		case isIdentByte(c) && !isDigit(c):
			kind = 'a'
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			if pragma, ok := macros[src[i:j]]; ok {
				// A macro evtrace does not expand: a layout problem
				// where it stands, and for what follows if it may be
				// a #pragma pack.
				if pragma {
					pack = -1
				}
				toks = append(toks, cToken{kind: 'm', text: src[i:j], pack: pack})
				i = j
				lineStart = false
				continue
			}
			if src[i:j] == "_Pragma" {
				// _Pragma("pack(1)"): the operator form of #pragma.
				if m := pragmaOpRe.FindStringSubmatch(src[j:]); m != nil {
					if m := pragmaPackRe.FindStringSubmatch("pragma " + m[1]); m != nil {
						pack, packStack = pragmaPack(m[1], pack, packStack)
					}
				}
			}
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			kind = '0'
			for j < len(src) && (isIdentByte(src[j]) || src[j] == '.') {
				j++
			}
		}
		toks = append(toks, cToken{kind: kind, text: src[i:j], pack: pack})
		i = j
	}
	return toks
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isIdentByte(c byte) bool { return c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// pragmaPack applies the arguments of a #pragma pack(...) to the packing
// in effect and its stack.
func pragmaPack(args string, pack int, stack []int) (int, []int) {
	var parts []string
	for _, p := range strings.Split(args, ",") {
		parts = append(parts, strings.TrimSpace(p))
	}
	value := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 16 || n&(n-1) != 0 {
			return -1
		}
		return n
	}
	switch {
	case len(parts) == 1 && parts[0] == "":
		return 0, stack
	case len(parts) == 1 && parts[0] == "push":
		return pack, append(stack, pack)
	case len(parts) == 1 && parts[0] == "pop":
		if len(stack) == 0 {
			return 0, stack
		}
		return stack[len(stack)-1], stack[:len(stack)-1]
	case len(parts) == 1:
		return value(parts[0]), stack
	case len(parts) == 2 && parts[0] == "push":
		return value(parts[1]), append(stack, pack)
	}
	return -1, stack
}

// cDefs are the definitions found in C text.
type cDefs struct {
	structs []cStruct         // structs and unions, nested ones included
	enums   map[string]string // enum tag: what evtrace cannot lay out about it ("": nothing)
}

// findDefs returns the struct, union and enum definitions of C text.
func findDefs(src string) *cDefs {
	toks := cTokens(src)
	defs := &cDefs{enums: map[string]string{}}
	for i := 0; i < len(toks); {
		if isTagKeyword(toks[i]) {
			i, _ = parseTagged(toks, i, defs)
			continue
		}
		i++
	}
	return defs
}

func isTagKeyword(t cToken) bool { return t.is("struct") || t.is("union") || t.is("enum") }

// parseTagged reads "struct|union|enum [attributes] [tag] [attributes]
// [: type] [{ body } [attributes]]" at toks[i]. It adds the definitions
// to defs, nested ones first, and returns the index after what it read
// and, for a struct or union definition, the struct.
func parseTagged(toks []cToken, i int, defs *cDefs) (int, *cStruct) {
	kw := toks[i].text
	s := &cStruct{union: kw == "union"}
	var attrs []string
	j := skipAttributes(toks, i+1, &attrs)
	if j < len(toks) && toks[j].kind == 'a' {
		s.tag = toks[j].text
		j++
	}
	j = skipAttributes(toks, j, &attrs)
	fixed := false
	if kw == "enum" && j < len(toks) && toks[j].is(":") {
		// enum e : u8 { ... } (C23, a clang extension before).
		fixed = true
		for j < len(toks) && !toks[j].is("{") && !toks[j].is(";") {
			j++
		}
	}
	if j >= len(toks) || !toks[j].is("{") {
		return j, nil
	}
	end := matching(toks, j)
	if kw == "enum" {
		next := skipAttributes(toks, end+1, &attrs)
		if prev, seen := defs.enums[s.tag]; s.tag != "" && (!seen || prev == "") {
			defs.enums[s.tag] = enumProblem(toks[j+1:end], attrs, fixed)
		}
		return next, nil
	}
	s.pack = toks[j].pack
	s.members = parseMembers(toks[j+1:end], defs)
	j = skipAttributes(toks, end+1, &attrs)
	for _, a := range attrs {
		switch {
		case a == "packed":
			s.packed = true
		case harmlessAttribute[a]:
		case s.problem == "":
			s.problem = attrProblem(a) + " on the struct"
		}
	}
	if s.pack < 0 && s.problem == "" {
		s.problem = "a #pragma pack form evtrace does not read"
	}
	defs.structs = append(defs.structs, *s)
	return j, s
}

// enumProblem says why an enum may not be an int: packed, a fixed
// underlying type, or values that need more than an int.
func enumProblem(body []cToken, attrs []string, fixed bool) string {
	for _, a := range attrs {
		if !harmlessAttribute[a] {
			return attrProblem(a) + " makes its size unknown"
		}
	}
	if fixed {
		return "a fixed underlying type evtrace does not read"
	}
	for _, t := range body {
		if t.kind != '0' {
			continue
		}
		n, err := strconv.ParseUint(t.text, 0, 64)
		if err != nil || n > 0x7fffffff {
			return "value " + t.text + " may not fit an int"
		}
	}
	return ""
}

// attrProblem names an attribute evtrace does not lay out.
func attrProblem(a string) string {
	if name, ok := strings.CutPrefix(a, "macro:"); ok {
		return "macro " + name + " (evtrace does not expand macros, and this one may pack or align)"
	}
	return "__attribute__((" + a + "))"
}

// harmlessAttribute names the attributes that do not change a layout.
var harmlessAttribute = map[string]bool{
	"unused": true, "used": true, "deprecated": true, "may_alias": true,
	"preserve_access_index": true, "designated_init": true, "no_randomize_layout": true,
}

// matching returns the index of the bracket closing the one at toks[i]
// (len(toks) when it is not closed).
func matching(toks []cToken, i int) int {
	open := toks[i].text
	closing := map[string]string{"{": "}", "(": ")", "[": "]"}[open]
	depth := 0
	for j := i; j < len(toks); j++ {
		switch {
		case toks[j].is(open):
			depth++
		case toks[j].is(closing):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(toks)
}

// skipAttributes skips attributes at toks[i] (__attribute__((...)),
// [[...]], the kernel's __packed and __aligned(N)), appending their names,
// without leading and trailing underscores, to names.
func skipAttributes(toks []cToken, i int, names *[]string) int {
	for i < len(toks) {
		t := toks[i]
		switch {
		case (t.is("__attribute__") || t.is("__attribute")) && i+1 < len(toks) && toks[i+1].is("("):
			end := matching(toks, i+1)
			depth := 0
			for j := i + 1; j < end; j++ {
				switch {
				case toks[j].is("("):
					depth++
				case toks[j].is(")"):
					depth--
				case depth == 2 && toks[j].kind == 'a' && (toks[j-1].is("(") || toks[j-1].is(",")):
					*names = append(*names, strings.Trim(toks[j].text, "_"))
				}
			}
			i = end + 1
		case t.is("[") && i+1 < len(toks) && toks[i+1].is("["):
			// C23: [[gnu::packed, gnu::aligned(8)]].
			end := matching(toks, i)
			parens := 0
			for j := i + 2; j < end; j++ {
				switch {
				case toks[j].is("("):
					parens++
				case toks[j].is(")"):
					parens--
				case parens == 0 && toks[j].kind == 'a' && !(j+1 < end && toks[j+1].is(":")):
					*names = append(*names, strings.Trim(toks[j].text, "_"))
				}
			}
			i = end + 1
		case t.kind == 'm':
			*names = append(*names, "macro:"+t.text)
			i++
			if i < len(toks) && toks[i].is("(") {
				i = matching(toks, i) + 1
			}
		case t.is("__packed"):
			*names = append(*names, "packed")
			i++
		case t.kind == 'a' && t.text[0] == '_' && t.text != "__aligned" && t.text != "_Alignas" &&
			(strings.Contains(t.text, "aligned") || strings.Contains(t.text, "packed")):
			// The kernel's ____cacheline_aligned, __aligned_largest, ...
			*names = append(*names, "macro:"+t.text)
			i++
		case t.is("__aligned") || t.is("_Alignas") || t.is("alignas"):
			*names = append(*names, "aligned")
			i++
			if i < len(toks) && toks[i].is("(") {
				i = matching(toks, i) + 1
			}
		default:
			return i
		}
	}
	return i
}

// parseMembers reads a struct body: declarations ended by ';'.
func parseMembers(body []cToken, defs *cDefs) []cMember {
	var members []cMember
	var decl []cToken
	for i := 0; i < len(body); {
		t := body[i]
		switch {
		case isTagKeyword(t):
			// A nested definition or a struct type: one type token.
			i, _ = parseTagged(body, i, defs)
			decl = append(decl, cToken{kind: 't', text: t.text})
			continue
		case t.is(";"):
			members = append(members, declarators(decl)...)
			decl = decl[:0]
		default:
			decl = append(decl, t)
		}
		i++
	}
	return members
}

// declarators splits one member declaration ("u8 a:3, b:5") into its
// declarators.
func declarators(decl []cToken) []cMember {
	var members []cMember
	depth, start := 0, 0
	for i := 0; i <= len(decl); i++ {
		if i < len(decl) {
			switch {
			case decl[i].is("(") || decl[i].is("["):
				depth++
				continue
			case decl[i].is(")") || decl[i].is("]"):
				depth--
				continue
			case !decl[i].is(",") || depth > 0:
				continue
			}
		}
		m := declarator(decl[start:i], start == 0)
		if start > 0 && len(members) > 0 {
			m.typ = members[0].typ // "u8 a:3, b:5": the specifiers are the first's
		}
		members = append(members, m)
		start = i + 1
	}
	if len(members) > 1 {
		// Whether an attribute applies to one declarator or to all
		// depends on where it stands: evtrace does not tell.
		var attrs []string
		for i := range decl {
			skipAttributes(decl, i, &attrs)
		}
		if len(attrs) > 0 {
			for i := range members {
				if members[i].problem == "" {
					members[i].problem = "an attribute in a declaration of several members (declare them one by one)"
				}
			}
		}
	}
	return members
}

// cTypeWords are the keywords of a declaration's type.
var cTypeWords = map[string]bool{
	"void": true, "char": true, "short": true, "int": true, "long": true, "float": true, "double": true,
	"signed": true, "unsigned": true, "_Bool": true, "_Complex": true, "__signed__": true,
	"const": true, "volatile": true, "restrict": true, "__restrict": true, "__volatile__": true, "__const": true,
	"static": true, "extern": true, "register": true, "__extension__": true,
}

// declarator reads one declarator; the first of a declaration carries its
// type too.
func declarator(toks []cToken, first bool) cMember {
	m := cMember{bits: -1}
	var pre, width []cToken
	var attrs []string
	inWidth := false
	for i := 0; i < len(toks); {
		if next := skipAttributes(toks, i, &attrs); next > i {
			i = next
			continue
		}
		switch {
		case toks[i].is(":") && !inWidth:
			inWidth = true
		case inWidth:
			width = append(width, toks[i])
		default:
			pre = append(pre, toks[i])
		}
		i++
	}
	for _, a := range attrs {
		switch {
		case a == "packed":
			m.packed = true
		case harmlessAttribute[a]:
		case m.problem == "":
			m.problem = attrProblem(a)
		}
	}
	// The name: in "void (*fn)(int)" the first identifier in parentheses;
	// else the last identifier before any "[", not counting the type's
	// own name on the first declarator ("u32 :3" is unnamed).
	var idents []string
	typeWord := false
	for i, t := range pre {
		if t.is("(") && i+1 < len(pre) && pre[i+1].is("*") {
			idents, typeWord = nil, true
			for _, u := range pre[i+1:] {
				if u.kind == 'a' && !cTypeWords[u.text] {
					idents = append(idents, u.text)
					break
				}
			}
			break
		}
		if t.is("[") {
			break
		}
		switch {
		case t.kind == 't' || (t.kind == 'a' && cTypeWords[t.text]):
			typeWord = true
		case t.kind == 'a':
			idents = append(idents, t.text)
		}
	}
	switch {
	case len(idents) == 0:
	case !first || typeWord || len(idents) >= 2:
		m.name = idents[len(idents)-1]
	}
	var words []string
	for _, t := range pre {
		switch {
		case t.is("*"):
			m.ptr = true
		case t.is("["):
			m.isArray = true
		case m.isArray || (t.kind == 'a' && t.text == m.name) || t.is("const") || t.is("volatile"):
		case t.kind == 'a' || t.kind == 't':
			words = append(words, t.text)
		}
	}
	m.typ = strings.Join(words, " ")
	if inWidth {
		m.bits = 0
		n, err := strconv.ParseInt(strings.TrimRight(tokenText(width), "uUlL"), 0, 32)
		if len(width) != 1 || width[0].kind != '0' || err != nil || n < 0 {
			if m.problem == "" {
				m.problem = "bitfield width " + strconv.Quote(tokenText(width)) + " is not a number (evtrace does not expand macros)"
			}
		} else {
			m.bits = int(n)
		}
	}
	return m
}

func tokenText(toks []cToken) string {
	var parts []string
	for _, t := range toks {
		parts = append(parts, t.text)
	}
	return strings.Join(parts, " ")
}
