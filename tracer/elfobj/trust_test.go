package elfobj

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/trust"
)

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

// A directory that another user made is refused even when no one else can
// write it: its owner can.
func TestCacheRefusesDirectoryMadeByAnotherUser(t *testing.T) {
	testenv.RequireRootForUsers(t)
	base := testenv.TrustedTempDir(t)
	os.Chmod(base, 0o777)
	mine := filepath.Join(base, "nobodys")
	testenv.AsNobody(t, "mkdir", "-m", "0755", mine)
	os.Chmod(base, 0o755)
	key := CacheInputs{Source: "nobody's"}.Key()
	plantEntry(t, mine, key)
	_, _, err := Cache{Dir: mine}.Get(key)
	mustUntrusted(t, "Get", err, mine, "owned by uid 65534")
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
