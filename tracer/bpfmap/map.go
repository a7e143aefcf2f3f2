package bpfmap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// support records what this Map learnt about the kernel: unknown until an
// operation first tries it.
type support int8

const (
	unknown support = iota
	supported
	missing
)

// batchBytes bounds the buffers of one batch call: a batch of entries
// whose keys and values fill about this many bytes.
const batchBytes = 1 << 20

// Map reads one data map through its own duplicate of the loader's file
// descriptor. A Map is not safe for concurrent use.
type Map struct {
	spec   Spec
	fd     int // -1 after Close
	ncpu   int // values per entry: the possible CPUs for per-CPU maps, else 1
	stride int // bytes of one value as the kernel lays it out (per-CPU: padded to 8)
	chunk  int // entries per batch call

	batch        support // the BPF_MAP_*_BATCH commands (Linux 5.6)
	lookupDelete support // BPF_MAP_LOOKUP_AND_DELETE_ELEM on hashes (Linux 5.14)
}

// Open returns a Map reading the map that fd refers to. It duplicates fd,
// so the loader (libbcc) keeps its own descriptor and closing either does
// not affect the other; Close releases the duplicate.
//
// Where the kernel can describe the map (BPF_OBJ_GET_INFO_BY_FD, Linux
// 4.13, or /proc/self/fdinfo, 4.10), Open checks spec against it and
// returns an error wrapping ErrSpecMismatch if they differ.
func Open(fd int, spec Spec) (*Map, error) {
	if !IsDataMap(spec.Type) {
		return nil, fmt.Errorf("map %s: type %d: %w", spec.Name, spec.Type, ErrNotDataMap)
	}
	if spec.KeySize == 0 || spec.ValueSize == 0 || spec.MaxEntries == 0 {
		return nil, fmt.Errorf("map %s: key size %d, value size %d, max entries %d: all must be > 0",
			spec.Name, spec.KeySize, spec.ValueSize, spec.MaxEntries)
	}
	if IsArray(spec.Type) && spec.KeySize != 4 {
		return nil, fmt.Errorf("map %s: an array's key is 4 bytes, not %d", spec.Name, spec.KeySize)
	}
	m := &Map{spec: spec, fd: -1, ncpu: 1, stride: int(spec.ValueSize)}
	if IsPerCPU(spec.Type) {
		cpus, err := PossibleCPUs()
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", spec.Name, err)
		}
		m.ncpu = len(cpus)
		m.stride = (m.stride + 7) &^ 7
	}
	m.chunk = max(1, min(int(spec.MaxEntries), batchBytes/(int(spec.KeySize)+m.ncpu*m.stride)))

	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("map %s: duplicate fd %d: %w", spec.Name, fd, err)
	}
	m.fd = dup
	if err := m.checkKernel(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Spec returns the Spec the Map was opened with.
func (m *Map) Spec() Spec { return m.spec }

// Close releases the Map's file descriptor. It is safe to call twice.
func (m *Map) Close() error {
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	if err != nil {
		return fmt.Errorf("map %s: close: %w", m.spec.Name, err)
	}
	return nil
}

// Dump returns every entry of the map: for an array every index, for a
// hash the keys present. It reads with the kernel's batch lookup where
// the kernel has it (Linux 5.6) and key by key otherwise. Entries are in
// the kernel's order (index order for arrays, bucket order for hashes).
//
// A map that the BPF program changes while it is read is not a snapshot:
// as with bcc's items(), each entry is as it was when read, and a hash
// key added or deleted meanwhile may be missing.
func (m *Map) Dump() ([]Entry, error) { return m.read(false) }

// DumpAndClear returns every entry as Dump does and clears the map as
// bcc's tools do after each print: a hash's entries are deleted (bcc's
// clear()), an array's entries are set to zero (bcc's ArrayBase clear).
//
// On hashes with Linux 5.6 it uses BPF_MAP_LOOKUP_AND_DELETE_BATCH, and
// key by key BPF_MAP_LOOKUP_AND_DELETE_ELEM from 5.14: each entry is read
// and deleted in one step, so an update after the read makes a new entry
// and is counted in the next dump. (An update through a pointer the
// program took before the delete can still land in the deleted entry;
// the kernel offers no closer exchange.) Older kernels read then delete
// each key, as bcc does: an update between the two is lost.
//
// Arrays cannot be read and zeroed in one step by any kernel: an update
// between reading an entry and zeroing it is lost. DumpAndClear keeps the
// window short by zeroing each batch just after reading it, and only the
// entries that it read as non-zero.
//
// On error, the entries read (and cleared) before it are returned too.
func (m *Map) DumpAndClear() ([]Entry, error) { return m.read(true) }

func (m *Map) read(clear bool) ([]Entry, error) {
	if m.fd < 0 {
		return nil, fmt.Errorf("map %s: %w", m.spec.Name, ErrClosed)
	}
	r := m.newReader()
	if m.batch != missing {
		err := m.readBatches(r, clear)
		if !errors.Is(err, errNoBatch) {
			if err != nil {
				return r.entries(), fmt.Errorf("map %s: %w", m.spec.Name, err)
			}
			return r.entries(), nil
		}
		r.reset()
	}
	if err := m.readEach(r, clear); err != nil {
		return r.entries(), fmt.Errorf("map %s: %w", m.spec.Name, err)
	}
	return r.entries(), nil
}

// checkKernel compares the Spec with what the kernel says of the map.
// A kernel older than 4.10 says nothing: the Spec is trusted.
func (m *Map) checkKernel() error {
	info, err := objInfo(m.fd)
	if err != nil {
		if !unsupported(err) {
			return fmt.Errorf("map %s: get info: %w", m.spec.Name, err)
		}
		var ok bool
		if info, ok = fdinfo(m.fd); !ok {
			return nil
		}
	}
	s := m.spec
	if info.Type != s.Type || info.KeySize != s.KeySize || info.ValueSize != s.ValueSize || info.MaxEntries != s.MaxEntries {
		return fmt.Errorf("map %s: spec has type %d, key %d, value %d, max entries %d; kernel has %d, %d, %d, %d: %w",
			s.Name, s.Type, s.KeySize, s.ValueSize, s.MaxEntries,
			info.Type, info.KeySize, info.ValueSize, info.MaxEntries, ErrSpecMismatch)
	}
	return nil
}

// fdinfo reads a map's type and sizes from /proc/self/fdinfo (Linux
// 4.10), for kernels without BPF_OBJ_GET_INFO_BY_FD.
func fdinfo(fd int) (kernelInfo, bool) {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return kernelInfo{}, false
	}
	defer f.Close()
	var info kernelInfo
	fields := map[string]*uint32{
		"map_type": &info.Type, "key_size": &info.KeySize,
		"value_size": &info.ValueSize, "max_entries": &info.MaxEntries,
	}
	found := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		field, known := fields[name]
		if !ok || !known {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32)
		if err != nil {
			return kernelInfo{}, false
		}
		*field = uint32(n)
		found++
	}
	return info, found == len(fields)
}
