package elfobj

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/testenv"
)

func TestCacheKeyChangesWithEveryInput(t *testing.T) {
	base := CacheInputs{
		Source:   "#define EVTRACE_ELF 1\nint x;",
		CFlags:   []string{"-O2", "-DA=1"},
		Compiler: "/usr/lib/llvm-14/bin/clang 1000 1",
		Kernel:   "Linux version 6.1.0-27-amd64 #1 SMP",
		Headers:  "/usr/src/linux-headers-6.1.0-27-amd64 0123456789abcdef",
	}
	key := base.Key()
	if again := base; again.Key() != key {
		t.Fatal("equal inputs, different keys")
	}
	copyFlags := base
	copyFlags.CFlags = append([]string(nil), base.CFlags...)
	if copyFlags.Key() != key {
		t.Fatal("equal flags in another slice, different keys")
	}
	for name, change := range map[string]func(*CacheInputs){
		"source":         func(in *CacheInputs) { in.Source += " " },
		"define":         func(in *CacheInputs) { in.Source = "#define FILTER_PID 1\n" + in.Source },
		"cflags":         func(in *CacheInputs) { in.CFlags = []string{"-O2", "-DA=2"} },
		"cflags split":   func(in *CacheInputs) { in.CFlags = []string{"-O2 -DA=1"} },
		"compiler":       func(in *CacheInputs) { in.Compiler = "/usr/lib/llvm-15/bin/clang 1000 1" },
		"kernel":         func(in *CacheInputs) { in.Kernel = "Linux version 6.1.0-28-amd64 #1 SMP" },
		"headers":        func(in *CacheInputs) { in.Headers = "/usr/src/linux-headers-6.1.0-27-amd64 fedcba9876543210" },
		"field boundary": func(in *CacheInputs) { in.Source, in.Compiler = in.Source+in.Compiler[:1], in.Compiler[1:] },
	} {
		in := base
		in.CFlags = append([]string(nil), base.CFlags...)
		change(&in)
		if in.Key() == key {
			t.Errorf("changing the %s left the key unchanged", name)
		}
	}
}

// testObject is a minimal relocatable BPF ELF file, as llc writes them.
func testObject(t *testing.T) []byte {
	t.Helper()
	// ELF64 little-endian header, ET_REL (1), EM_BPF (247), no sections.
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	h[16] = 1   // e_type ET_REL
	h[18] = 247 // e_machine EM_BPF
	h[20] = 1   // e_version
	h[52] = 64  // e_ehsize
	h[58] = 64  // e_shentsize
	return h
}

func TestCacheGetPut(t *testing.T) {
	c := Cache{Dir: filepath.Join(testenv.TrustedTempDir(t), "objects")}
	obj := testObject(t)
	if err := checkBPFObject(obj); err != nil {
		t.Fatalf("test object: %v", err)
	}
	key := CacheInputs{Source: "x"}.Key()
	if _, _, err := c.Get(key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("empty cache: %v, want a miss", err)
	}
	if err := c.Put(obj, CacheEntry{Key: key, Name: "x.c", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got, e, err := c.Get(key)
	if err != nil || string(got) != string(obj) || e.Name != "x.c" || e.Size != int64(len(obj)) {
		t.Fatalf("Get: %d bytes, %+v, %v", len(got), e, err)
	}
	entries, err := c.List()
	if err != nil || len(entries) != 1 || entries[0].Key != key {
		t.Fatalf("List: %+v, %v", entries, err)
	}
	if res, err := c.Clear(); res.Objects != 1 || err != nil {
		t.Fatalf("Clear: %+v, %v", res, err)
	}
	if entries, _ := c.List(); len(entries) != 0 {
		t.Fatalf("after Clear: %+v", entries)
	}
}

func TestCacheRejectsDamagedObjects(t *testing.T) {
	obj := testObject(t)
	for name, damage := range map[string]func(objPath, metaPath string) error{
		"truncated": func(o, _ string) error { return os.Truncate(o, 10) },
		"altered": func(o, _ string) error {
			b, _ := os.ReadFile(o)
			b[40] ^= 0xff
			return os.WriteFile(o, b, 0o644)
		},
		"object missing": func(o, _ string) error { return os.Remove(o) },
		"entry garbled":  func(_, m string) error { return os.WriteFile(m, []byte("{"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			c := Cache{Dir: testenv.TrustedTempDir(t)}
			key := CacheInputs{Source: name}.Key()
			if err := c.Put(obj, CacheEntry{Key: key}); err != nil {
				t.Fatal(err)
			}
			o, m := filepath.Join(c.Dir, key+".o"), filepath.Join(c.Dir, key+".json")
			if err := damage(o, m); err != nil {
				t.Fatal(err)
			}
			got, _, err := c.Get(key)
			if !errors.Is(err, ErrCacheMiss) || got != nil {
				t.Fatalf("Get of a %s object: %d bytes, %v; want a miss", name, len(got), err)
			}
			if !strings.Contains(err.Error(), "removed") {
				t.Errorf("error %q does not say the entry was removed", err)
			}
			for _, p := range []string{o, m} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still there", p)
				}
			}
		})
	}
}

func TestCacheRejectsNonBPFObjects(t *testing.T) {
	c := Cache{Dir: testenv.TrustedTempDir(t)}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	key := CacheInputs{Source: "host binary"}.Key()
	if err := c.Put(self[:4096], CacheEntry{Key: key}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("an x86 ELF file was accepted: %v", err)
	}
}
