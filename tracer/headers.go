package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HeaderSearch says where to look for the kernel headers that libbcc compiles
// probes against. The zero value of every field but Release is fine.
type HeaderSearch struct {
	Explicit   string // --kernel-source
	Env        string // $BCC_KERNEL_SOURCE
	Release    string // uname -r
	ModulesDir string // default /lib/modules
	KHeaders   string // default /sys/kernel/kheaders.tar.xz
}

// Headers is where libbcc will find the kernel headers.
type Headers struct {
	// Dir is set when the tree must be named to libbcc through
	// BCC_KERNEL_SOURCE; empty when libbcc finds it by itself
	// (/lib/modules/RELEASE/{build,source} or kheaders).
	Dir string
	// Desc says which tree was found, for -v and error messages.
	Desc string
}

// FindHeaders looks for a usable headers tree in the order libbcc does, and
// on failure returns ErrNoHeaders with every path tried and how to get one.
func FindHeaders(s HeaderSearch) (Headers, error) {
	if s.ModulesDir == "" {
		s.ModulesDir = "/lib/modules"
	}
	if s.KHeaders == "" {
		s.KHeaders = "/sys/kernel/kheaders.tar.xz"
	}
	for _, named := range []struct{ dir, how string }{
		{s.Explicit, "--kernel-source"},
		{s.Env, "BCC_KERNEL_SOURCE"},
	} {
		if named.dir == "" {
			continue
		}
		if err := checkHeaderTree(named.dir); err != nil {
			return Headers{}, fmt.Errorf("%w: %s %s: %v", ErrNoHeaders, named.how, named.dir, err)
		}
		return Headers{Dir: named.dir, Desc: named.dir + " (" + named.how + ")"}, nil
	}

	var tried []string
	modules := filepath.Join(s.ModulesDir, s.Release)
	build := filepath.Join(modules, "build")
	source := filepath.Join(modules, "source")
	tried = append(tried, build, source)
	// Distributions split the tree: "build" holds the generated and arch
	// files, "source" (or build itself) the rest. libbcc reads both.
	if isDir(build) && (hasKconfig(build) || hasKconfig(source)) {
		return Headers{Desc: build}, nil
	}
	tried = append(tried, s.KHeaders)
	if _, err := os.Stat(s.KHeaders); err == nil {
		return Headers{Desc: s.KHeaders + " (CONFIG_IKHEADERS)"}, nil
	}
	return Headers{}, fmt.Errorf("%w for kernel %s (tried %s): install them (Debian/Ubuntu: apt-get install linux-headers-%s) or name a tree with --kernel-source DIR",
		ErrNoHeaders, s.Release, strings.Join(tried, ", "), s.Release)
}

// checkHeaderTree accepts a directory that holds both halves of a kernel
// headers tree: include/linux/kconfig.h and the generated configuration.
func checkHeaderTree(dir string) error {
	if !isDir(dir) {
		return fmt.Errorf("not a directory")
	}
	if !hasKconfig(dir) {
		return fmt.Errorf("no include/linux/kconfig.h (with split packages such as Debian's, copy the -amd64 tree over the -common one and name the result)")
	}
	if _, err := os.Stat(filepath.Join(dir, "include", "generated", "autoconf.h")); err != nil {
		return fmt.Errorf("no include/generated/autoconf.h: the tree is not configured (with split packages, copy the -amd64 tree over the -common one)")
	}
	return nil
}

func hasKconfig(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "include", "linux", "kconfig.h"))
	return err == nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
