// Package trust decides whether evtrace, running as root, may use a
// directory or file it reads back from disk and loads into the kernel
// (cached objects, headers it compiles against). A directory it
// writes and reads back is used only when nobody but root, or the user
// running evtrace, could have put anything in it: the directory and every
// parent owned by root or that user, writable by nobody else (the sticky
// bit of /tmp does not help: it stops others from removing a file, not from
// creating the one evtrace is about to read), and the directory itself no
// symbolic link. This is the rule OpenSSH's StrictModes and sudo apply to
// the files they trust.
package trust

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUntrusted marks a path evtrace refuses to use because another user
// could have written or linked it.
var ErrUntrusted = errors.New("not safe to use as root")

// UntrustedError names the path that failed the check, why, and the fix.
type UntrustedError struct {
	Path string // the directory or file that failed
	Why  string // e.g. "writable by others (mode 0777)"
	Use  string // what evtrace wanted it for, e.g. "object cache"
	Fix  string // what the user can do
}

func (e *UntrustedError) Error() string {
	s := fmt.Sprintf("%s %s: %s: %v", e.Use, e.Path, e.Why, ErrUntrusted)
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

// maxLinks bounds the symbolic links followed in one path, as the kernel's
// own limit does.
const maxLinks = 40

// TrustedOwner says whether a file owned by uid may be trusted: root's, or
// the user's running evtrace.
func TrustedOwner(uid uint32) bool {
	return uid == 0 || uid == uint32(os.Getuid())
}

// Dir checks directories for use as root.
type Dir struct {
	Use       string // for messages: "object cache", "headers tree"
	Fix       string // the fix for a bad final directory
	FinalLink bool   // the directory itself may be a symbolic link (checked like a parent)
}

// check verifies dir and each of its parents and returns dir with every
// symbolic link resolved. A component that does not exist is reported
// with an error wrapping os.ErrNotExist.
func (c Dir) Check(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", c.Use, dir, err)
	}
	links := 0
	return c.walk(abs, dir, &links)
}

func (c Dir) walk(abs, named string, links *int) (string, error) {
	cur := "/"
	if err := c.checkDir(cur, named, false); err != nil {
		return "", err
	}
	parts := strings.Split(strings.Trim(filepath.Clean(abs), "/"), "/")
	for i, name := range parts {
		if name == "" {
			continue
		}
		last := i == len(parts)-1
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", c.Use, named, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if last && !c.FinalLink {
				return "", &UntrustedError{Path: named, Use: c.Use, Why: "is a symbolic link", Fix: c.Fix}
			}
			if st := fi.Sys().(*syscall.Stat_t); !TrustedOwner(st.Uid) {
				return "", &UntrustedError{Path: next, Use: c.Use, Why: fmt.Sprintf("is a symbolic link owned by uid %d", st.Uid), Fix: c.Fix}
			}
			if *links++; *links > maxLinks {
				return "", &UntrustedError{Path: named, Use: c.Use, Why: "has too many symbolic links"}
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", c.Use, named, err)
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			resolved, err := c.walk(target, named, links)
			if err != nil {
				return "", err
			}
			cur = resolved
			continue
		}
		if err := c.checkDir(next, named, last); err != nil {
			return "", err
		}
		cur = next
	}
	return cur, nil
}

// checkDir checks one directory component by its lstat.
func (c Dir) checkDir(path, named string, last bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.Use, named, err)
	}
	fix := fmt.Sprintf("chmod go-w %s, or use another directory", path)
	if last {
		fix = c.Fix
	}
	if !fi.IsDir() {
		return &UntrustedError{Path: path, Use: c.Use, Why: "is not a directory", Fix: fix}
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !TrustedOwner(st.Uid) {
		return &UntrustedError{Path: path, Use: c.Use, Why: fmt.Sprintf("is owned by uid %d, not by root", st.Uid), Fix: fmt.Sprintf("chown root %s, or use another directory", path)}
	}
	if m := fi.Mode(); m.Perm()&0o022 != 0 {
		return &UntrustedError{Path: path, Use: c.Use, Why: fmt.Sprintf("is writable by group or others (mode %s)", ModeString(m)), Fix: fix}
	}
	return nil
}

// ModeString prints a mode as octal with the sticky bit, like ls's 1777.
func ModeString(m os.FileMode) string {
	v := uint32(m.Perm())
	if m&os.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// ensure is check, creating what is missing of dir: parents with mode
// 0755, dir itself with perm. Each directory is made with mkdir, which
// never follows a link, and the whole path is checked again afterwards.
func (c Dir) Ensure(dir string, perm os.FileMode) (string, error) {
	real, err := c.Check(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return real, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	// Make the missing tail, from the deepest existing parent down.
	var missing []string
	p := abs
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	// The existing part must be trusted before anything is made in it;
	// it is a parent, so a link to a trusted directory is fine there.
	parents := c
	parents.FinalLink = true
	if _, err := parents.Check(p); err != nil {
		return "", err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		mode := os.FileMode(0o755)
		if i == 0 {
			mode = perm
		}
		if err := os.Mkdir(missing[i], mode); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s %s: %w", c.Use, dir, err)
		}
	}
	return c.Check(dir)
}

// Open opens a regular file in a checked directory for reading,
// without following a link, and refuses it unless it is owned by root or
// the user running evtrace, writable by nobody else, and has one name. The
// checks are made on the opened descriptor, so the file checked is the one
// read. A missing file gives an error wrapping os.ErrNotExist.
func Open(path string) (*os.File, os.FileInfo, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, nil, &UntrustedError{Path: path, Use: "file", Why: "is a symbolic link"}
		}
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	why := ""
	switch {
	case !fi.Mode().IsRegular():
		why = "is not a regular file"
	case !TrustedOwner(st.Uid):
		why = fmt.Sprintf("is owned by uid %d", st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		why = fmt.Sprintf("is writable by group or others (mode %s)", ModeString(fi.Mode()))
	case st.Nlink != 1:
		why = fmt.Sprintf("has %d hard links", st.Nlink)
	}
	if why != "" {
		f.Close()
		return nil, nil, &UntrustedError{Path: path, Use: "file", Why: why}
	}
	return f, fi, nil
}

// ReadFile reads a file that Open accepts, up to limit bytes; a
// larger file is an error.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d expected", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes expected", path, limit)
	}
	return b, nil
}
