package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/evtrace/evtrace/tracer/bccbackend"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print evtrace's version, the Go that built it and the libbcc it runs with",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("version takes no arguments")
			}
			return printVersion(c.App.Writer)
		},
	}
}

// printVersion prints evtrace's version (the module version, or the VCS
// revision it was built from), the Go version and libbcc's.
func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "evtrace %s\ngo %s\nlibbcc %s\n", buildVersion(), runtime.Version(), libbccVersion(bccbackend.Version()))
	return err
}

// buildVersion is the main module's version when built from a module
// (go install ...@v1.2.3), else the VCS revision and time go build
// stamped, with "+modified" for uncommitted changes.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev == "" {
		return "(devel), no VCS revision recorded"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("(devel) %s%s %s", rev, modified, at)
}

func libbccVersion(v bccbackend.LibraryVersion) string {
	s := v.Version
	if s == "" {
		s = "unknown version"
	}
	if v.Path != "" {
		s += " (" + v.Path + ")"
	}
	if v.Headers != "" && v.Headers != v.Version {
		s += ", built against bcc_version.h " + v.Headers
	}
	return s
}
