// Package usym finds where a uprobe goes, as libbcc's bcc_resolve_symname
// does: the binary (an absolute path, or a library name looked up in the
// dynamic linker's cache, then the usual directories, or in a process's
// mappings), a function symbol in its ELF symbol tables (.symtab, then
// .dynsym), and the file offset the kernel wants for a virtual address
// (through the executable PT_LOAD segments). Pure Go (debug/elf).
package usym

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors the resolution returns, wrapped with the binary and the name.
var (
	// ErrNoBinary: the target is neither an existing file nor a library
	// that could be found.
	ErrNoBinary = errors.New("no such binary")
	// ErrNoSymbol: the binary has symbols, but not this function.
	ErrNoSymbol = errors.New("no such function symbol")
	// ErrStripped: the binary has no function symbols at all.
	ErrStripped = errors.New("no function symbols (stripped binary): name a raw address instead")
	// ErrNoPID: the process does not exist.
	ErrNoPID = errors.New("no such process")
)

// Location is a resolved uprobe: the binary and the file offset the
// kernel attaches at, and what it was found from.
type Location struct {
	Path   string // the binary, an absolute path
	Offset uint64 // file offset (what uprobe_events and the uprobe PMU take)
	Addr   uint64 // the virtual address in the ELF (symbol value + offset)
	Symbol string // the function, "" for a raw address
}

// CheckPID says whether process pid exists.
func CheckPID(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("PID %d: %w", pid, ErrNoPID)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("PID %d: %w", pid, ErrNoPID)
		}
		return fmt.Errorf("PID %d: %w", pid, err)
	}
	return nil
}

// FindTarget resolves a uprobe's target as bcc does: a name with a slash
// is a path (it must be absolute here); any other name is a library, such
// as "c" for libc.so.6 or "pthread": looked up in process pid's mappings
// when pid > 0, else in /etc/ld.so.cache, then in the usual library
// directories. With pid > 0 a path is seen from the process's root
// (/proc/PID/root/PATH), as bcc does for processes in containers. The
// result is an existing regular file.
func FindTarget(name string, pid int) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty uprobe target: %w", ErrNoBinary)
	}
	var path string
	switch {
	case strings.Contains(name, "/"):
		if !filepath.IsAbs(name) {
			return "", fmt.Errorf("uprobe target %s: want an absolute path, or a library name such as c or pthread", name)
		}
		path = name
	case pid > 0:
		p, err := libraryOfProcess(name, pid)
		if err != nil {
			return "", err
		}
		path = p
	default:
		p, err := FindLibrary(name)
		if err != nil {
			return "", err
		}
		path = p
	}
	if pid > 0 && !strings.HasPrefix(path, "/proc/") {
		path = fmt.Sprintf("/proc/%d/root%s", pid, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("uprobe target %s: %w", path, ErrNoBinary)
		}
		return "", fmt.Errorf("uprobe target %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("uprobe target %s: not a regular file", path)
	}
	return path, nil
}

// libraryOfProcess finds library name among the files process pid has
// mapped, as bcc's bcc_procutils_which_so does for a pid: a file whose
// name starts with libNAME.so or libNAME-.
func libraryOfProcess(name string, pid int) (string, error) {
	if err := CheckPID(pid); err != nil {
		return "", err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "", fmt.Errorf("library %s in PID %d: %w", name, pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		if base := filepath.Base(f[5]); strings.HasPrefix(base, "lib"+name+".so") || strings.HasPrefix(base, "lib"+name+"-") {
			return f[5], nil
		}
	}
	return "", fmt.Errorf("library %s: %w: PID %d maps no lib%s.so", name, ErrNoBinary, pid, name)
}

// Sym is a function symbol of a binary.
type Sym struct {
	Name string
	Addr uint64 // its value: a virtual address
	Size uint64
}

// File is an ELF binary opened to resolve uprobes in.
type File struct {
	path string
	f    *elf.File
}

// Open opens an ELF binary.
func Open(path string) (*File, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("uprobe target %s: not an ELF binary: %w", path, err)
	}
	return &File{path: path, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Machine is the binary's architecture.
func (f *File) Machine() elf.Machine { return f.f.Machine }

// isFunc says whether s is a defined function (or GNU indirect function,
// whose resolver runs at the call, as bcc probes it).
func isFunc(s elf.Symbol) bool {
	t := elf.ST_TYPE(s.Info)
	return (t == elf.STT_FUNC || t == 10 /* STT_GNU_IFUNC */) && s.Section != elf.SHN_UNDEF && s.Value != 0
}

// Symbol finds function name in .symtab, then in .dynsym (where, of
// several versions, the default one). ErrStripped when neither table has
// any function.
func (f *File) Symbol(name string) (Sym, error) {
	funcs := 0
	syms, err := f.f.Symbols()
	if err == nil {
		for _, s := range syms {
			if !isFunc(s) {
				continue
			}
			funcs++
			if s.Name == name {
				return Sym{Name: name, Addr: s.Value, Size: s.Size}, nil
			}
		}
	}
	dyn, err := f.f.DynamicSymbols()
	if err == nil {
		var found *elf.Symbol
		for i, s := range dyn {
			if !isFunc(s) {
				continue
			}
			funcs++
			if s.Name == name && (found == nil || (s.HasVersion && !s.VersionIndex.IsHidden())) {
				found = &dyn[i]
			}
		}
		if found != nil {
			return Sym{Name: name, Addr: found.Value, Size: found.Size}, nil
		}
	}
	if funcs == 0 {
		return Sym{}, fmt.Errorf("%s: %w", f.path, ErrStripped)
	}
	return Sym{}, fmt.Errorf("%s in %s: %w", name, f.path, ErrNoSymbol)
}

// FileOffset converts a virtual address of the binary into the file
// offset the kernel attaches at, through the executable PT_LOAD segment
// that holds it (bcc's bcc_resolve_symname does the same for executables
// and shared objects; other ELF types take the address as it is).
func (f *File) FileOffset(vaddr uint64) (uint64, error) {
	if f.f.Type != elf.ET_EXEC && f.f.Type != elf.ET_DYN {
		return vaddr, nil
	}
	for _, p := range f.f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Memsz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%s: address 0x%x is in no executable segment", f.path, vaddr)
}

// Resolve finds symbol (plus off bytes into it) in path, or, when
// symbol is empty, the virtual address off, and returns its file offset.
// An offset past the end of a symbol whose size is known is refused: it
// would be in another function.
func Resolve(path, symbol string, off uint64) (Location, error) {
	f, err := Open(path)
	if err != nil {
		return Location{}, err
	}
	defer f.Close()
	loc := Location{Path: path, Symbol: symbol, Addr: off}
	if symbol != "" {
		s, err := f.Symbol(symbol)
		if err != nil {
			return Location{}, err
		}
		if s.Size > 0 && off >= s.Size {
			return Location{}, fmt.Errorf("%s+0x%x in %s: past the end of the function (%d bytes)", symbol, off, path, s.Size)
		}
		loc.Addr = s.Addr + off
	}
	if loc.Offset, err = f.FileOffset(loc.Addr); err != nil {
		return Location{}, err
	}
	return loc, nil
}
