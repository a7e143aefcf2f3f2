package trust_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrace/evtrace/tracer/testenv"
	"github.com/evtrace/evtrace/tracer/trust"
)

// A symbolic link in a parent is followed when root owns it, and the
// directory it leads to is checked in turn.
func TestTrustedDirFollowsRootsLinks(t *testing.T) {
	base := testenv.TrustedTempDir(t)
	real := filepath.Join(base, "real")
	os.MkdirAll(filepath.Join(real, "objects"), 0o700)
	os.Symlink(real, filepath.Join(base, "via"))
	got, err := (trust.Dir{Use: "test"}).Check(filepath.Join(base, "via", "objects"))
	if err != nil || got != filepath.Join(real, "objects") {
		t.Fatalf("got %q, %v", got, err)
	}
	if os.Geteuid() != 0 {
		return
	}
	// The same path once the link's target is shared.
	os.Chmod(real, 0o777)
	_, err = (trust.Dir{Use: "test"}).Check(filepath.Join(base, "via", "objects"))
	if !errors.Is(err, trust.ErrUntrusted) || !strings.Contains(err.Error(), real) {
		t.Fatalf("link to a shared directory: got %v, want a refusal (ErrUntrusted) naming %s", err, real)
	}
}

// mustRefuse fails the test unless err is an UntrustedError for path that
// gives why.
func mustRefuse(t *testing.T, err error, path, why string) {
	t.Helper()
	var ue *trust.UntrustedError
	if !errors.As(err, &ue) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("%s: got %v, want a refusal (trust.UntrustedError)", path, err)
	}
	if ue.Path != path || ue.Why != why {
		t.Errorf("refused %s because it %s; want %s because it %s", ue.Path, ue.Why, path, why)
	}
}

// A directory that another user made is refused even when no one else can
// write it: its owner can.
func TestDirRefusesAnotherUsersDirectory(t *testing.T) {
	testenv.RequireRootForUsers(t)
	base := testenv.TrustedTempDir(t)
	os.Chmod(base, 0o777)
	theirs := filepath.Join(base, "nobodys")
	testenv.AsNobody(t, "mkdir", "-m", "0755", theirs)
	os.Chmod(base, 0o755)
	_, err := (trust.Dir{Use: "test"}).Check(theirs)
	mustRefuse(t, err, theirs, "is owned by uid 65534, not by root")
}

// Open refuses a file that another user could have written or swapped, by
// what it finds on the opened descriptor, and opens one only root or the
// user running evtrace could have made.
func TestOpenRefusesFilesOthersControl(t *testing.T) {
	dir := testenv.TrustedTempDir(t)
	write := func(p string, mode os.FileMode) error {
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			return err
		}
		return os.Chmod(p, mode) // whatever the umask
	}
	good := filepath.Join(dir, "good")
	if err := write(good, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		make   func(p string) error
		why    string
		asRoot bool // needs root to give the file away
	}{
		{"symbolic link", func(p string) error { return os.Symlink(good, p) }, "is a symbolic link", false},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "is not a regular file", false},
		{"writable by others", func(p string) error { return write(p, 0o666) }, "is writable by group or others (mode 0666)", false},
		{"second hard link", func(p string) error {
			if err := write(p+".other", 0o600); err != nil {
				return err
			}
			return os.Link(p+".other", p)
		}, "has 2 hard links", false},
		{"owned by nobody", func(p string) error {
			if err := write(p, 0o600); err != nil {
				return err
			}
			return os.Chown(p, testenv.NobodyUID, testenv.NobodyUID)
		}, "is owned by uid 65534", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.asRoot {
				testenv.RequireRootForUsers(t)
			}
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := c.make(p); err != nil {
				t.Fatal(err)
			}
			f, _, err := trust.Open(p)
			if f != nil {
				f.Close()
			}
			mustRefuse(t, err, p, c.why)
		})
	}
	f, fi, err := trust.Open(good)
	if err != nil || fi.Size() != 1 {
		t.Fatalf("Open of a private file: %v, %v", fi, err)
	}
	f.Close()
}
