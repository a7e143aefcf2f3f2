package elfobj

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/trust"
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

// plantEntry makes a valid cache entry for key (as root, in a private
// cache) and has user nobody copy it into dir, as an attacker would.
func plantEntry(t *testing.T, dir, key string) {
	t.Helper()
	src := testenv.TrustedTempDir(t)
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	c := Cache{Dir: src}
	if err := c.Put(testObject(t), CacheEntry{Key: key, Name: "listen.c"}); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".o", ".json"} {
		os.Chmod(filepath.Join(src, key+ext), 0o644)
		testenv.AsNobody(t, "cp", filepath.Join(src, key+ext), filepath.Join(dir, key+ext))
	}
}

func mustUntrusted(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("%s: got %v, want a refusal (trust.ErrUntrusted)", what, err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", what, err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: not one line: %q", what, err)
	}
}

// An object planted by another user in a directory it can write is never
// loaded: the directory is refused before any file in it is read.
func TestCacheRefusesSharedDirectories(t *testing.T) {
	testenv.RequireRootForUsers(t)
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		t.Run(trust.ModeString(mode), func(t *testing.T) {
			base := testenv.TrustedTempDir(t)
			os.Chmod(base, 0o755)
			shared := filepath.Join(base, "shared")
			if err := os.Mkdir(shared, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(shared, mode); err != nil {
				t.Fatal(err)
			}
			key := CacheInputs{Source: "planted"}.Key()
			plantEntry(t, shared, key)
			c := Cache{Dir: shared}
			obj, _, err := c.Get(key)
			if obj != nil {
				t.Fatal("Get returned the planted object")
			}
			mustUntrusted(t, "Get", err, shared, "writable by group or others", "chmod go-w")
			_, err = c.List()
			mustUntrusted(t, "List", err)
			_, err = c.Clear()
			mustUntrusted(t, "Clear", err)
			mustUntrusted(t, "Put", c.Put(testObject(t), CacheEntry{Key: key}))
			// A directory below the shared one is refused for its parent.
			sub := filepath.Join(shared, "objects")
			os.Mkdir(sub, 0o700)
			_, _, err = Cache{Dir: sub}.Get(key)
			mustUntrusted(t, "Get below a shared parent", err, shared)
			// Nothing was removed either: the planted files are still there.
			for _, ext := range []string{".o", ".json"} {
				if _, err := os.Lstat(filepath.Join(shared, key+ext)); err != nil {
					t.Errorf("planted %s: %v", ext, err)
				}
			}
		})
	}
}

// A cache directory that is a symbolic link is refused, for reads and for
// writes, even when it points to a safe directory.
func TestCacheRefusesSymlinkedDirectory(t *testing.T) {
	base := testenv.TrustedTempDir(t)
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := Cache{Dir: link}
	key := CacheInputs{Source: "link"}.Key()
	mustUntrusted(t, "Put", c.Put(testObject(t), CacheEntry{Key: key}), link, "symbolic link")
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("Put wrote through the link: %v", entries)
	}
	_, _, err := c.Get(key)
	mustUntrusted(t, "Get", err, "symbolic link")
	_, err = c.Clear()
	mustUntrusted(t, "Clear", err, "symbolic link")
}

// Inside a safe directory, an entry that is a link, or a file owned by
// another user, is refused (a file's checks are made on its descriptor).
func TestCacheRefusesForeignEntries(t *testing.T) {
	testenv.RequireRootForUsers(t)
	dir := testenv.TrustedTempDir(t)
	c := Cache{Dir: dir}
	key := CacheInputs{Source: "entry"}.Key()
	if err := c.Put(testObject(t), CacheEntry{Key: key}); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, key+".o")
	if err := os.Chown(obj, testenv.NobodyUID, testenv.NobodyUID); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Get(key)
	mustUntrusted(t, "object owned by nobody", err, "owned by uid 65534")

	os.Chown(obj, 0, 0)
	elsewhere := filepath.Join(testenv.TrustedTempDir(t), "x.o")
	os.Rename(obj, elsewhere)
	os.Symlink(elsewhere, obj)
	_, _, err = c.Get(key)
	mustUntrusted(t, "object that is a link", err, "symbolic link")
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}
}

// cache clear removes what evtrace made and keeps the rest, and says how
// many of each.
func TestCacheClearKeepsForeignFiles(t *testing.T) {
	dir := testenv.TrustedTempDir(t)
	c := Cache{Dir: dir}
	ours := CacheInputs{Source: "ours"}.Key()
	if err := c.Put(testObject(t), CacheEntry{Key: ours}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(testenv.TrustedTempDir(t), "target.o")
	os.WriteFile(target, []byte("keep me"), 0o600)
	other := CacheInputs{Source: "other"}.Key()
	linked := CacheInputs{Source: "linked"}.Key()
	foreign := map[string]func(string) error{
		"notes.o":         func(p string) error { return os.WriteFile(p, []byte("mine"), 0o600) },
		other + ".o":      func(p string) error { return os.WriteFile(p, []byte("no description"), 0o600) },
		linked + ".o":     func(p string) error { return os.Symlink(target, p) },
		linked + ".json":  func(p string) error { return os.WriteFile(p, []byte(`{"key":"`+linked+`"}`), 0o600) },
		".tmp-1-inflight": func(p string) error { return os.WriteFile(p, nil, 0o600) }, // pid 1 is alive
	}
	for name, make := range foreign {
		if err := make(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Clear()
	if err != nil || res.Objects != 1 || res.Kept != len(foreign) {
		t.Fatalf("Clear: %+v, %v; want 1 removed and %d kept", res, err, len(foreign))
	}
	for name := range foreign {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Errorf("link target changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, ours+".o")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("evtrace's entry not removed: %v", err)
	}
}

// The default cache is made private; a compile's files live in the cache
// directory, and what a killed run left there is removed by the next one.
func TestCacheDirectoryCreationAndLeftovers(t *testing.T) {
	base := testenv.TrustedTempDir(t)
	c := Cache{Dir: filepath.Join(base, "a", "objects")}
	tmp, err := c.compileDir()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(c.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v, %v; want mode 0700", fi, err)
	}
	if filepath.Dir(tmp) != c.Dir || !strings.HasPrefix(filepath.Base(tmp), compilePrefix) {
		t.Fatalf("compile dir %s is not in the cache's area", tmp)
	}
	// A dead process's leftovers (no process has a PID this large) and a
	// live one's (this test's).
	dead := []string{filepath.Join(c.Dir, ".cc-999999999-x"), filepath.Join(c.Dir, ".tmp-999999999-y")}
	os.Mkdir(dead[0], 0o700)
	os.WriteFile(filepath.Join(dead[0], "probe.bc"), nil, 0o600)
	os.WriteFile(dead[1], nil, 0o600)
	tmp2, err := c.compileDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dead {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	for _, p := range []string{tmp, tmp2} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a live run's %s was removed: %v", p, err)
		}
	}
}
