package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// TestLinkReal runs the link probe on real paths of every kind under each
// shell (busybox with its own stat and readlink, as on Alpine) and parses
// what it printed.
func TestLinkReal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a file")
	if err := os.WriteFile(file, []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard")
	if err := os.Link(file, hard); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"rel":      "../a file",
		"dangling": "/nonexistent/it's",
		"newline":  "two\nlines",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for shell, argv := range textFileShells(t) {
		t.Run(shell, func(t *testing.T) {
			for name, target := range links {
				l, err := ParseLink(runIn(t, argv, LinkProbe(filepath.Join(dir, name), "")), false)
				if err != nil || l.Stat.Type != Symlink || l.Target != target || l.Inode == "" {
					t.Errorf("%s: %+v, %v; want a symbolic link to %q", name, l, err, target)
				}
			}
			l, err := ParseLink(runIn(t, argv, LinkProbe(file, "")), false)
			if err != nil || l.Stat.Type != Regular || l.Stat.Mode != 0o640 || l.Target != "" {
				t.Errorf("regular file: %+v, %v", l, err)
			}
			l, err = ParseLink(runIn(t, argv, LinkProbe(dir, "")), false)
			if err != nil || l.Stat.Type != Directory {
				t.Errorf("directory: %+v, %v", l, err)
			}
			l, err = ParseLink(runIn(t, argv, LinkProbe(filepath.Join(dir, "none"), "")), false)
			if err != nil || l.Stat.Exists {
				t.Errorf("absent: %+v, %v", l, err)
			}
			l, err = ParseLink(runIn(t, argv, LinkProbe(hard, file)), true)
			if err != nil || l.Inode == "" || l.Inode != l.OtherInode || l.Stat.Type != Regular || l.Other.Type != Regular {
				t.Errorf("hard link: %+v, %v; want the same inode", l, err)
			}
			l, err = ParseLink(runIn(t, argv, LinkProbe(other, file)), true)
			if err != nil || l.Inode == l.OtherInode || !l.Other.Exists {
				t.Errorf("another file: %+v, %v; want different inodes", l, err)
			}
			l, err = ParseLink(runIn(t, argv, LinkProbe(filepath.Join(dir, "none"), filepath.Join(dir, "rel"))), true)
			if err != nil || l.Stat.Exists || l.Other.Type != Symlink {
				t.Errorf("no link, symbolic link as target: %+v, %v", l, err)
			}
		})
	}
}

func TestParseLinkErrors(t *testing.T) {
	for _, c := range []struct {
		out  string
		hard bool
		want string
	}{
		{"", false, "want lines"},
		{"regular file\t644\troot\troot\t2\t0\t0\n", false, "want 9"},
		{"symbolic link\t777\troot\troot\t2\t0\t0\t2049\t12\n", false, "readlink printed"},
		{"regular file\t644\troot\troot\t2\t0\t0\t2049\tx\n", false, "device/inode"},
		{"regular file\t644\troot\troot\t2\t0\t0\t2049\t12\nmore\n", false, "after the stat"},
		{"absent\n", true, "want one line"},
		{"absent\nabsent\nabsent\n", true, "want one line"},
	} {
		_, err := ParseLink(modules.ProbeResult{Stdout: c.out}, c.hard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.out, err, c.want)
		}
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add("symbolic link\t777\troot\troot\t9\t0\t0\t2049\t131\n../a file\n", false)
	f.Add("absent\n", false)
	f.Add("regular file\t644\troot\troot\t2\t0\t0\t2049\t12\nregular file\t644\troot\troot\t2\t0\t0\t2049\t12\n", true)
	f.Add("absent\nabsent\n", true)
	f.Fuzz(func(t *testing.T, out string, hard bool) {
		l, err := ParseLink(modules.ProbeResult{Stdout: out}, hard)
		if err != nil {
			return
		}
		if l.Stat.Exists != (l.Inode != "") || l.Other.Exists != (l.OtherInode != "") {
			t.Errorf("inode without a file or a file without inode: %+v", l)
		}
		if (l.Target != "") != (!hard && l.Stat.Type == Symlink) {
			t.Errorf("target %q for a %s (hard %v)", l.Target, l.Stat.Type, hard)
		}
	})
}
