package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/bccbackend"
	"github.com/evtrace/evtrace/tracer/testenv"
)

// --version and `evtrace version` print three lines: evtrace's version,
// Go's, and the libbcc the process runs with, named by the library file
// the dynamic linker loaded (which must agree with the headers it was
// built against here: Debian installs both from one package).
func TestVersion(t *testing.T) {
	re := regexp.MustCompile(`^evtrace \S.*\ngo go1\.\d+\S*\nlibbcc (\d+\.\d+\.\d+) \(/\S+/libbcc\.so\.(\d+\.\d+\.\d+)\)\n$`)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runCLI(args...)
		m := re.FindStringSubmatch(stdout)
		if code != 0 || stderr != "" || m == nil || m[1] != m[2] {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want three lines matching %s", args, code, stdout, stderr, re)
		}
	}
	if v := bccbackend.Version(); v.Version == "" || v.Version != v.Headers {
		t.Errorf("libbcc %+v: want the loaded library's version, equal to bcc_version.h's", v)
	}
	code, _, stderr := runCLI("version", "extra")
	if code != 2 || !strings.Contains(stderr, "evtrace: version takes no arguments") {
		t.Errorf("version extra: exit %d, stderr %q", code, stderr)
	}
}

// The real binary, built by go build (-buildvcs=auto, as the Makefile
// does) in a git checkout, names the commit it was built from.
func TestVersionOfBinary(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		testenv.Unavailable(t, "needs a git checkout: "+err.Error())
	}
	code, stdout, _ := runAs(t, false, "--version")
	first, _, _ := strings.Cut(stdout, "\n")
	if code != 0 || !strings.HasPrefix(first, "evtrace v") || !strings.Contains(first, string(head[:12])) {
		t.Errorf("exit %d, first line %q; want a version naming commit %.12s", code, first, head)
	}
}

func TestLibbccVersionLine(t *testing.T) {
	tests := []struct {
		v    bccbackend.LibraryVersion
		want string
	}{
		{bccbackend.LibraryVersion{Version: "0.26.0", Path: "/usr/lib/libbcc.so.0.26.0", Headers: "0.26.0"}, "0.26.0 (/usr/lib/libbcc.so.0.26.0)"},
		{bccbackend.LibraryVersion{Version: "0.30.0", Path: "/opt/libbcc.so.0.30.0", Headers: "0.26.0"}, "0.30.0 (/opt/libbcc.so.0.30.0), built against bcc_version.h 0.26.0"},
		{bccbackend.LibraryVersion{Path: "/opt/libbcc.so"}, "unknown version (/opt/libbcc.so)"},
	}
	for _, tt := range tests {
		if got := libbccVersion(tt.v); got != tt.want {
			t.Errorf("libbccVersion(%+v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
