package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// The man pages, evtrace(8) and evtrace-COMMAND(8), are generated from the
// CLI itself (names, usage lines, descriptions, every flag with its
// placeholder and default), so they say what --help says, plus the
// sections written by hand in docs/man/src/PAGE.txt (FIELDS, OVERHEAD, ...:
// see parseManSource). TestManPages fails when docs/man differs from what
// this generates; `make man` writes them.

// manDate is the date the pages carry: fixed, so that generating them is
// reproducible; change it with the pages' content.
const manDate = "2026-12-04"

// manPage is one generated page.
type manPage struct {
	Name string // e.g. evtrace-listen
	Text string // roff
}

// manPages generates every page: evtrace(8) and one per visible command.
// srcDir holds the hand-written sections.
func manPages(app *cli.App, srcDir string) ([]manPage, error) {
	var names []string
	for _, c := range app.VisibleCommands() {
		names = append(names, "evtrace-"+c.Name)
	}
	var pages []manPage
	top, err := topManPage(app, names, srcDir)
	if err != nil {
		return nil, err
	}
	pages = append(pages, top)
	for _, c := range app.VisibleCommands() {
		p, err := commandManPage(c, names, srcDir)
		if err != nil {
			return nil, err
		}
		pages = append(pages, p)
	}
	return pages, nil
}

func topManPage(app *cli.App, others []string, srcDir string) (manPage, error) {
	var b roff
	b.header("evtrace", app.Usage)
	b.section("SYNOPSIS")
	b.text(`\fBevtrace\fR \fICOMMAND\fR [\fIoptions\fR]`)
	desc, examples := splitExamples(app.Description)
	b.section("DESCRIPTION")
	b.paragraphs(desc)
	b.section("COMMANDS")
	for _, c := range app.VisibleCommands() {
		b.tagged(`\fB`+escape(c.Name)+`\fR`, escape(c.Usage)+` See \fBevtrace-`+escape(c.Name)+`\fR(8).`)
	}
	b.section("OPTIONS")
	b.flags(app.VisibleFlags())
	if err := b.source(filepath.Join(srcDir, "evtrace.txt")); err != nil {
		return manPage{}, err
	}
	if examples != "" {
		b.section("EXAMPLES")
		b.verbatim(examples)
	}
	b.seeAlso(others, "")
	return manPage{Name: "evtrace", Text: b.String()}, nil
}

func commandManPage(c *cli.Command, others []string, srcDir string) (manPage, error) {
	name := "evtrace-" + c.Name
	var b roff
	b.header(name, c.Usage)
	b.section("SYNOPSIS")
	usage := c.UsageText
	if usage == "" {
		usage = "evtrace " + c.Name + " [options]"
	}
	b.text(`\fB` + escape(usage) + `\fR`)
	desc, examples := splitExamples(c.Description)
	if desc == "" {
		desc = c.Usage
	}
	b.section("DESCRIPTION")
	b.paragraphs(desc)
	if subs := c.VisibleCommands(); len(subs) > 0 {
		b.section("COMMANDS")
		for _, s := range subs {
			usage := s.UsageText
			if usage == "" {
				usage = "evtrace " + c.Name + " " + s.Name
			}
			b.tagged(`\fB`+escape(usage)+`\fR`, escape(s.Usage))
		}
		for _, s := range subs {
			if flags := s.VisibleFlags(); len(flags) > 0 {
				fmt.Fprintf(&b, ".SS \"Options of %s\"\n", escape(s.Name))
				b.flags(flags)
			}
		}
	}
	if flags := c.VisibleFlags(); len(flags) > 0 {
		b.section("OPTIONS")
		b.flags(flags)
	}
	if err := b.source(filepath.Join(srcDir, name+".txt")); err != nil {
		return manPage{}, err
	}
	if examples != "" {
		b.section("EXAMPLES")
		b.verbatim(examples)
	}
	b.seeAlso(others, name)
	return manPage{Name: name, Text: b.String()}, nil
}

// splitExamples cuts a description at its "Examples:" line.
func splitExamples(desc string) (text, examples string) {
	text, examples, _ = strings.Cut(desc, "\nExamples:\n")
	return strings.TrimSpace(text), examples
}

// roff builds a page in the man(7) macros.
type roff struct{ strings.Builder }

func (b *roff) header(name, summary string) {
	fmt.Fprintf(b, ".\\\" Generated from evtrace's CLI by `make man`; do not edit.\n")
	fmt.Fprintf(b, ".TH %s 8 \"%s\" evtrace \"System Manager's Manual\"\n", strings.ToUpper(escape(name)), manDate)
	b.section("NAME")
	b.text(escape(name) + ` \- ` + escape(summary))
}

func (b *roff) section(title string) { fmt.Fprintf(b, ".SH %s\n", title) }

// text writes a line that is roff already.
func (b *roff) text(s string) {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	b.WriteString(s + "\n")
}

// paragraphs writes plain text: blank lines part paragraphs; a line
// indented by spaces is kept as it is, with the lines after it.
func (b *roff) paragraphs(text string) {
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		lines := strings.Split(para, "\n")
		if strings.HasPrefix(lines[0], "  ") {
			b.verbatim(para)
			continue
		}
		for _, l := range lines {
			b.text(escape(strings.TrimSpace(l)))
		}
	}
}

// verbatim writes lines as they are, unfilled, indented, without the
// indentation they share.
func (b *roff) verbatim(text string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); common < 0 || n < common {
			common = n
		}
	}
	b.WriteString(".PP\n.RS 4\n.nf\n")
	for _, l := range lines {
		if len(l) >= common && common > 0 {
			l = l[common:]
		}
		b.text(escape(l))
	}
	b.WriteString(".fi\n.RE\n")
}

func (b *roff) tagged(tag, body string) {
	b.WriteString(".TP\n")
	b.text(tag)
	b.text(body)
}

// flags writes each flag as bold names, its placeholder in italics, its
// usage (cli's `PLACEHOLDER` quotes taken out) and its default.
func (b *roff) flags(flags []cli.Flag) {
	for _, f := range flags {
		d, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		placeholder, usage := unquoteUsage(d.GetUsage())
		if d.TakesValue() && placeholder == "" {
			placeholder = "value"
		}
		var names []string
		for _, n := range f.Names() {
			dash := `\-\-`
			if len(n) == 1 {
				dash = `\-`
			}
			s := `\fB` + dash + escape(n) + `\fR`
			if d.TakesValue() {
				s += ` \fI` + escape(placeholder) + `\fR`
			}
			names = append(names, s)
		}
		body := escape(usage)
		if def := defaultText(d); def != "" {
			body += ` (default: ` + escape(def) + `)`
		}
		b.tagged(strings.Join(names, ", "), body)
	}
}

// unquoteUsage takes the placeholder out of a flag's usage as cli does:
// the first `QUOTED` word names the value, and loses its quotes.
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

// defaultText is a flag's default as --help shows it, without quotes, or
// "" for none (false, zero, empty).
func defaultText(d cli.DocGenerationFlag) string {
	v := d.GetDefaultText()
	if v == "" {
		v = d.GetValue()
	}
	v = strings.Trim(v, `"`)
	switch v {
	case "", "0", "false", "0s", "[]":
		return ""
	}
	return v
}

// source appends the hand-written sections of path, if it exists.
func (b *roff) source(path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("man page sections: %w", err)
	}
	secs, err := parseManSource(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range secs {
		b.section(s.title)
		for i, blk := range s.blocks {
			switch {
			case blk.tag != "":
				b.tagged(`\fB`+escape(blk.tag)+`\fR`, escape(blk.text))
			case blk.verbatim:
				b.verbatim(blk.text)
			default:
				if i > 0 {
					b.WriteString(".PP\n")
				}
				b.text(escape(blk.text))
			}
		}
	}
	return nil
}

func (b *roff) seeAlso(pages []string, self string) {
	var refs []string
	for _, p := range pages {
		if p != self {
			refs = append(refs, `\fB`+escape(p)+`\fR(8)`)
		}
	}
	if self != "" {
		refs = append([]string{`\fBevtrace\fR(8)`}, refs...)
	}
	refs = append(refs, `\fBbpf\fR(2)`, `\fBsolisten\-bpfcc\fR(8)`, `\fBtrace\-bpfcc\fR(8)`)
	b.section("SEE ALSO")
	b.text(strings.Join(refs, ", "))
	b.WriteString(".PP\n")
	b.text("The README of evtrace's repository, and docs/examples/.")
}

// escape makes text safe in roff: backslashes and hyphens (minus signs in
// options and code), and a line's leading dot or quote.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// manSection is a hand-written section.
type manSection struct {
	title  string
	blocks []manBlock
}

type manBlock struct {
	tag      string // a tagged paragraph's term (".TP")
	text     string
	verbatim bool
}

// parseManSource reads hand-written sections:
//
//	= TITLE          starts a section (FIELDS, OVERHEAD, ...)
//	: TERM           starts a tagged paragraph: the lines after it, to a blank line
//	  indented text  (two spaces or more) is kept as it is
//	other lines      make paragraphs, parted by blank lines
func parseManSource(src string) ([]manSection, error) {
	var (
		secs []manSection
		cur  *manBlock
	)
	end := func() { cur = nil }
	for n, line := range strings.Split(src, "\n") {
		switch {
		case strings.HasPrefix(line, "= "):
			secs = append(secs, manSection{title: strings.TrimSpace(line[2:])})
			end()
			continue
		case len(secs) == 0 && strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("line %d: text before the first \"= TITLE\"", n+1)
		case len(secs) == 0:
			continue
		}
		s := &secs[len(secs)-1]
		switch {
		case strings.TrimSpace(line) == "":
			if cur != nil && cur.verbatim {
				cur.text += "\n"
				continue
			}
			end()
		case strings.HasPrefix(line, ": "):
			s.blocks = append(s.blocks, manBlock{tag: strings.TrimSpace(line[2:])})
			cur = &s.blocks[len(s.blocks)-1]
		case strings.HasPrefix(line, "  ") && (cur == nil || cur.verbatim):
			if cur == nil {
				s.blocks = append(s.blocks, manBlock{verbatim: true})
				cur = &s.blocks[len(s.blocks)-1]
				cur.text = line[2:]
				continue
			}
			cur.text += "\n" + line[2:]
		default:
			if cur == nil || cur.verbatim {
				s.blocks = append(s.blocks, manBlock{})
				cur = &s.blocks[len(s.blocks)-1]
			}
			if cur.text != "" {
				cur.text += " "
			}
			cur.text += strings.TrimSpace(line)
		}
	}
	for i := range secs {
		for j := range secs[i].blocks {
			secs[i].blocks[j].text = strings.TrimRight(secs[i].blocks[j].text, "\n")
		}
	}
	return secs, nil
}
