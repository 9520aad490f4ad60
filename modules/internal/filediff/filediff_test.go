package filediff

import (
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	old := Text([]byte("a\nb\n"))
	for _, c := range []struct {
		name     string
		from, to Side
		hidden   bool
		want     string
	}{
		{"same", old, old, false, ""},
		{"same hidden", old, old, true, ""},
		{"text", old, Text([]byte("a\nc\n")), false, "--- /f (on host)\n+++ /f (desired)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"},
		{"new file", Side{}, Text([]byte("x\n")), false, "--- /dev/null\n+++ /f (desired)\n@@ -0,0 +1 @@\n+x\n"},
		{"hidden", old, Text([]byte("secret\n")), true, Hidden},
		{"binary", old, Text([]byte("\x00\x01")), false, "(binary or large content: sha256 " + old.SHA256 + " → " + Text([]byte("\x00\x01")).SHA256 + ")"},
		{"unknown host content", Side{Exists: true, SHA256: "abc"}, old, false, "(binary or large content: sha256 abc → " + old.SHA256 + ")"},
		{"new large", Side{}, Side{Exists: true, SHA256: "def"}, false, "(binary or large content: sha256 (none) → def)"},
		{"invalid utf-8", old, Text([]byte("\xff\xfe")), false, "(binary or large content"},
		{"too large", old, Text([]byte(strings.Repeat("a\n", MaxSize))), false, "(binary or large content"},
	} {
		got := Unified("/f", c.from, c.to, c.hidden)
		if !strings.HasPrefix(got, c.want) || (c.want == "" && got != "") {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
