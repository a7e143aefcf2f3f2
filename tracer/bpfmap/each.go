package bpfmap

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// readEach reads the map one key at a time, for kernels without batch
// operations (before 5.6): an array by index, a hash by walking its keys
// with BPF_MAP_GET_NEXT_KEY first and then looking each up.
func (m *Map) readEach(r *reader, clear bool) error {
	if IsArray(m.spec.Type) {
		return m.readArray(r, clear)
	}
	keys, err := m.walkKeys()
	if err != nil {
		return err
	}
	ks := r.keySize
	for off := 0; off < len(keys); off += ks {
		key, value := r.room(1)
		copy(key, keys[off:off+ks])
		err := m.lookupHash(key, value, clear)
		if errors.Is(err, unix.ENOENT) {
			continue // deleted since the walk
		}
		if err != nil {
			return err
		}
		r.commit(1)
	}
	return nil
}

// lookupHash reads one hash entry, and deletes it too when clearing: in
// one step where the kernel can (5.14), else a lookup then a delete.
func (m *Map) lookupHash(key, value []byte, clear bool) error {
	if !clear {
		if err := lookupElem(m.fd, key, value); err != nil {
			return wrapKeyErr("lookup", key, err)
		}
		return nil
	}
	if m.lookupDelete != missing {
		err := lookupAndDeleteElem(m.fd, key, value)
		if err == nil || !unsupported(err) || m.lookupDelete == supported {
			if err == nil {
				m.lookupDelete = supported
			}
			return wrapKeyErr("lookup and delete", key, err)
		}
		m.lookupDelete = missing
	}
	if err := lookupElem(m.fd, key, value); err != nil {
		return wrapKeyErr("lookup", key, err)
	}
	if err := deleteElem(m.fd, key); err != nil && !errors.Is(err, unix.ENOENT) {
		return wrapKeyErr("delete", key, err)
	}
	return nil
}

// wrapKeyErr names the operation and key of a failed lookup; ENOENT is
// returned as is, for the caller to skip a key deleted meanwhile.
func wrapKeyErr(op string, key []byte, err error) error {
	if err == nil || errors.Is(err, unix.ENOENT) {
		return err
	}
	return fmt.Errorf("%s key %x: %w", op, key, err)
}

// readArray reads every index of an array, zeroing the non-zero entries
// when clearing.
func (m *Map) readArray(r *reader, clear bool) error {
	var zeros []byte
	if clear {
		zeros = make([]byte, r.full)
	}
	for i := uint32(0); i < m.spec.MaxEntries; i++ {
		keys, values := r.room(1)
		binary.NativeEndian.PutUint32(keys, i)
		if err := lookupElem(m.fd, keys, values); err != nil {
			return fmt.Errorf("lookup index %d: %w", i, err)
		}
		r.commit(1)
		if clear && !allZero(values) {
			if err := updateElem(m.fd, keys, zeros, unix.BPF_ANY); err != nil {
				return fmt.Errorf("zero index %d: %w", i, err)
			}
		}
	}
	return nil
}

// walkKeys lists a hash's keys with BPF_MAP_GET_NEXT_KEY. When a key is
// deleted under the walk the kernel starts again from the first key; keys
// already listed are skipped, and the walk gives up after twice
// MaxEntries steps, so a map that changes faster than it can be walked
// yields the keys seen so far (bcc's keys() would go on).
func (m *Map) walkKeys() ([]byte, error) {
	ks := int(m.spec.KeySize)
	var keys []byte
	seen := make(map[string]struct{})
	next := make([]byte, ks)
	var prev []byte // nil: the first key
	err := nextKey(m.fd, nil, next)
	if errors.Is(err, unix.EFAULT) {
		// Before Linux 4.12 the first key is the one after a key that is
		// not in the map.
		if prev, err = m.absentKey(); err != nil {
			return nil, err
		}
		err = nextKey(m.fd, prev, next)
	}
	for steps := 0; steps < 2*int(m.spec.MaxEntries); steps++ {
		if errors.Is(err, unix.ENOENT) {
			return keys, nil // the last key
		}
		if err != nil {
			return keys, fmt.Errorf("next key: %w", err)
		}
		if _, dup := seen[string(next)]; !dup {
			seen[string(next)] = struct{}{}
			keys = append(keys, next...)
		}
		prev = append(prev[:0], next...)
		err = nextKey(m.fd, prev, next)
	}
	return keys, nil
}

// absentKey finds a key that is not in the map, trying the patterns that
// bcc and libbpf try: all zeros, all 0x55 and all 0xff bytes.
func (m *Map) absentKey() ([]byte, error) {
	key := make([]byte, m.spec.KeySize)
	value := make([]byte, m.stride*m.ncpu)
	for _, fill := range []byte{0, 0x55, 0xff} {
		for i := range key {
			key[i] = fill
		}
		err := lookupElem(m.fd, key, value)
		if errors.Is(err, unix.ENOENT) {
			return key, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find a key not in the map: %w", err)
		}
	}
	return nil, errors.New("find a key not in the map: all tried are in it")
}
