package backend

import "testing"

func TestParseChoice(t *testing.T) {
	for in, want := range map[string]Choice{"": Auto, "auto": Auto, "bcc": BCC, "elf": ELF} {
		if got, err := ParseChoice(in); got != want || err != nil {
			t.Errorf("ParseChoice(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseChoice("llvm"); err == nil {
		t.Error("ParseChoice(llvm): no error")
	}
}
