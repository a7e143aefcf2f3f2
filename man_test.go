package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// TestManPages: docs/man holds exactly the pages the CLI generates (run
// `make man` after changing a flag, a description or docs/man/src), and
// each renders without a warning from groff.
func TestManPages(t *testing.T) {
	pages, err := manPages(newApp(io.Discard, io.Discard), filepath.Join("docs", "man", "src"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("EVTRACE_UPDATE_MAN") == "1" {
		writeManPages(t, pages)
	}
	var want []string
	for _, p := range pages {
		want = append(want, p.Name+".8")
		got, err := os.ReadFile(filepath.Join("docs", "man", p.Name+".8"))
		if err != nil || string(got) != p.Text {
			t.Errorf("docs/man/%s.8 is not what the CLI generates (%v): run make man", p.Name, err)
		}
	}
	have, _ := filepath.Glob(filepath.Join("docs", "man", "*.8"))
	for _, h := range have {
		if !slices.Contains(want, filepath.Base(h)) {
			t.Errorf("%s is no command's page: run make man", h)
		}
	}
	for _, p := range pages {
		if !strings.Contains(p.Text, ".SH OPTIONS") && !strings.Contains(p.Text, ".SS \"Options of ") && p.Name != "evtrace-version" {
			t.Errorf("%s has no OPTIONS", p.Name)
		}
	}
	for _, name := range []string{"evtrace", "evtrace-listen", "evtrace-run"} {
		p := pages[slices.IndexFunc(pages, func(p manPage) bool { return p.Name == name })]
		for _, sec := range []string{"DESCRIPTION", "EXAMPLES", "SEE ALSO"} {
			if !strings.Contains(p.Text, ".SH "+sec+"\n") {
				t.Errorf("%s has no %s section", name, sec)
			}
		}
	}
	for _, name := range []string{"evtrace-listen", "evtrace-run"} {
		p := pages[slices.IndexFunc(pages, func(p manPage) bool { return p.Name == name })]
		for _, sec := range []string{"FIELDS", "OVERHEAD"} {
			if !strings.Contains(p.Text, ".SH "+sec+"\n") {
				t.Errorf("%s has no %s section", name, sec)
			}
		}
	}

	groff, err := exec.LookPath("groff")
	if err != nil {
		testenv.Unavailable(t, "groff (groff-base) renders the pages: "+err.Error())
		return
	}
	for _, p := range pages {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(p.Text)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff on %s: %v\n%s", p.Name, err, stderr.String())
		}
	}
}

func writeManPages(t *testing.T, pages []manPage) {
	old, _ := filepath.Glob(filepath.Join("docs", "man", "*.8"))
	for _, o := range old {
		os.Remove(o)
	}
	for _, p := range pages {
		if err := os.WriteFile(filepath.Join("docs", "man", p.Name+".8"), []byte(p.Text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseManSource(t *testing.T) {
	src := `= FIELDS
: TIME
The wall clock time
of the event.
: PID
The process.

= NOTES
First paragraph
goes on.

  $ verbatim line
    indented more

Second paragraph.
`
	secs, err := parseManSource(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].title != "FIELDS" || len(secs[0].blocks) != 2 || len(secs[1].blocks) != 3 {
		t.Fatalf("parsed %+v", secs)
	}
	if b := secs[0].blocks[0]; b.tag != "TIME" || b.text != "The wall clock time of the event." {
		t.Errorf("tagged %+v", b)
	}
	if b := secs[1].blocks[1]; !b.verbatim || b.text != "$ verbatim line\n  indented more" {
		t.Errorf("verbatim %+v", b)
	}
	if b := secs[1].blocks[2]; b.text != "Second paragraph." {
		t.Errorf("paragraph %+v", b)
	}
	if _, err := parseManSource("stray\n= X\n"); err == nil {
		t.Error("text before a section accepted")
	}
}

// TestInstall: make install puts the binary, every page and both
// completions under DESTDIR, and the bash completion, run by bash against
// the installed binary, completes commands, flags and file names.
func TestInstall(t *testing.T) {
	for _, tool := range []string{"make", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" is needed: "+err.Error())
			return
		}
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-s", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join("docs", "man", "*.8"))
	want := []string{"usr/sbin/evtrace", "usr/share/bash-completion/completions/evtrace", "usr/share/zsh/site-functions/_evtrace"}
	for _, p := range pages {
		want = append(want, "usr/share/man/man8/"+filepath.Base(p))
	}
	for _, w := range want {
		if _, err := os.Stat(filepath.Join(dest, w)); err != nil {
			t.Errorf("make install: %v", err)
		}
	}
	bin := filepath.Join(dest, "usr/sbin/evtrace")
	complete := func(words ...string) string {
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _evtrace; echo "${COMPREPLY[*]}"`
		cmd := exec.Command("bash", append([]string{"-c", script, "bash", filepath.Join(dest, "usr/share/bash-completion/completions/evtrace"), bin}, words...)...)
		cmd.Dir = "docs"
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash completion of %q: %v", words, err)
		}
		return strings.TrimSpace(string(out))
	}
	for words, want := range map[string]string{
		"li":           "listen listeners",
		"tu":           "tutorial",
		"run --hi":     "--hist --hist-label",
		"listen --sho": "--show-netns",
		"cache c":      "clear",
		"run ma":       "man",
	} {
		if got := complete(strings.Fields(words)...); got != want {
			t.Errorf("completing %q: %q, want %q", words, got, want)
		}
	}
}
