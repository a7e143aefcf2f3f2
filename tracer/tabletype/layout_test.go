package tabletype

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// layouts is testdata/layouts.json, written by gen_layouts.py: libbcc's
// descriptions and sizes, and clang's own layout of the same C types.
type layouts struct {
	Arch  string `json:"arch"`
	Cases []struct {
		Name string     `json:"name"`
		Key  layoutCase `json:"key"`
		Leaf layoutCase `json:"leaf"`
	} `json:"cases"`
}

type layoutCase struct {
	CType      string `json:"ctype"`
	Desc       string `json:"desc"`
	LibbccSize int    `json:"libbcc_size"`
	Clang      struct {
		Size    int            `json:"size"`
		Members map[string]int `json:"members"` // bit offsets
	} `json:"clang"`
}

// refused are the types whose description loses what a layout needs, and
// the member the error must name.
var refused = map[string]string{
	"arr2 key": "a", // char a[4][3]: libbcc records char a[4]
}

func TestLayoutMatchesClang(t *testing.T) {
	raw, err := os.ReadFile("testdata/layouts.json")
	if err != nil {
		t.Fatal(err)
	}
	var l layouts
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("layouts.json: %v", err)
	}
	arch := map[string]Arch{"x86_64": AMD64, "aarch64": ARM64}[l.Arch]
	if arch == "" {
		t.Fatalf("layouts.json made on %q", l.Arch)
	}
	n := 0
	for _, c := range l.Cases {
		for _, role := range []struct {
			name string
			lc   layoutCase
		}{{"key", c.Key}, {"leaf", c.Leaf}} {
			name := c.Name + " " + role.name
			lc := role.lc
			t.Run(name, func(t *testing.T) {
				n++
				if lc.LibbccSize != lc.Clang.Size {
					t.Fatalf("libbcc size %d, clang sizeof(%s) %d", lc.LibbccSize, lc.CType, lc.Clang.Size)
				}
				typ, err := ParseArch(lc.Desc, arch)
				if err == nil {
					err = typ.CheckSize(lc.LibbccSize)
				}
				if want, ok := refused[name]; ok {
					var e *Error
					if !errors.As(err, &e) || e.Member != want {
						t.Fatalf("%s: error %v, want one naming member %q", lc.Desc, err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s (%s): %v", lc.CType, lc.Desc, err)
				}
				if typ.Size != lc.Clang.Size {
					t.Errorf("size %d, clang %d", typ.Size, lc.Clang.Size)
				}
				got := map[string]int{}
				walkMembers(typ, "", func(p string, m Member) {
					if !m.Padding && !m.Anonymous {
						got[p] = m.BitOffset
					}
				})
				for p, bit := range lc.Clang.Members {
					g, ok := got[p]
					if !ok {
						t.Errorf("member %s: missing (have %v)", p, got)
					} else if g != bit {
						t.Errorf("member %s at bit %d, clang %d", p, g, bit)
					}
				}
				for p := range got {
					if _, ok := lc.Clang.Members[p]; !ok && !strings.Contains(lc.Desc, `"`+lastName(p)+`"`) {
						t.Errorf("member %s not in the description", p)
					}
				}
				if _, err := typ.Decode(make([]byte, typ.Size)); err != nil {
					t.Errorf("decode zeros: %v", err)
				}
			})
		}
	}
	if n < 40 {
		t.Errorf("only %d layout cases", n)
	}
}

func lastName(p string) string { return p[strings.LastIndex(p, ".")+1:] }
