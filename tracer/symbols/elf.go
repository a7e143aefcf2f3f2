package symbols

import (
	"debug/elf"
	"fmt"
	"io"
	"slices"
	"sort"
)

// maxSymbolSection bounds the symbol and string tables read from one
// file: the files are the traced process's, and debug/elf reads a section
// whole.
const maxSymbolSection = 256 << 20

// esym is one function symbol of an ELF file.
type esym struct {
	addr, size uint64
	name       string
}

// load is one PT_LOAD segment: file offsets Off..Off+Filesz are mapped
// at virtual addresses Vaddr..
type load struct {
	off, vaddr, filesz uint64
}

// File is the function symbols of one ELF file and its loadable
// segments, to turn a file offset into a symbol.
type File struct {
	syms  []esym
	loads []load
}

// ReadELF reads the function symbols of an ELF file: .symtab, and
// .dynsym for the addresses .symtab lacks (a stripped binary has only
// .dynsym). A file that is not ELF, or is malformed, is an error, never a
// panic: the file is the traced process's.
func ReadELF(r io.ReaderAt) (f *File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("malformed ELF: %v", p)
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	f = &File{}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			f.loads = append(f.loads, load{off: p.Off, vaddr: p.Vaddr, filesz: p.Filesz})
		}
	}
	seen := map[uint64]bool{}
	for _, sec := range []struct {
		typ  elf.SectionType
		read func() ([]elf.Symbol, error)
	}{{elf.SHT_SYMTAB, ef.Symbols}, {elf.SHT_DYNSYM, ef.DynamicSymbols}} {
		s := ef.SectionByType(sec.typ)
		if s == nil {
			continue
		}
		if s.Size > maxSymbolSection || (s.Link < uint32(len(ef.Sections)) && ef.Sections[s.Link].Size > maxSymbolSection) {
			return nil, fmt.Errorf("symbol table of %d bytes: larger than %d", s.Size, maxSymbolSection)
		}
		syms, err := sec.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || s.Value == 0 || s.Section == elf.SHN_UNDEF || seen[s.Value] {
				continue
			}
			seen[s.Value] = true
			f.syms = append(f.syms, esym{addr: s.Value, size: s.Size, name: s.Name})
		}
	}
	slices.SortFunc(f.syms, func(a, b esym) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	return f, nil
}

// Len is how many function symbols the file has.
func (f *File) Len() int { return len(f.syms) }

// Vaddr turns an offset in the file into the virtual address the ELF
// file gives it (through the PT_LOAD segment that holds it).
func (f *File) Vaddr(off uint64) (uint64, bool) {
	for _, l := range f.loads {
		if off >= l.off && off-l.off < l.filesz {
			return off - l.off + l.vaddr, true
		}
	}
	return 0, false
}

// Lookup names the function that holds the virtual address vaddr: the
// symbol at or below it whose size covers it (a symbol of size 0 covers
// only its own address).
func (f *File) Lookup(vaddr uint64) (name string, offset uint64, ok bool) {
	i := sort.Search(len(f.syms), func(i int) bool { return f.syms[i].addr > vaddr }) - 1
	if i < 0 {
		return "", 0, false
	}
	s := f.syms[i]
	if off := vaddr - s.addr; off < max(s.size, 1) {
		return s.name, off, true
	}
	return "", 0, false
}
