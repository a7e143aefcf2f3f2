package bpfmap

// reader gathers what one Dump reads: keys and values as the kernel
// writes them, into blocks of buffers that the kernel fills in place and
// that are sliced into Entries at the end without copying.
type reader struct {
	keySize   int
	valueSize int // one value, as in the Spec
	stride    int // one value as the kernel lays it out
	ncpu      int
	full      int // one entry's values as the kernel lays them out
	blockLen  int // entries per block, at least
	blocks    []block
	n         int // entries committed, in all blocks
}

// block holds entries as the kernel wrote them: keys in keys[:n*keySize],
// values in values[:n*full].
type block struct {
	keys   []byte
	values []byte
	n      int
	cap    int
}

func (m *Map) newReader() *reader {
	return &reader{
		keySize:   int(m.spec.KeySize),
		valueSize: int(m.spec.ValueSize),
		stride:    m.stride,
		ncpu:      m.ncpu,
		full:      m.stride * m.ncpu,
		blockLen:  m.chunk,
	}
}

// room returns space for n more entries, contiguous, for the kernel to
// write into; commit(k) then keeps the first k of them.
func (r *reader) room(n int) (keys, values []byte) {
	if len(r.blocks) == 0 || r.last().cap-r.last().n < n {
		c := max(n, r.blockLen)
		r.blocks = append(r.blocks, block{
			keys:   make([]byte, c*r.keySize),
			values: make([]byte, c*r.full),
			cap:    c,
		})
	}
	b := r.last()
	return b.keys[b.n*r.keySize : (b.n+n)*r.keySize], b.values[b.n*r.full : (b.n+n)*r.full]
}

func (r *reader) commit(n int) {
	r.last().n += n
	r.n += n
}

func (r *reader) last() *block { return &r.blocks[len(r.blocks)-1] }

func (r *reader) reset() {
	r.blocks = r.blocks[:0]
	r.n = 0
}

// entries slices the blocks into Entries: each key and value is a
// sub-slice capped at its own end, so appending to one cannot overwrite
// the next.
func (r *reader) entries() []Entry {
	if r.n == 0 {
		return nil
	}
	out := make([]Entry, 0, r.n)
	values := make([][]byte, r.n*r.ncpu)
	for _, b := range r.blocks {
		for i := range b.n {
			k := i * r.keySize
			v := values[:r.ncpu:r.ncpu]
			values = values[r.ncpu:]
			for cpu := range v {
				off := i*r.full + cpu*r.stride
				v[cpu] = b.values[off : off+r.valueSize : off+r.valueSize]
			}
			out = append(out, Entry{Key: b.keys[k : k+r.keySize : k+r.keySize], Values: v})
		}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
