package bpfmap

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// errNoBatch says the kernel has no batch operations for this map: read
// it key by key instead.
var errNoBatch = errors.New("no batch operations")

// readBatches reads the whole map with BPF_MAP_LOOKUP_BATCH, or for a
// hash being cleared BPF_MAP_LOOKUP_AND_DELETE_BATCH; an array being
// cleared has each batch zeroed with BPF_MAP_UPDATE_BATCH as soon as it
// is read. It returns errNoBatch, having read nothing, when the kernel
// lacks these commands (before 5.6).
func (m *Map) readBatches(r *reader, clear bool) error {
	cmd, name := uintptr(unix.BPF_MAP_LOOKUP_BATCH), "lookup batch"
	if clear && !IsArray(m.spec.Type) {
		cmd, name = unix.BPF_MAP_LOOKUP_AND_DELETE_BATCH, "lookup and delete batch"
	}
	// The cursor is opaque: a bucket index (u32) for hashes, a key for
	// arrays. The kernel reads it before it writes the next one, so one
	// buffer serves as both.
	cursor := make([]byte, max(int(m.spec.KeySize), 4))
	var in []byte // nil: from the start
	var zero zeroer
	chunk := m.chunk
	for {
		keys, values := r.room(chunk)
		n, err := batch(cmd, m.fd, in, cursor, keys, values, chunk)
		switch {
		case err != nil && in == nil && n == 0 && m.batch == unknown && unsupported(err):
			m.batch = missing
			return errNoBatch
		case errors.Is(err, unix.ENOSPC) && n == 0 && chunk < int(m.spec.MaxEntries):
			// A hash bucket holds more entries than the batch: the kernel
			// returns none of it. Take bigger batches.
			chunk = min(2*chunk, int(m.spec.MaxEntries))
			continue
		case err != nil && !errors.Is(err, unix.ENOENT):
			return fmt.Errorf("%s: %w", name, err)
		}
		m.batch = supported
		r.commit(n)
		if clear && IsArray(m.spec.Type) {
			if zerr := zero.batch(m, keys[:n*r.keySize], values[:n*r.full], r); zerr != nil {
				return zerr
			}
		}
		if err != nil { // ENOENT: the end of the map
			return nil
		}
		in = cursor
	}
}

// zeroer sets entries of an array to zero: the keys of the non-zero ones
// and a zero value for each.
type zeroer struct {
	keys  []byte
	zeros []byte
}

// batch zeroes the non-zero ones of the entries just read.
func (z *zeroer) batch(m *Map, keys, values []byte, r *reader) error {
	z.keys = z.keys[:0]
	for i := range len(keys) / r.keySize {
		if !allZero(values[i*r.full : (i+1)*r.full]) {
			z.keys = append(z.keys, keys[i*r.keySize:(i+1)*r.keySize]...)
		}
	}
	n := len(z.keys) / r.keySize
	if n == 0 {
		return nil
	}
	if len(z.zeros) < n*r.full {
		z.zeros = make([]byte, n*r.full)
	}
	done, err := batch(unix.BPF_MAP_UPDATE_BATCH, m.fd, nil, nil, z.keys, z.zeros, n)
	if err != nil {
		return fmt.Errorf("zero with update batch (%d of %d done): %w", done, n, err)
	}
	return nil
}
