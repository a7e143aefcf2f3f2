package usym

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/evtrace/evtrace/tracer/trust"
)

// LDCache is the dynamic linker's cache, which ldconfig writes.
const LDCache = "/etc/ld.so.cache"

// libDirs are searched, in order, when the cache does not name a library.
var libDirs = []string{
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
}

// FindLibrary finds library name ("c", "pthread", "readline") as bcc's
// bcc_procutils_which_so does without a PID: the first entry of
// /etc/ld.so.cache named libNAME.so... for this machine's architecture,
// else a libNAME.so* file in the usual directories.
func FindLibrary(name string) (string, error) {
	if b, err := trust.ReadFile(LDCache, 64<<20); err == nil {
		entries, err := ParseLDCache(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", LDCache, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name, "lib"+name+".so") && nativeELF(e.Path) {
				return e.Path, nil
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	for _, dir := range libDirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "lib"+name+".so*"))
		sort.Strings(matches)
		for _, m := range matches {
			if nativeELF(m) {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("library %s: %w: no lib%s.so in %s or %s", name, ErrNoBinary, name, LDCache, strings.Join(libDirs, ", "))
}

// nativeELF says whether path is an ELF object of the running machine's
// architecture (the cache lists 32-bit libraries too).
func nativeELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	switch runtime.GOARCH {
	case "amd64":
		return f.Machine == elf.EM_X86_64
	case "arm64":
		return f.Machine == elf.EM_AARCH64
	case "386":
		return f.Machine == elf.EM_386
	}
	return true
}

// LDCacheEntry is one library of the dynamic linker's cache.
type LDCacheEntry struct {
	Name  string // the soname, e.g. libc.so.6
	Path  string
	Flags int32 // ld.so's FLAG_* (type and architecture)
}

const (
	oldMagic = "ld.so-1.7.0"
	newMagic = "glibc-ld.so.cache1.1"
)

// ParseLDCache reads the dynamic linker's cache: the format of glibc >=
// 2.32 ("glibc-ld.so.cache1.1"), alone or after the old one ("ld.so-1.7.0",
// which older glibc wrote first), whose entries it then reads.
func ParseLDCache(b []byte) ([]LDCacheEntry, error) {
	le := binary.LittleEndian
	if bytes.HasPrefix(b, []byte(oldMagic)) {
		// Old header: magic (12 bytes with its NUL), nlibs; entries of
		// three int32 (flags, key, value).
		if len(b) < 16 {
			return nil, errors.New("truncated")
		}
		n := int(le.Uint32(b[12:]))
		start := 16 + 12*n
		// The new format follows, 8-byte aligned.
		start = (start + 7) &^ 7
		if n < 0 || start > len(b) {
			return nil, errors.New("truncated")
		}
		if !bytes.HasPrefix(b[start:], []byte(newMagic)) {
			return parseOld(b, n)
		}
		b = b[start:]
	}
	if !bytes.HasPrefix(b, []byte(newMagic)) {
		return nil, errors.New("not a dynamic linker cache (no glibc-ld.so.cache1.1 or ld.so-1.7.0 magic)")
	}
	// Header: magic (20), nlibs, len_strings, flags (1) + 3 unused,
	// extension offset, 3 unused: 48 bytes. Entries of 24 bytes: flags,
	// key, value, osversion (int32), hwcap (uint64). key and value are
	// offsets from the start of this header.
	const hdr, entry = 48, 24
	if len(b) < hdr {
		return nil, errors.New("truncated")
	}
	if b[28] == 3 { // glibc's cache_file_new_flags_endian_big
		return nil, errors.New("a big-endian cache: not read")
	}
	n := int(le.Uint32(b[20:]))
	if n < 0 || hdr+entry*n > len(b) {
		return nil, errors.New("truncated")
	}
	str := func(off uint32) (string, bool) {
		if int(off) >= len(b) {
			return "", false
		}
		s := b[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			return string(s[:i]), true
		}
		return "", false
	}
	entries := make([]LDCacheEntry, 0, n)
	for i := 0; i < n; i++ {
		e := b[hdr+entry*i:]
		name, ok1 := str(le.Uint32(e[4:]))
		path, ok2 := str(le.Uint32(e[8:]))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %d: string out of bounds", i)
		}
		entries = append(entries, LDCacheEntry{Name: name, Path: path, Flags: int32(le.Uint32(e))})
	}
	return entries, nil
}

// parseOld reads the entries of an old-format cache, whose strings
// follow its entries.
func parseOld(b []byte, n int) ([]LDCacheEntry, error) {
	le := binary.LittleEndian
	strs := 16 + 12*n
	str := func(off uint32) (string, bool) {
		at := strs + int(off)
		if at >= len(b) || at < strs {
			return "", false
		}
		if i := bytes.IndexByte(b[at:], 0); i >= 0 {
			return string(b[at : at+i]), true
		}
		return "", false
	}
	var entries []LDCacheEntry
	for i := 0; i < n; i++ {
		e := b[16+12*i:]
		name, ok1 := str(le.Uint32(e[4:]))
		path, ok2 := str(le.Uint32(e[8:]))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %d: string out of bounds", i)
		}
		entries = append(entries, LDCacheEntry{Name: name, Path: path, Flags: int32(le.Uint32(e))})
	}
	return entries, nil
}
