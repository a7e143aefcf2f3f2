package stacks

import (
	"fmt"
	"strings"
)

// Member is a member of a record or map key that holds stack ids.
type Member struct {
	Index int // among the struct's members
	Name  string
	Kind  Kind
	Table Table
}

// Plan says which members of one struct are stack ids, and which member
// names the process of its user stacks.
type Plan struct {
	Members []Member
	// PID is the index of the member named tgid, else pid (bcc's tools
	// put the process id there); -1: none, user frames are unknown.
	PID int
}

// Column is one member of a struct, as Plan sees it.
type Column struct {
	Name string
	Int  bool // an integer scalar of 4 or 8 bytes: what can hold an id
}

// Plan picks the stack-id members among cols by c (the convention, and
// --stack). A member --stack names that is no integer is an error; one the
// convention names that is no integer is not a stack id. used records
// the --stack members found.
func (r *Resolver) Plan(c Config, cols []Column, used map[string]bool) (Plan, error) {
	p := Plan{PID: -1}
	pidIdx := -1
	for i, col := range cols {
		base := col.Name[strings.LastIndexByte(col.Name, '.')+1:]
		switch {
		case base == "tgid" && col.Int:
			p.PID = i
		case base == "pid" && col.Int:
			pidIdx = i
		}
		k := c.Kind(col.Name)
		_, named := c.Kinds[col.Name]
		if named {
			used[col.Name] = true
		}
		if k == None {
			continue
		}
		if !col.Int {
			if named {
				return p, fmt.Errorf("--stack %s: not an integer of 4 or 8 bytes, which is what holds a stack id", col.Name)
			}
			continue
		}
		if len(r.tables) == 0 && !named {
			continue // a name like a stack id's, in a program with no stack table
		}
		t, err := r.Table(col.Name, c.Tables[col.Name])
		if err != nil {
			return p, err
		}
		p.Members = append(p.Members, Member{Index: i, Name: col.Name, Kind: k, Table: t})
	}
	if p.PID < 0 {
		p.PID = pidIdx
	}
	return p, nil
}

// PIDOf reads the process id from a decoded integer.
func PIDOf(v any) int {
	switch x := v.(type) {
	case int64:
		if x > 0 && x <= 1<<22 {
			return int(x)
		}
	case uint64:
		if x > 0 && x <= 1<<22 {
			return int(x)
		}
	}
	return 0
}
