package textedit

import (
	"bytes"
	"testing"
)

func TestLines(t *testing.T) {
	for in, n := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "\n\n": 2, "a\r\nb\r\n": 2} {
		ls := Lines([]byte(in))
		if len(ls) != n || string(Join(ls)) != in {
			t.Errorf("%q: %q", in, ls)
		}
	}
}

func TestInsertDoesNotModify(t *testing.T) {
	orig := []byte("a\nb")
	ls := Lines(orig)
	out := Insert(ls, 2, []byte("c\n"))
	if string(Join(out)) != "a\nb\nc\n" || string(orig) != "a\nb" || string(Join(ls)) != "a\nb" {
		t.Errorf("%q, input now %q", Join(out), Join(ls))
	}
	if got := Join(Insert(Lines([]byte("b\n")), 0, []byte("a\n"))); !bytes.Equal(got, []byte("a\nb\n")) {
		t.Errorf("%q", got)
	}
}

func TestLineList(t *testing.T) {
	for want, nums := range map[string][]int{
		"line 3": {3}, "lines 3 and 7": {3, 7}, "lines 1, 2 and 9": {1, 2, 9}, "6 lines": {1, 2, 3, 4, 5, 6},
	} {
		if got := LineList(nums); got != want {
			t.Errorf("%v: %q, want %q", nums, got, want)
		}
	}
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls := Lines(b)
		if !bytes.Equal(Join(ls), b) {
			t.Fatalf("%q does not join back", b)
		}
		for i, l := range ls {
			if len(l) == 0 || bytes.IndexByte(l, '\n') >= 0 && bytes.IndexByte(l, '\n') != len(l)-1 || i < len(ls)-1 && l[len(l)-1] != '\n' {
				t.Fatalf("bad line %d %q of %q", i, l, b)
			}
		}
	})
}

func TestSplitJoinLines(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a\n", "a\n": "a\n", "a\n\nb": "a\n\nb\n", "\n": "\n", "a\r\n": "a\r\n"} {
		ls := SplitLines(in)
		if got := JoinLines(ls); got != want {
			t.Errorf("%q: split %q, joined %q, want %q", in, ls, got, want)
		}
	}
	if ls := SplitLines("a\n"); len(ls) != 1 {
		t.Errorf("a final newline makes no empty last line: %q", ls)
	}
}
