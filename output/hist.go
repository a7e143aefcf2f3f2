package output

// Histograms printed byte for byte as bcc 0.26's table.py prints them
// (_print_log2_hist, _print_linear_hist, print_log2_hist with sections),
// because bcc's users read that layout every day and compare it by eye.
// Only the standard library is used here: no cgo, no tracer.

import (
	"fmt"
	"math/big"
	"strings"
)

// HistKind says how a histogram's slots map to value ranges.
type HistKind int

const (
	// Log2 slots hold power-of-two ranges: slot i counts values in
	// [2^(i-1), 2^i - 1] (slot 1 is 0 -> 1), as bpf_log2l fills them.
	Log2 HistKind = iota
	// Linear slots hold one value each: slot i counts the value i.
	Linear
)

// String names the kind as --hist takes it.
func (k HistKind) String() string {
	if k == Linear {
		return "linear"
	}
	return "log2"
}

// HistOptions are the knobs bcc's print_*_hist take besides the label.
type HistOptions struct {
	// StripLeadingZero omits the empty slots before the first non-empty
	// one (bcc's strip_leading_zero). Trailing empty slots are always
	// omitted, as bcc does.
	StripLeadingZero bool
}

// HistSection is one section of a histogram keyed by a struct with a slot
// member and other members: bcc prints it after a blank line as
// "Header = Value". Value is already formatted (bcc uses Python's repr, see
// PyBytesRepr for char arrays).
type HistSection struct {
	Header string
	Value  string
	Counts []uint64
}

// HistBucket is one non-trailing slot of a histogram, for JSON output.
// Log2 buckets are [Low, High]; linear ones have Low == High.
type HistBucket struct {
	Low   uint64 `json:"low"`
	High  uint64 `json:"high"`
	Count uint64 `json:"count"`
}

// Log2MaxSlots is how many slots a log2 histogram can have: slot 64 holds
// [2^63, 2^64-1], the last range a 64-bit value can fall in (bcc's
// log2_index_max).
const Log2MaxSlots = 65

// starsWidth is bcc's stars_max: the bar is 40 characters wide (20 when
// the ranges need the wide layout).
const starsWidth = 40

// FormatLog2Hist formats counts (indexed by slot) as bcc's
// print_log2_hist does, with valType labelling the range column ("usecs",
// "value", ...). Slot 0 is never printed, as in bcc. An all-empty
// histogram is the empty string. More than Log2MaxSlots slots is an error.
func FormatLog2Hist(counts []uint64, valType string, opt HistOptions) (string, error) {
	if err := checkLog2(counts); err != nil {
		return "", err
	}
	var b strings.Builder
	writeLog2(&b, counts, valType, opt.StripLeadingZero)
	return b.String(), nil
}

// FormatLinearHist formats counts (indexed by value) as bcc's
// print_linear_hist does. An all-empty histogram is the empty string.
func FormatLinearHist(counts []uint64, valType string, opt HistOptions) string {
	var b strings.Builder
	writeLinear(&b, counts, valType, opt.StripLeadingZero)
	return b.String()
}

// FormatHistSections formats a histogram with a secondary key as bcc's
// print_log2_hist/print_linear_hist do for a struct key: for each section
// in the given order, a blank line, "Header = Value", then the histogram.
// bcc prints sections in the map's iteration order; callers choose theirs.
func FormatHistSections(kind HistKind, sections []HistSection, valType string, opt HistOptions) (string, error) {
	var b strings.Builder
	for _, s := range sections {
		if kind == Log2 {
			if err := checkLog2(s.Counts); err != nil {
				return "", fmt.Errorf("section %s = %s: %w", s.Header, s.Value, err)
			}
		}
		fmt.Fprintf(&b, "\n%s = %s\n", s.Header, s.Value)
		if kind == Log2 {
			writeLog2(&b, s.Counts, valType, opt.StripLeadingZero)
		} else {
			writeLinear(&b, s.Counts, valType, opt.StripLeadingZero)
		}
	}
	return b.String(), nil
}

// Log2Buckets lists the slots bcc's print_json_hist lists: slots 1 up to
// the last non-empty one, as ranges. Slot 0 is left out, as in bcc.
func Log2Buckets(counts []uint64) ([]HistBucket, error) {
	if err := checkLog2(counts); err != nil {
		return nil, err
	}
	last, _ := lastAndMax(counts)
	var out []HistBucket
	for i := 1; i <= last; i++ {
		low, high := log2Range(i)
		out = append(out, HistBucket{Low: low, High: high, Count: counts[i]})
	}
	return out, nil
}

// LinearBuckets lists slots 0 up to the last non-empty one.
func LinearBuckets(counts []uint64) []HistBucket {
	last, _ := lastAndMax(counts)
	var out []HistBucket
	for i := 0; i <= last; i++ {
		out = append(out, HistBucket{Low: uint64(i), High: uint64(i), Count: counts[i]})
	}
	return out
}

func checkLog2(counts []uint64) error {
	for i := Log2MaxSlots; i < len(counts); i++ {
		if counts[i] != 0 {
			return fmt.Errorf("log2 histogram slot %d is beyond the last possible slot %d", i, Log2MaxSlots-1)
		}
	}
	return nil
}

// lastAndMax returns the index of the last non-empty slot (-1 if none) and
// the largest count.
func lastAndMax(counts []uint64) (last int, max uint64) {
	last = -1
	for i, v := range counts {
		if v > 0 {
			last = i
		}
		if v > max {
			max = v
		}
	}
	return last, max
}

// log2Range is the range of values slot i (i >= 1) counts.
func log2Range(i int) (low, high uint64) {
	high = 1<<uint(i) - 1 // wraps to 2^64-1 for i == 64, as wanted
	low = uint64(1) << uint(i-1)
	if low == high {
		low--
	}
	return low, high
}

func writeLog2(b *strings.Builder, counts []uint64, valType string, strip bool) {
	last, max := lastAndMax(counts)
	// bcc switches to wide columns, and a half-width bar, once a range's
	// bounds no longer fit in ten digits.
	header, rangeWidth, bar := "     %-19s : count     distribution\n", 10, starsWidth
	if last > 32 {
		header, rangeWidth, bar = "               %-29s : count     distribution\n", 20, starsWidth/2
	}
	if last > 0 {
		fmt.Fprintf(b, header, valType)
	}
	for i := 1; i <= last; i++ {
		v := counts[i]
		if strip {
			if v == 0 {
				continue
			}
			strip = false
		}
		low, high := log2Range(i)
		fmt.Fprintf(b, "%*d -> %-*d : %-8d |%-*s|\n", rangeWidth, low, rangeWidth, high, v, bar, stars(v, max, bar))
	}
}

func writeLinear(b *strings.Builder, counts []uint64, valType string, strip bool) {
	last, max := lastAndMax(counts)
	if last >= 0 {
		fmt.Fprintf(b, "     %-13s : count     distribution\n", valType)
	}
	for i := 0; i <= last; i++ {
		v := counts[i]
		if strip {
			if v == 0 {
				continue
			}
			strip = false
		}
		fmt.Fprintf(b, "        %-10d : %-8d |%-*s|\n", i, v, starsWidth, stars(v, max, starsWidth))
	}
}

// stars draws bcc's bar: one star for each i in [0, width) with
// i <= width*val/max - 1, where the quotient is Python 3's true division
// (correctly rounded to a float64), so bars match bcc's to the star even
// for counts beyond 2^53.
func stars(val, max uint64, width int) string {
	q := ratio(uint64(width), val, max)
	n := 0
	for i := 0; !(float64(i) > q-1) && i <= width-1; i++ {
		n++
	}
	s := strings.Repeat("*", n)
	if val > max {
		s = strings.TrimSuffix(s, "*") + "+"
	}
	return s
}

// ratio is w*val/max rounded to the nearest float64.
func ratio(w, val, max uint64) float64 {
	const exact = 1 << 53
	if val < exact/64 && max < exact {
		return float64(w*val) / float64(max) // both operands exact: one rounding
	}
	num := new(big.Int).Mul(new(big.Int).SetUint64(w), new(big.Int).SetUint64(val))
	f, _ := new(big.Rat).SetFrac(num, new(big.Int).SetUint64(max)).Float64()
	return f
}

// PyBytesRepr is Python 3's repr() of a bytes object, which bcc prints as
// a section's value when the section member is a char array (Python's
// ctypes gives such a member as bytes cut at the first NUL):
// PyBytesRepr([]byte("sda")) is b'sda'.
func PyBytesRepr(p []byte) string {
	quote := byte('\'')
	if strings.IndexByte(string(p), '\'') >= 0 && strings.IndexByte(string(p), '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteString("b")
	b.WriteByte(quote)
	for _, c := range p {
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
