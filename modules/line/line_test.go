package line_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/edittest"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/line"
)

func TestFixtures(t *testing.T) { fixture.Run(t, line.Type()) }

// TestLocal edits real files with the real probe on this machine: each
// case converges (the second plan is empty) and leaves the file wanted.
func TestLocal(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	for _, c := range []struct {
		name   string
		before string
		attrs  map[string]any
		want   string
	}{
		{"add", "a = 1", map[string]any{"line": "b = 2"}, "a = 1\nb = 2\n"},
		{"replace", "port = 80\nhost = x\n", map[string]any{"line": "port = 9090", "regexp": `^port\s*=`}, "port = 9090\nhost = x\n"},
		{"insert before", "[main]\nhost = x\n", map[string]any{"line": "# managed", "insert_before": "BOF"}, "# managed\n[main]\nhost = x\n"},
		{"absent", "a\nb\na\n", map[string]any{"line": "a", "state": "absent"}, "b\n"},
		{"absent regexp", "#x\ny\n#z\n", map[string]any{"regexp": "^#", "state": "absent"}, "y\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(conf, []byte(c.before), 0o640); err != nil {
				t.Fatal(err)
			}
			c.attrs["path"] = conf
			fixture.Converge(t, fixture.New(t, line.Type(), c.attrs, dir))
			b, err := os.ReadFile(conf)
			if err != nil || string(b) != c.want {
				t.Fatalf("file %q (%v), want %q", b, err, c.want)
			}
			if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o640 {
				t.Fatalf("mode not kept: %v %v", fi.Mode(), err)
			}
		})
	}
}

// TestLocalLinkAndBackup edits a file through a symbolic link, which
// stays a link, with a backup of the old content beside the target.
func TestLocalLinkAndBackup(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.conf")
	link := filepath.Join(dir, "link.conf")
	if err := os.WriteFile(target, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.conf", link); err != nil {
		t.Fatal(err)
	}
	acts := fixture.Converge(t, fixture.New(t, line.Type(), map[string]any{"path": link, "line": "new", "regexp": "^old$", "backup": true}, dir))
	if len(acts) != 2 {
		t.Fatalf("want a backup and a write, got %+v", acts)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new\n" {
		t.Fatalf("target %q", b)
	}
	copies, _ := filepath.Glob(target + ".*~")
	if len(copies) != 1 {
		t.Fatalf("backups %q", copies)
	}
	if b, _ := os.ReadFile(copies[0]); string(b) != "old\n" {
		t.Fatalf("backup %q", b)
	}
}

// TestLocalCreate creates a missing file only with create = true.
func TestLocalCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "new.conf")
	res := fixture.New(t, line.Type(), map[string]any{"path": p, "line": "x"}, dir)
	h := fixture.DefaultHost()
	if _, err := res.Plan(h, fixture.Probe(t, res, h)); err == nil {
		t.Fatal("a missing file was planned without create")
	}
	fixture.Converge(t, fixture.New(t, line.Type(), map[string]any{"path": p, "line": "x", "create": true, "mode": "0600"}, dir))
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
}

// FuzzIdempotent edits arbitrary content and checks that editing the
// result again changes nothing, the promise a second run relies on.
// lineinfile's own caveat applies: a regexp that does not match line
// can replace a second, earlier match on the next run, so such cases are
// skipped.
func FuzzIdempotent(f *testing.F) {
	f.Add([]byte("a\nb\r\nport = 1\n#x"), "port = 2", "^port", uint8(0), false)
	f.Add([]byte("x\n\n\ny"), "y", "", uint8(1), false)
	f.Add([]byte("a\na\n"), "a", "", uint8(2), true)
	f.Add([]byte(""), "z", "z$", uint8(3), false)
	f.Fuzz(func(t *testing.T, content []byte, ln, pattern string, pos uint8, absent bool) {
		attrs := map[string]any{"path": "/f", "line": ln}
		if pattern != "" {
			attrs["regexp"] = pattern
		}
		if absent {
			attrs["state"] = "absent"
		}
		res := edittest.Declare(t, line.Type(), attrs, pos, pattern)
		if res == nil {
			return // invalid declarations are New's business
		}
		if re, err := regexp.Compile(pattern); pattern != "" && !absent && (err != nil || !re.MatchString(ln)) {
			return
		}
		acts, err := res.Plan(fixture.DefaultHost(), edittest.Facts("/f", content))
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if len(acts) > 0 {
			edittest.Idempotent(t, res, "/f", content, acts)
		}
	})
}
