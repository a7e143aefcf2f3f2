package headers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Roots returns the directories of a headers tree that the compiler
// includes from: the tree evtrace named to libbcc, or the build and source
// directories of /lib/modules/RELEASE (Debian splits a tree in two).
func Roots(h Tree, release string) ([]string, error) {
	if h.Dir != "" {
		return []string{h.Dir}, nil
	}
	var roots []string
	for _, link := range []string{"build", "source"} {
		dir, err := filepath.EvalSymlinks(filepath.Join("/lib/modules", release, link))
		if err != nil || !isDir(filepath.Join(dir, "include")) {
			continue
		}
		if len(roots) == 0 || roots[0] != dir {
			roots = append(roots, dir)
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: the ELF backend needs a headers tree on disk (%s)", ErrNoHeaders, h.Desc)
	}
	return roots, nil
}

// Identity names a headers tree by its paths and the files that
// say which kernel and configuration it is for.
func Identity(roots []string) string {
	h := sha256.New()
	for _, r := range roots {
		fmt.Fprintf(h, "root %s\n", r)
		for _, f := range []string{"include/generated/utsrelease.h", "include/generated/autoconf.h", "include/config/kernel.release", "arch/x86/include/generated/asm/unistd_64_x32.h"} {
			if b, err := os.ReadFile(filepath.Join(r, f)); err == nil {
				sum := sha256.Sum256(b)
				fmt.Fprintf(h, "%s %x\n", f, sum)
			}
		}
	}
	return strings.Join(roots, ":") + " " + hex.EncodeToString(h.Sum(nil))[:16]
}
