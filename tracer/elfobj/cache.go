// Package elfobj builds the ELF backend's objects: it compiles a probe in
// evtrace's dialect with clang and llc against a kernel headers tree, and
// keeps the objects in a cache keyed by everything that went into them
// (source, flags, compiler, kernel, headers), in a directory only root or
// the user may write (see trust). Pure Go; elfbackend loads the objects.
package elfobj

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/evtrace/evtrace/tracer/trust"
	"golang.org/x/sys/unix"
)

// DefaultCacheDir is where compiled objects are kept (--cache-dir).
const DefaultCacheDir = "/var/cache/evtrace/objects"

// cacheFormat changes when what goes into a key or an entry changes, so
// that entries of older evtrace versions are never taken for current ones.
const cacheFormat = "evtrace-object-cache-1"

// CacheInputs is everything a compiled object depends on. Two runs with
// equal inputs can share an object; any difference makes another key.
type CacheInputs struct {
	Source   string   // the final C text: defines, dialect, probe
	CFlags   []string // every compiler flag but the headers' include paths
	Compiler string   // the compiler's identity (clang --version)
	Kernel   string   // the running kernel: release and build (/proc/version)
	Headers  string   // the headers tree: its paths and version files
}

// Key is the cache key: a hash of the inputs.
func (in CacheInputs) Key() string {
	h := sha256.New()
	field := func(s string) {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	field(cacheFormat)
	field(in.Source)
	field(fmt.Sprint(len(in.CFlags)))
	for _, f := range in.CFlags {
		field(f)
	}
	field(in.Compiler)
	field(in.Kernel)
	field(in.Headers)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// CacheEntry describes one cached object (the .json beside the .o).
type CacheEntry struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"` // the probe, e.g. listen.c
	Created   time.Time `json:"created"`
	Kernel    string    `json:"kernel"`
	Headers   string    `json:"headers"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"` // of the object
	CompileMS int64     `json:"compile_ms"`
}

// Cache is a directory of compiled objects, KEY.o with KEY.json. The
// directory and its parents must pass evtrace's ownership checks (see
// trust.go): a cache another user could write is refused, never read.
type Cache struct {
	Dir string
}

// cacheCheck is how a cache directory is checked.
func (c Cache) cacheCheck() trust.Dir {
	return trust.Dir{Use: "object cache", Fix: fmt.Sprintf("chmod go-w %s, or name another --cache-dir", c.Dir)}
}

// dir returns the checked cache directory; a missing one is reported
// with an error wrapping os.ErrNotExist.
func (c Cache) dir() (string, error) { return c.cacheCheck().Check(c.Dir) }

// ensureDir returns the checked cache directory, made (mode 0700) if it
// is missing.
func (c Cache) ensureDir() (string, error) { return c.cacheCheck().Ensure(c.Dir, 0o700) }

// Check verifies that the cache directory is safe to use, if it exists.
func (c Cache) Check() error {
	_, err := c.dir()
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// keyRe is the form of a cache key: what Key returns.
var keyRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ErrCacheMiss means there is no usable object for a key.
var ErrCacheMiss = errors.New("not in the cache")

// Objects and entries larger than these are not evtrace's.
const (
	maxObjectSize = 64 << 20
	maxEntrySize  = 64 << 10
)

// Get returns the object stored for key, checked against its entry: an
// object that is missing, truncated, altered or not a BPF ELF file is
// removed and reported as a miss with the reason, never returned. A cache
// directory or file another user could have written is an error
// (trust.ErrUntrusted), not a miss.
func (c Cache) Get(key string) ([]byte, CacheEntry, error) {
	if !keyRe.MatchString(key) {
		return nil, CacheEntry{}, fmt.Errorf("cache: bad key %q", key)
	}
	dir, err := c.dir()
	if errors.Is(err, os.ErrNotExist) {
		return nil, CacheEntry{}, ErrCacheMiss
	}
	if err != nil {
		return nil, CacheEntry{}, err
	}
	objPath, metaPath := filepath.Join(dir, key+".o"), filepath.Join(dir, key+".json")
	metaText, err := trust.ReadFile(metaPath, maxEntrySize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, CacheEntry{}, ErrCacheMiss
	}
	if err != nil {
		return nil, CacheEntry{}, fmt.Errorf("cache: %w", err)
	}
	var e CacheEntry
	bad := func(why string) ([]byte, CacheEntry, error) {
		os.Remove(objPath)
		os.Remove(metaPath)
		return nil, CacheEntry{}, fmt.Errorf("%w: entry %s was %s and is removed", ErrCacheMiss, key, why)
	}
	if err := json.Unmarshal(metaText, &e); err != nil || e.Key != key {
		return bad("unreadable")
	}
	obj, err := trust.ReadFile(objPath, maxObjectSize)
	if errors.Is(err, trust.ErrUntrusted) {
		return nil, CacheEntry{}, fmt.Errorf("cache: %w", err)
	}
	if err != nil {
		return bad("missing its object")
	}
	if int64(len(obj)) != e.Size {
		return bad(fmt.Sprintf("truncated (%d bytes of %d)", len(obj), e.Size))
	}
	sum := sha256.Sum256(obj)
	if hex.EncodeToString(sum[:]) != e.SHA256 {
		return bad("altered (checksum mismatch)")
	}
	if err := checkBPFObject(obj); err != nil {
		return bad(err.Error())
	}
	return obj, e, nil
}

// checkBPFObject rejects anything but a relocatable BPF ELF file.
func checkBPFObject(obj []byte) error {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return fmt.Errorf("not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_BPF || f.Type != elf.ET_REL {
		return fmt.Errorf("not a BPF object (%v, %v)", f.Machine, f.Type)
	}
	return nil
}

// Put stores obj under e.Key, making the cache directory (mode 0700) if
// it is missing. Files are written under temporary names and renamed,
// object first: a reader sees a complete entry or none, and two processes
// storing the same key at once both succeed.
func (c Cache) Put(obj []byte, e CacheEntry) error {
	if !keyRe.MatchString(e.Key) {
		return fmt.Errorf("cache: bad key %q", e.Key)
	}
	dir, err := c.ensureDir()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(obj)
	e.Size = int64(len(obj))
	e.SHA256 = hex.EncodeToString(sum[:])
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := writeAtomic(dir, e.Key+".o", obj); err != nil {
		return err
	}
	return writeAtomic(dir, e.Key+".json", append(meta, '\n'))
}

// Temporary names in the cache directory carry the PID of the process
// that made them, so that a later run can tell a dead run's leftovers
// from a live one's: .tmp-PID-* files being written, .cc-PID-* compile
// directories.
const (
	tmpPrefix     = ".tmp-"
	compilePrefix = ".cc-"
)

// writeAtomic writes name in dir through a new temporary file (O_EXCL,
// mode 0600, never a link) renamed into place.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, fmt.Sprintf("%s%d-*", tmpPrefix, os.Getpid()))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// compileDir makes a private directory for one compile in the cache's
// temporary area (made if missing), after removing what dead runs left.
// The caller removes it.
func (c Cache) compileDir() (string, error) {
	dir, err := c.ensureDir()
	if err != nil {
		return "", err
	}
	c.removeDead(dir)
	d, err := os.MkdirTemp(dir, fmt.Sprintf("%s%d-*", compilePrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	return d, nil
}

// removeDead removes the temporary files and compile directories of
// evtrace processes that no longer run (killed during a compile or a
// write), and returns how many it removed.
func (c Cache) removeDead(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		var rest string
		switch {
		case strings.HasPrefix(name, tmpPrefix) && e.Type().IsRegular():
			rest = strings.TrimPrefix(name, tmpPrefix)
		case strings.HasPrefix(name, compilePrefix) && e.IsDir():
			rest = strings.TrimPrefix(name, compilePrefix)
		default:
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Lstat(path)
		if err != nil || !trust.TrustedOwner(fi.Sys().(*syscall.Stat_t).Uid) {
			continue
		}
		if os.RemoveAll(path) == nil {
			n++
		}
	}
	return n
}

// processAlive says whether a process with this PID exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// List returns the entries, newest first. A missing cache directory has
// none. Entries that cannot be read are listed with only their key.
func (c Cache) List() ([]CacheEntry, error) {
	dir, err := c.dir()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	var entries []CacheEntry
	for _, f := range files {
		key, ok := strings.CutSuffix(f.Name(), ".json")
		if !ok || !keyRe.MatchString(key) {
			continue
		}
		e := CacheEntry{Key: key}
		if b, err := trust.ReadFile(filepath.Join(dir, f.Name()), maxEntrySize); err == nil {
			json.Unmarshal(b, &e)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Created.After(entries[j].Created) })
	return entries, nil
}

// ClearResult says what Clear did.
type ClearResult struct {
	Objects int // entries (object and description) removed
	Stale   int // leftovers of dead runs removed
	Kept    int // files left alone: not made by evtrace, or not safely
}

// Clear removes the entries evtrace made, and what dead runs left behind.
// An entry is evtrace's when both its files have evtrace's names, are
// regular files (never a link) owned by root or the user running evtrace,
// and the description names the object's key. Anything else is kept and
// counted.
func (c Cache) Clear() (ClearResult, error) {
	var res ClearResult
	dir, err := c.dir()
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Stale = c.removeDead(dir)
	files, err := os.ReadDir(dir)
	if err != nil {
		return res, fmt.Errorf("cache: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for _, f := range files {
		name := f.Name()
		key := strings.TrimSuffix(strings.TrimSuffix(name, ".o"), ".json")
		if !keyRe.MatchString(key) || key == name {
			res.Kept++
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		objPath, metaPath := filepath.Join(dir, key+".o"), filepath.Join(dir, key+".json")
		if !ownEntry(key, objPath, metaPath) {
			for _, p := range []string{objPath, metaPath} {
				if _, err := os.Lstat(p); err == nil {
					res.Kept++
				}
			}
			continue
		}
		for _, p := range []string{objPath, metaPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		res.Objects++
	}
	return res, errors.Join(errs...)
}

// ownEntry says whether key's files are an entry evtrace wrote: a
// trusted description naming key, and an object that is a trusted
// regular file, or none (an entry whose object was lost).
func ownEntry(key, objPath, metaPath string) bool {
	b, err := trust.ReadFile(metaPath, maxEntrySize)
	if err != nil {
		return false
	}
	var e CacheEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key {
		return false
	}
	f, _, err := trust.Open(objPath)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	f.Close()
	return true
}
