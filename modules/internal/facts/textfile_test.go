package facts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// textFileShells are the shells (and tools) the text-file probe is run
// under: the system sh with coreutils, bash, and busybox with its own
// applets for every tool the probe calls, as on Alpine.
func textFileShells(t *testing.T) map[string][]string {
	t.Helper()
	return shells(t, "", []string{"stat", "readlink", "base64", "printf", "echo", "["})
}

// TestTextFileReal runs the probe on real files of every kind under each
// shell and parses what it printed.
func TestTextFileReal(t *testing.T) {
	dir := t.TempDir()
	weird := filepath.Join(dir, "a b'c\"$(touch pwned)")
	mustWrite(t, weird, "x = 1\nno newline", 0o640)
	mustWrite(t, filepath.Join(dir, "empty"), "", 0o600)
	binary := []byte{0, 1, 2, 0xff, '\n', '\r', '\n'}
	if err := os.WriteFile(filepath.Join(dir, "binary"), binary, 0o644); err != nil {
		t.Fatal(err)
	}
	exact := bytes.Repeat([]byte("a"), TextFileMax)
	if err := os.WriteFile(filepath.Join(dir, "exact"), exact, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "large"), append(exact, 'b'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a b'c\"$(touch pwned)", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing-target"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, shell := range textFileShells(t) {
		for _, c := range []struct {
			path    string
			want    TextFile // Stat compared by type and size
			wantErr string
		}{
			{path: weird, want: TextFile{Path: weird, Content: []byte("x = 1\nno newline"), Stat: Stat{Type: Regular, Size: 16}}},
			{path: filepath.Join(dir, "empty"), want: TextFile{Path: filepath.Join(dir, "empty"), Content: []byte{}, Stat: Stat{Type: Regular}}},
			{path: filepath.Join(dir, "binary"), want: TextFile{Path: filepath.Join(dir, "binary"), Content: binary, Stat: Stat{Type: Regular, Size: 7}}},
			{path: filepath.Join(dir, "exact"), want: TextFile{Path: filepath.Join(dir, "exact"), Content: exact, Stat: Stat{Type: Regular, Size: TextFileMax}}},
			{path: filepath.Join(dir, "large"), want: TextFile{Path: filepath.Join(dir, "large"), TooLarge: true, Stat: Stat{Type: Regular, Size: TextFileMax + 1}}},
			{path: filepath.Join(dir, "link"), want: TextFile{Path: weird, Link: true, Content: []byte("x = 1\nno newline"), Stat: Stat{Type: Regular, Size: 16}}},
			{path: filepath.Join(dir, "d"), want: TextFile{Path: filepath.Join(dir, "d"), Stat: Stat{Type: Directory}}},
			{path: filepath.Join(dir, "fifo"), want: TextFile{Path: filepath.Join(dir, "fifo"), Stat: Stat{Type: Fifo}}},
			{path: filepath.Join(dir, "new"), want: TextFile{Path: filepath.Join(dir, "new")}},
			{path: filepath.Join(dir, "nodir", "new"), want: TextFile{Path: filepath.Join(dir, "nodir", "new"), NoParent: true}},
		} {
			r := runIn(t, shell, TextFileProbe(c.path))
			got, err := ParseTextFile(c.path, r)
			if err != nil {
				t.Errorf("%s: %s: %v (output %q)", name, c.path, err, short(r.Stdout))
				continue
			}
			if got.Path != c.want.Path || got.Link != c.want.Link || got.NoParent != c.want.NoParent ||
				got.TooLarge != c.want.TooLarge || !bytes.Equal(got.Content, c.want.Content) ||
				(got.Content == nil) != (c.want.Content == nil) ||
				got.Stat.Type != c.want.Stat.Type || got.Stat.Size != c.want.Stat.Size && c.want.Stat.Type == Regular {
				t.Errorf("%s: %s:\n got %+v\nwant %+v", name, c.path, short(string(got.Content)), c.want)
			}
		}
		// A dangling link: GNU readlink -f names the missing target, which
		// is then created through the link; busybox's cannot resolve it.
		r := runIn(t, shell, TextFileProbe(filepath.Join(dir, "dangling")))
		got, err := ParseTextFile(filepath.Join(dir, "dangling"), r)
		switch {
		case err != nil && !strings.Contains(err.Error(), "cannot be resolved"):
			t.Errorf("%s: dangling: %v", name, err)
		case err == nil && (got.Path != filepath.Join(dir, "missing-target") || !got.Link || got.Stat.Exists):
			t.Errorf("%s: dangling: %+v", name, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a file name was run as a command")
	}
}

func TestParseTextFile(t *testing.T) {
	for _, c := range []struct {
		out, err string
	}{
		{"", "printed nothing"},
		{"link\t\n", "cannot be resolved"},
		{"link\t/x\n", "printed nothing"},
		{"absent\nxx\n", "after absent"},
		{"regular file\t644\troot\troot\t3\t0\t0\n", "6 fields"},
		{"garbage\n", "want a stat line"},
		{"4\tregular file\t644\troot\troot\t3\t0\t0\naGkK\n", "size twice"},
		{"3\tregular file\t644\troot\troot\t3\t0\t0\n!!!\n", "not valid base64"},
		{"4\tregular file\t644\troot\troot\t4\t0\t0\naGkK\n", "changed while it was read"},
		{"3\tdirectory\t755\troot\troot\t3\t0\t0\naGkK\n", "content for a directory"},
	} {
		_, err := ParseTextFile("/x", modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) {
			t.Errorf("%q: %v, want %q", c.out, err, c.err)
		}
	}
	tf, err := ParseTextFile("/x", modules.ProbeResult{Stdout: "3\tregular file\t600\tapp\tUNKNOWN\t3\t1001\t4242\naGkK\n"})
	if err != nil || string(tf.Content) != "hi\n" || tf.Stat.Mode != 0o600 || tf.Stat.Group != "4242" || tf.Stat.Owner != "app" {
		t.Errorf("%+v %v", tf, err)
	}
}

func TestTextFileProbeCommand(t *testing.T) {
	want := `p=/etc/motd; if [ -h "$p" ]; then p=$(readlink -f "$p"); printf 'link\t%s\n' "$p"; fi; ` +
		`if [ -z "$p" ]; then :; elif [ -e "$p" ]; then s=$(LC_ALL=C stat -c '%s	%F	%a	%U	%G	%s	%u	%g' "$p") && printf '%s\n' "$s" && ` +
		`if [ -f "$p" ] && [ "${s%%	*}" -le 1048576 ]; then base64 < "$p"; fi; ` +
		`elif [ -d "${p%/*}/" ]; then echo absent; else echo absent noparent; fi`
	if got := TextFileProbe("/etc/motd").Command; got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if c := TextFileProbe("/etc/motd").Command; strings.ContainsAny(c, "\n\r") {
		t.Errorf("multi-line command %q", c)
	}
}

func FuzzParseTextFile(f *testing.F) {
	f.Add("3\tregular file\t644\troot\troot\t3\t0\t0\naGkK\n")
	f.Add("link\t/etc/x\nabsent noparent\n")
	f.Add("0\tregular empty file\t600\troot\troot\t0\t0\t0\n")
	f.Add("1048577\tregular file\t644\troot\troot\t1048577\t0\t0\n")
	f.Fuzz(func(t *testing.T, out string) {
		tf, err := ParseTextFile("/x", modules.ProbeResult{Stdout: out})
		if err != nil {
			return
		}
		switch {
		case tf.Path == "" || tf.Path[0] != '/':
			t.Errorf("path %q", tf.Path)
		case tf.Content != nil && (tf.Stat.Type != Regular || int64(len(tf.Content)) != tf.Stat.Size || tf.TooLarge):
			t.Errorf("content inconsistent with %+v", tf.Stat)
		case tf.Stat.Type == Regular && tf.Content == nil && !tf.TooLarge:
			t.Errorf("regular file without content: %+v", tf)
		case tf.NoParent && tf.Stat.Exists:
			t.Errorf("no parent but exists: %+v", tf)
		}
	})
}
