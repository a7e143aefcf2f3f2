package output

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// histGolden is testdata/hist_golden.json, written by gen_hist_golden.py
// from bcc's own table.py.
type histGolden struct {
	BCC   string `json:"bcc"`
	Cases []struct {
		Name     string   `json:"name"`
		Kind     string   `json:"kind"`
		ValType  string   `json:"valType"`
		Strip    bool     `json:"strip"`
		Counts   []uint64 `json:"counts"`
		Sections []struct {
			Header string   `json:"header"`
			Bytes  *[]byte  `json:"bytes"` // base64 in the file
			Int    *uint64  `json:"int"`
			Counts []uint64 `json:"counts"`
		} `json:"sections"`
		Want string `json:"want"`
	} `json:"cases"`
}

func TestHistMatchesBCC(t *testing.T) {
	raw, err := os.ReadFile("testdata/hist_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g histGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("hist_golden.json: %v", err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("hist_golden.json has no cases")
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			kind := Log2
			if c.Kind == "linear" {
				kind = Linear
			}
			opt := HistOptions{StripLeadingZero: c.Strip}
			var got string
			var err error
			switch {
			case c.Sections != nil:
				var secs []HistSection
				for _, s := range c.Sections {
					v := ""
					if s.Bytes != nil {
						v = PyBytesRepr(*s.Bytes)
					} else if s.Int != nil {
						v = strconv.FormatUint(*s.Int, 10)
					}
					secs = append(secs, HistSection{Header: s.Header, Value: v, Counts: s.Counts})
				}
				got, err = FormatHistSections(kind, secs, c.ValType, opt)
			case kind == Log2:
				got, err = FormatLog2Hist(c.Counts, c.ValType, opt)
			default:
				got = FormatLinearHist(c.Counts, c.ValType, opt)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Want {
				t.Errorf("bcc %s prints:\n%s\nwe print:\n%s", g.BCC, c.Want, got)
			}
		})
	}
}

func TestHistLog2RejectsSlotBeyond64(t *testing.T) {
	counts := make([]uint64, 66)
	counts[65] = 1
	if _, err := FormatLog2Hist(counts, "value", HistOptions{}); err == nil {
		t.Error("slot 65 accepted")
	}
	if _, err := Log2Buckets(counts); err == nil {
		t.Error("Log2Buckets: slot 65 accepted")
	}
	// Trailing empty slots beyond 64 are harmless.
	counts[65] = 0
	counts[64] = 1
	if _, err := FormatLog2Hist(counts, "value", HistOptions{}); err != nil {
		t.Error(err)
	}
}

func TestHistBuckets(t *testing.T) {
	b, err := Log2Buckets([]uint64{9, 1, 0, 4})
	if err != nil {
		t.Fatal(err)
	}
	want := []HistBucket{{0, 1, 1}, {2, 3, 0}, {4, 7, 4}}
	if !equalBuckets(b, want) {
		t.Errorf("Log2Buckets = %v, want %v", b, want)
	}
	top := make([]uint64, Log2MaxSlots)
	top[64] = 2
	b, _ = Log2Buckets(top)
	if last := b[len(b)-1]; last != (HistBucket{1 << 63, 1<<64 - 1, 2}) {
		t.Errorf("slot 64 = %v", last)
	}
	if b, _ := Log2Buckets([]uint64{5}); len(b) != 0 {
		t.Errorf("slot 0 only: %v, want none (bcc leaves slot 0 out)", b)
	}
	lb := LinearBuckets([]uint64{0, 2, 0, 1, 0, 0})
	wantL := []HistBucket{{0, 0, 0}, {1, 1, 2}, {2, 2, 0}, {3, 3, 1}}
	if !equalBuckets(lb, wantL) {
		t.Errorf("LinearBuckets = %v, want %v", lb, wantL)
	}
	j, _ := json.Marshal(lb[1])
	if string(j) != `{"low":1,"high":1,"count":2}` {
		t.Errorf("bucket JSON = %s", j)
	}
}

func equalBuckets(a, b []HistBucket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHistPyBytesRepr(t *testing.T) {
	for in, want := range map[string]string{
		"sda":      `b'sda'`,
		"":         `b''`,
		"it's":     `b"it's"`,
		`'"`:       `b'\'"'`,
		"\x00\x80": `b'\x00\x80'`,
		"a\\b":     `b'a\\b'`,
	} {
		if got := PyBytesRepr([]byte(in)); got != want {
			t.Errorf("PyBytesRepr(%q) = %s, want %s", in, got, want)
		}
	}
	if strings.Contains(PyBytesRepr([]byte{0xff}), "ÿ") {
		t.Error("bytes >= 0x7f must be escaped")
	}
}
