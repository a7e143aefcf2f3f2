package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/evtrace/evtrace/output"
	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/elfobj"
	"github.com/evtrace/evtrace/tracer/listen"
	"github.com/evtrace/evtrace/tracer/trust"
	"github.com/urfave/cli/v2"
)

func compileCommand() *cli.Command {
	return &cli.Command{
		Name:      "compile",
		Usage:     "compile a probe ahead of time into the object cache, for --backend elf",
		UsageText: "evtrace compile listen [listen options]",
		Description: `The first run with the elf backend compiles its probe with clang and
stores the object; later runs with the same probe, options, kernel and
headers load it in milliseconds, without LLVM. compile does that first
step alone, e.g. while building an image. The options must be those of the
runs to come: they are compiled into the object.`,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("compile what? (evtrace compile listen [options])")
			}
			return usagef("unknown probe %q (evtrace compile listen [options])", c.Args().First())
		},
		Subcommands: []*cli.Command{{
			Name:         "listen",
			Usage:        "the listen probe, for the given listen options",
			Flags:        listenFlags(),
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return usagef("unexpected argument %q", c.Args().First())
				}
				o, err := parseListenFlags(c)
				if err != nil {
					return err
				}
				if o.cfg.Backend == backend.BCC {
					return usagef("--backend bcc compiles at every start: nothing to compile ahead of time")
				}
				if o.cfg.Mode == listen.ModeDebug {
					return usagef("--mode debug compiles at every start (its lines carry a token made for each run): nothing to compile ahead of time")
				}
				mountTracing(output.NewStatus(c.App.ErrWriter))
				plan, res, err := listen.BuildObject(o.cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\n", res.Path)
				fmt.Fprintf(c.App.ErrWriter, "evtrace: listen (%s, %s offsets): %s\n", plan.Strategy, plan.Offsets, res.Status)
				return nil
			},
		}},
	}
}

func cacheCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "cache-dir", Value: elfobj.DefaultCacheDir, Usage: "the object cache `DIR`"}
	return &cli.Command{
		Name:            "cache",
		Usage:           "list or clear the elf backend's compiled objects",
		UsageText:       "evtrace cache ls|clear [--cache-dir DIR]",
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("cache what? (evtrace cache ls, evtrace cache clear)")
			}
			return usagef("unknown cache command %q (ls or clear)", c.Args().First())
		},
		Subcommands: []*cli.Command{
			{
				Name:         "ls",
				Usage:        "list the cached objects, newest first",
				Flags:        []cli.Flag{dirFlag},
				OnUsageError: onUsageError,
				Action:       cacheList,
			},
			{
				Name:         "clear",
				Usage:        "remove the cached objects evtrace made (other files are kept and counted)",
				Flags:        []cli.Flag{dirFlag},
				OnUsageError: onUsageError,
				Action:       cacheClear,
			},
		},
	}
}

// kernelRelease shortens /proc/version ("Linux version 6.1.0-27-amd64 (...")
// to the release.
func kernelRelease(version string) string {
	var rel string
	if _, err := fmt.Sscanf(version, "Linux version %s", &rel); err == nil {
		return rel
	}
	return version
}

// cacheList lists the cached objects (evtrace cache ls).
func cacheList(c *cli.Context) error {
	cache := elfobj.Cache{Dir: c.String("cache-dir")}
	entries, err := cache.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tPROBE\tCREATED\tSIZE\tCOMPILE\tKERNEL")
	for _, e := range entries {
		created := "?"
		if !e.Created.IsZero() {
			created = e.Created.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%dms\t%s\n", e.Key, e.Name, created, e.Size, e.CompileMS, kernelRelease(e.Kernel))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "evtrace: %d objects in %s\n", len(entries), cache.Dir)
	return nil
}

// cacheClear removes evtrace's objects from the cache (evtrace cache clear).
func cacheClear(c *cli.Context) error {
	cache := elfobj.Cache{Dir: c.String("cache-dir")}
	res, err := cache.Clear()
	if errors.Is(err, trust.ErrUntrusted) {
		return err
	}
	msg := fmt.Sprintf("evtrace: removed %d objects from %s", res.Objects, cache.Dir)
	if res.Stale > 0 {
		msg += fmt.Sprintf(", and %d leftovers of interrupted runs", res.Stale)
	}
	if res.Kept > 0 {
		msg += fmt.Sprintf("; kept %d files evtrace did not make (or not safely: links, other owners)", res.Kept)
	}
	fmt.Fprintln(c.App.ErrWriter, msg)
	return err
}
