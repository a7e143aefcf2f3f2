package tabletype

import "fmt"

// Leaf is one column of a type as a table prints it: a scalar, a char
// array (a string) or another array, reached through nested structs.
type Leaf struct {
	// Name is the dotted member path ("in.q"); "" for a scalar type.
	Name string
	// Path indexes Value.Fields at each level, for Value.At.
	Path []int
	Type *Type
}

// Leaves lists t's columns in declaration order, padding left out and
// anonymous members' members inlined, as Decode fills Value.Fields.
func (t *Type) Leaves() []Leaf {
	var out []Leaf
	leaves(t, "", nil, &out)
	return out
}

func leaves(t *Type, name string, path []int, out *[]Leaf) {
	if t.Kind != Struct && t.Kind != Union {
		*out = append(*out, Leaf{Name: name, Path: path, Type: t})
		return
	}
	for i, m := range visible(t) {
		p := append(append([]int(nil), path...), i)
		leaves(m.Type, join(name, m.Name), p, out)
	}
}

// At returns the member of v that path (from a Leaf) leads to.
func (v Value) At(path []int) (Value, bool) {
	for _, i := range path {
		if i < 0 || i >= len(v.Fields) {
			return Value{}, false
		}
		v = v.Fields[i].Value
	}
	return v, true
}

// FirstNumeric is the first integer or floating-point column, by which a
// table of struct values is sorted; false when t has none.
func (t *Type) FirstNumeric() (Leaf, bool) {
	for _, l := range t.Leaves() {
		if k := l.Type.Kind; k == Int || k == Uint || k == Float {
			return l, true
		}
	}
	return Leaf{}, false
}

// HistKey says how a histogram map's key gives the slot and the section.
type HistKey struct {
	// Slot is the integer holding the slot (the whole key, Path nil, for
	// an integer key).
	Slot Leaf
	// Sections are the key's other top-level members, one histogram per
	// distinct combination (bcc's section_header); empty for a key that
	// is only a slot.
	Sections []Leaf
}

// HistKey recognises a histogram key: an integer, or a struct with an
// integer member named slot (bcc's convention, e.g. {char disk[32];
// u64 slot;}).
func (t *Type) HistKey() (HistKey, bool) {
	if t.Kind == Int || t.Kind == Uint {
		return HistKey{Slot: Leaf{Type: t}}, true
	}
	if t.Kind != Struct {
		return HistKey{}, false
	}
	var h HistKey
	found := false
	for i, m := range visible(t) {
		l := Leaf{Name: m.Name, Path: []int{i}, Type: m.Type}
		if m.Name == "slot" && (m.Type.Kind == Int || m.Type.Kind == Uint) && m.Type.Size <= 8 {
			h.Slot, found = l, true
			continue
		}
		h.Sections = append(h.Sections, l)
	}
	return h, found
}

// Split reads a decoded key's slot and section values (in Sections'
// order). A negative slot is an error.
func (h HistKey) Split(key Value) (slot uint64, section []Value, err error) {
	s, ok := key.At(h.Slot.Path)
	if !ok {
		return 0, nil, fmt.Errorf("histogram key %s has no member %s", key, h.Slot.Name)
	}
	switch {
	case s.Type.Kind == Int && s.Int < 0:
		return 0, nil, fmt.Errorf("histogram key %s: negative slot %d", key, s.Int)
	case s.Type.Kind == Int:
		slot = uint64(s.Int)
	default:
		slot = s.Uint
	}
	for _, l := range h.Sections {
		v, ok := key.At(l.Path)
		if !ok {
			return 0, nil, fmt.Errorf("histogram key %s has no member %s", key, l.Name)
		}
		section = append(section, v)
	}
	return slot, section, nil
}
