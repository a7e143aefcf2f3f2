package tracer

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
	"sort"
	"strings"
	"time"
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

// Cache is a directory of compiled objects, KEY.o with KEY.json.
type Cache struct {
	Dir string
}

func (c Cache) paths(key string) (obj, meta string) {
	return filepath.Join(c.Dir, key+".o"), filepath.Join(c.Dir, key+".json")
}

// ErrCacheMiss means there is no usable object for a key.
var ErrCacheMiss = errors.New("not in the cache")

// Get returns the object stored for key, checked against its entry: an
// object that is missing, truncated, altered or not a BPF ELF file is
// removed and reported as a miss with the reason, never returned.
func (c Cache) Get(key string) ([]byte, CacheEntry, error) {
	objPath, metaPath := c.paths(key)
	metaText, err := os.ReadFile(metaPath)
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
	obj, err := os.ReadFile(objPath)
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

// Put stores obj under e.Key. Files are written under temporary names and
// renamed, object first: a reader sees a complete entry or none, and two
// processes storing the same key at once both succeed.
func (c Cache) Put(obj []byte, e CacheEntry) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	sum := sha256.Sum256(obj)
	e.Size = int64(len(obj))
	e.SHA256 = hex.EncodeToString(sum[:])
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	objPath, metaPath := c.paths(e.Key)
	if err := writeAtomic(objPath, obj); err != nil {
		return err
	}
	return writeAtomic(metaPath, append(meta, '\n'))
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// List returns the entries, newest first. Entries that cannot be read are
// listed with only their key.
func (c Cache) List() ([]CacheEntry, error) {
	names, err := filepath.Glob(filepath.Join(c.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var entries []CacheEntry
	for _, n := range names {
		key := strings.TrimSuffix(filepath.Base(n), ".json")
		e := CacheEntry{Key: key}
		if b, err := os.ReadFile(n); err == nil {
			json.Unmarshal(b, &e)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Created.After(entries[j].Created) })
	return entries, nil
}

// Clear removes every entry (and leftovers of interrupted writes) and
// returns how many objects it removed.
func (c Cache) Clear() (int, error) {
	var n int
	var errs []error
	for _, pattern := range []string{"*.o", "*.json", ".tmp-*"} {
		names, _ := filepath.Glob(filepath.Join(c.Dir, pattern))
		for _, name := range names {
			if err := os.Remove(name); err != nil {
				errs = append(errs, err)
				continue
			}
			if strings.HasSuffix(name, ".o") {
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}
