package bpfmap

import "slices"

// reader gathers what one Dump reads: keys and values as the kernel
// writes them, appended to two growing buffers that the kernel fills in
// place, and sliced into Entries at the end without copying.
type reader struct {
	keySize   int
	valueSize int // one value, as in the Spec
	stride    int // one value as the kernel lays it out
	ncpu      int
	full      int // one entry's values as the kernel lays them out
	keys      []byte
	values    []byte
}

func (m *Map) newReader() *reader {
	return &reader{
		keySize:   int(m.spec.KeySize),
		valueSize: int(m.spec.ValueSize),
		stride:    m.stride,
		ncpu:      m.ncpu,
		full:      m.stride * m.ncpu,
	}
}

// room makes space for n more entries and returns it, for the kernel to
// write into; commit keeps the first n of them.
func (r *reader) room(n int) (keys, values []byte) {
	r.keys = slices.Grow(r.keys, n*r.keySize)
	r.values = slices.Grow(r.values, n*r.full)
	return r.keys[len(r.keys) : len(r.keys)+n*r.keySize],
		r.values[len(r.values) : len(r.values)+n*r.full]
}

func (r *reader) commit(n int) {
	r.keys = r.keys[:len(r.keys)+n*r.keySize]
	r.values = r.values[:len(r.values)+n*r.full]
}

func (r *reader) len() int { return len(r.keys) / r.keySize }

func (r *reader) reset() {
	r.keys = r.keys[:0]
	r.values = r.values[:0]
}

// entries slices the buffers into Entries: each key and value is a
// sub-slice capped at its own end, so appending to one cannot overwrite
// the next.
func (r *reader) entries() []Entry {
	n := r.len()
	if n == 0 {
		return nil
	}
	out := make([]Entry, n)
	values := make([][]byte, n*r.ncpu)
	for i := range out {
		k := i * r.keySize
		out[i].Key = r.keys[k : k+r.keySize : k+r.keySize]
		v := values[i*r.ncpu : (i+1)*r.ncpu : (i+1)*r.ncpu]
		for cpu := range v {
			off := i*r.full + cpu*r.stride
			v[cpu] = r.values[off : off+r.valueSize : off+r.valueSize]
		}
		out[i].Values = v
	}
	return out
}

// isZero reports whether the i-th entry's values are all zero bytes.
func (r *reader) isZero(i int) bool {
	for _, b := range r.values[i*r.full : (i+1)*r.full] {
		if b != 0 {
			return false
		}
	}
	return true
}
