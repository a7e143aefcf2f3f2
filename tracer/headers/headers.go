// Package headers finds the kernel headers tree a probe is compiled
// against, in the order libbcc looks (--kernel-source, BCC_KERNEL_SOURCE,
// /lib/modules/RELEASE, kheaders), and, for programs whose struct reads do
// not depend on it, merges another release's split Debian tree into one.
package headers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evtrace/evtrace/tracer/trust"
)

// ErrNoHeaders: no kernel headers tree was found for bcc to compile against.
var ErrNoHeaders = errors.New("kernel headers not found")

// Search says where to look for the kernel headers that libbcc compiles
// probes against. The zero value of every field but Release is fine.
type Search struct {
	Explicit   string // --kernel-source
	Env        string // $BCC_KERNEL_SOURCE
	Release    string // uname -r
	ModulesDir string // default /lib/modules
	KHeaders   string // default /sys/kernel/kheaders.tar.xz
}

// Tree is where libbcc will find the kernel headers.
type Tree struct {
	// Dir is set when the tree must be named to libbcc through
	// BCC_KERNEL_SOURCE; empty when libbcc finds it by itself
	// (/lib/modules/RELEASE/{build,source} or kheaders).
	Dir string
	// Desc says which tree was found, for -v and error messages.
	Desc string
	// OtherRelease is set when the tree belongs to another kernel release
	// (OtherRelease): struct layouts read from it may be wrong.
	OtherRelease bool
}

// Find looks for a usable headers tree in the order libbcc does, and
// on failure returns ErrNoHeaders with every path tried and how to get one.
func Find(s Search) (Tree, error) {
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
			return Tree{}, fmt.Errorf("%w: %s %s: %v (Debian/Ubuntu install them with apt-get install linux-headers-%s)", ErrNoHeaders, named.how, named.dir, err, s.Release)
		}
		if err := checkHeadersOwner(named.dir); err != nil {
			return Tree{}, err
		}
		return Tree{Dir: named.dir, Desc: named.dir + " (" + named.how + ")"}, nil
	}

	var tried []string
	modules := filepath.Join(s.ModulesDir, s.Release)
	build := filepath.Join(modules, "build")
	source := filepath.Join(modules, "source")
	tried = append(tried, build, source)
	// Distributions split the tree: "build" holds the generated and arch
	// files, "source" (or build itself) the rest. libbcc reads both.
	if isDir(build) && (hasKconfig(build) || hasKconfig(source)) {
		for _, dir := range []string{build, source} {
			if err := checkHeadersOwner(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				return Tree{}, err
			}
		}
		return Tree{Desc: build}, nil
	}
	tried = append(tried, s.KHeaders)
	if _, err := os.Stat(s.KHeaders); err == nil {
		return Tree{Desc: s.KHeaders + " (CONFIG_IKHEADERS)"}, nil
	}
	return Tree{}, fmt.Errorf("%w for kernel %s (tried %s): install them (Debian/Ubuntu: apt-get install linux-headers-%s) or name a tree with --kernel-source DIR",
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

// checkHeadersOwner refuses a headers tree that another user could have
// written: the probe is compiled from it and loaded as root. The tree's
// top directory and its parents are checked (see trust.go), following
// links owned by root, as /lib/modules/RELEASE/build is one.
func checkHeadersOwner(dir string) error {
	c := trust.Dir{Use: "kernel headers tree", FinalLink: true, Fix: "use a tree only root can write, such as the linux-headers package's"}
	_, err := c.Check(dir)
	return err
}

func hasKconfig(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "include", "linux", "kconfig.h"))
	return err == nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// DefaultCache is where merged header trees are made.
const DefaultCache = "/var/cache/evtrace/headers"

// OtherRelease finds a headers tree installed for another kernel
// release than the running one (the newest by name), for programs that do
// not take struct layouts from the headers (BTF offsets, tracepoint
// arguments). A tree split in two, as Debian ships it (build: generated and
// arch files; source: the rest), is merged into cacheDir as a tree of
// symbolic links, because libbcc takes one tree through BCC_KERNEL_SOURCE.
func OtherRelease(modulesDir, running, cacheDir string) (Tree, error) {
	entries, err := os.ReadDir(modulesDir)
	if err != nil {
		return Tree{}, fmt.Errorf("%w: %v", ErrNoHeaders, err)
	}
	var releases []string
	for _, e := range entries {
		if e.Name() != running && isDir(filepath.Join(modulesDir, e.Name(), "build")) && checkHeadersOwner(filepath.Join(modulesDir, e.Name(), "build")) == nil {
			releases = append(releases, e.Name())
		}
	}
	sort.Strings(releases)
	for i := len(releases) - 1; i >= 0; i-- {
		rel := releases[i]
		build := filepath.Join(modulesDir, rel, "build")
		desc := fmt.Sprintf("headers of %s (none installed for the running %s)", rel, running)
		if checkHeaderTree(build) == nil {
			return Tree{Dir: build, Desc: build + ", " + desc, OtherRelease: true}, nil
		}
		source := filepath.Join(modulesDir, rel, "source")
		if !isDir(source) || checkHeadersOwner(source) != nil {
			continue
		}
		merged := filepath.Join(cacheDir, rel)
		if err := mergeTrees(merged, source, build); err != nil {
			return Tree{}, fmt.Errorf("merge headers of %s: %w", rel, err)
		}
		if err := checkHeaderTree(merged); err != nil {
			continue
		}
		return Tree{Dir: merged, Desc: merged + ", " + desc, OtherRelease: true}, nil
	}
	return Tree{}, fmt.Errorf("%w: none for the running kernel %s and none for another release under %s", ErrNoHeaders, running, modulesDir)
}

// mergeTrees makes dst a tree of symbolic links showing upper over lower:
// directories present in both are made and merged, anything else links to
// the tree that has it (upper first). A dst made before from the same trees
// is kept. Several processes may do this at once: each builds its own copy
// and renames it into place, and a loser takes the winner's.
//
// The cache directory must pass the checks of trust.go (it is made, 0755,
// when missing), and a stamp is believed only from a file evtrace could
// have written.
func mergeTrees(dst, lower, upper string) error {
	stamp := lower + "\n" + upper + "\n"
	c := trust.Dir{Use: "headers cache", Fix: fmt.Sprintf("chmod go-w %s", filepath.Dir(dst))}
	if _, err := c.Ensure(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if b, err := trust.ReadFile(filepath.Join(dst, mergeStamp), 64<<10); err == nil && string(b) == stamp {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := mergeDir(tmp, lower, upper); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, mergeStamp), []byte(stamp), 0o644); err != nil {
		return err
	}
	for try := 0; try < 3; try++ {
		if err = os.Rename(tmp, dst); err == nil {
			return nil
		}
		if b, rerr := trust.ReadFile(filepath.Join(dst, mergeStamp), 64<<10); rerr == nil && string(b) == stamp {
			return nil // another process made it meanwhile
		}
		// A stale tree from other sources: move it aside, then remove it.
		aside := tmp + ".old"
		if os.Rename(dst, aside) == nil {
			os.RemoveAll(aside)
		}
	}
	return err
}

// mergeStamp names the file in a merged tree that records its sources.
const mergeStamp = ".evtrace-merged"

func mergeDir(dst, lower, upper string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, dir := range []string{lower, upper} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			names[e.Name()] = true
		}
	}
	for name := range names {
		l, u := filepath.Join(lower, name), filepath.Join(upper, name)
		lDir, uDir := isDir(l), isDir(u)
		_, uErr := os.Lstat(u)
		switch {
		case lDir && uDir:
			if err := mergeDir(filepath.Join(dst, name), l, u); err != nil {
				return err
			}
		case uErr == nil:
			if err := os.Symlink(u, filepath.Join(dst, name)); err != nil {
				return err
			}
		default:
			if err := os.Symlink(l, filepath.Join(dst, name)); err != nil {
				return err
			}
		}
	}
	return nil
}
