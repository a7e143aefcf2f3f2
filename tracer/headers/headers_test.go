package headers_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/testenv"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindHeaders(t *testing.T) {
	root := testenv.TrustedTempDir(t)
	full := filepath.Join(root, "full")
	touch(t, filepath.Join(full, "include/linux/kconfig.h"))
	touch(t, filepath.Join(full, "include/generated/autoconf.h"))
	archOnly := filepath.Join(root, "amd64")
	touch(t, filepath.Join(archOnly, "include/generated/autoconf.h"))
	// A Debian-style split: build -> arch tree, source -> common tree.
	modules := filepath.Join(root, "modules")
	common := filepath.Join(root, "common")
	touch(t, filepath.Join(common, "include/linux/kconfig.h"))
	os.MkdirAll(filepath.Join(modules, "6.1.0-1-amd64"), 0o755)
	os.Symlink(archOnly, filepath.Join(modules, "6.1.0-1-amd64", "build"))
	os.Symlink(common, filepath.Join(modules, "6.1.0-1-amd64", "source"))
	noKHeaders := filepath.Join(root, "no-kheaders.tar.xz")

	t.Run("explicit tree", func(t *testing.T) {
		h, err := headers.Find(headers.Search{Explicit: full, Env: archOnly, Release: "x", ModulesDir: modules, KHeaders: noKHeaders})
		if err != nil || h.Dir != full {
			t.Fatalf("got %+v, %v", h, err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		h, err := headers.Find(headers.Search{Env: full, Release: "x", ModulesDir: modules, KHeaders: noKHeaders})
		if err != nil || h.Dir != full {
			t.Fatalf("got %+v, %v", h, err)
		}
	})
	t.Run("explicit half tree is refused with advice", func(t *testing.T) {
		_, err := headers.Find(headers.Search{Explicit: archOnly, Release: "x", ModulesDir: modules, KHeaders: noKHeaders})
		if !errors.Is(err, headers.ErrNoHeaders) || !strings.Contains(err.Error(), "kconfig.h") || !strings.Contains(err.Error(), "--kernel-source") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("explicit path that is not there", func(t *testing.T) {
		_, err := headers.Find(headers.Search{Explicit: filepath.Join(root, "nope"), Release: "6.1.0-9-amd64", ModulesDir: modules, KHeaders: noKHeaders})
		if !errors.Is(err, headers.ErrNoHeaders) || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), "apt-get install linux-headers-6.1.0-9-amd64") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("split tree under /lib/modules", func(t *testing.T) {
		h, err := headers.Find(headers.Search{Release: "6.1.0-1-amd64", ModulesDir: modules, KHeaders: noKHeaders})
		if err != nil || h.Dir != "" || !strings.HasSuffix(h.Desc, "6.1.0-1-amd64/build") {
			t.Fatalf("got %+v, %v", h, err)
		}
	})
	t.Run("kheaders", func(t *testing.T) {
		kh := filepath.Join(root, "kheaders.tar.xz")
		touch(t, kh)
		h, err := headers.Find(headers.Search{Release: "6.18.0", ModulesDir: modules, KHeaders: kh})
		if err != nil || h.Dir != "" || !strings.Contains(h.Desc, "kheaders") {
			t.Fatalf("got %+v, %v", h, err)
		}
	})
	t.Run("nothing: every path tried, and how to install", func(t *testing.T) {
		_, err := headers.Find(headers.Search{Release: "6.18.0", ModulesDir: modules, KHeaders: noKHeaders})
		if !errors.Is(err, headers.ErrNoHeaders) {
			t.Fatalf("got %v", err)
		}
		for _, want := range []string{
			filepath.Join(modules, "6.18.0/build"), filepath.Join(modules, "6.18.0/source"), noKHeaders,
			"apt-get install linux-headers-6.18.0", "--kernel-source",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	})
}

func TestOtherReleaseHeaders(t *testing.T) {
	root := testenv.TrustedTempDir(t)
	modules := filepath.Join(root, "modules")
	// Debian's split: -common holds include/linux, -amd64 the generated
	// files, and both have include/ and arch/x86/include/.
	common, arch := filepath.Join(root, "common"), filepath.Join(root, "amd64")
	touch(t, filepath.Join(common, "include/linux/kconfig.h"))
	touch(t, filepath.Join(common, "arch/x86/include/asm/ptrace.h"))
	touch(t, filepath.Join(common, "Makefile"))
	touch(t, filepath.Join(arch, "include/generated/autoconf.h"))
	touch(t, filepath.Join(arch, "arch/x86/include/generated/asm/x.h"))
	touch(t, filepath.Join(arch, "Makefile"))
	for _, rel := range []string{"5.10.0-9-amd64", "6.1.0-1-amd64"} {
		os.MkdirAll(filepath.Join(modules, rel), 0o755)
		os.Symlink(arch, filepath.Join(modules, rel, "build"))
		os.Symlink(common, filepath.Join(modules, rel, "source"))
	}
	os.MkdirAll(filepath.Join(modules, "6.18.0", "kernel"), 0o755) // the running one, without headers
	cache := filepath.Join(root, "cache")

	h, err := headers.OtherRelease(modules, "6.18.0", cache)
	if err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(cache, "6.1.0-1-amd64")
	if h.Dir != merged || !strings.Contains(h.Desc, "6.1.0-1-amd64") || !strings.Contains(h.Desc, "6.18.0") {
		t.Fatalf("got %+v", h)
	}
	for path, from := range map[string]string{
		"include/linux/kconfig.h":            common,
		"include/generated/autoconf.h":       arch,
		"arch/x86/include/asm/ptrace.h":      common,
		"arch/x86/include/generated/asm/x.h": arch,
		"Makefile":                           arch, // the build tree wins
	} {
		real, err := filepath.EvalSymlinks(filepath.Join(merged, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		want, _ := filepath.EvalSymlinks(filepath.Join(from, path))
		if real != want {
			t.Errorf("%s -> %s, want %s", path, real, want)
		}
	}
	// Made again over the old one.
	if _, err := headers.OtherRelease(modules, "6.18.0", cache); err != nil {
		t.Fatal(err)
	}
	if _, err := headers.OtherRelease(filepath.Join(root, "none"), "6.18.0", cache); !errors.Is(err, headers.ErrNoHeaders) {
		t.Errorf("no modules dir: %v", err)
	}
}
