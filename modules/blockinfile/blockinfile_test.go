package blockinfile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/blockinfile"
	"github.com/opsrun/opsrun/modules/internal/edittest"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, blockinfile.Type()) }

// TestLocal runs two blocks in one real file through their life with the
// real probe: insert, update, remove one while the other stays.
func TestLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	if err := os.WriteFile(p, []byte("127.0.0.1 localhost"), 0o644); err != nil {
		t.Fatal(err)
	}
	block := func(name, content, state string) modules.Resource {
		t.Helper()
		cfg := fixture.Config(t, blockinfile.Type(), map[string]json.RawMessage{
			"path":  json.RawMessage(fmt.Sprintf("%q", p)),
			"block": json.RawMessage(fmt.Sprintf("%q", content)),
			"state": json.RawMessage(fmt.Sprintf("%q", state)),
		}, nil, dir)
		cfg.Name = name
		res, err := blockinfile.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	check := func(want string) {
		t.Helper()
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Fatalf("file:\n%s\nwant:\n%s", b, want)
		}
	}
	fixture.Converge(t, block("db", "10.0.0.5 db", "present"))
	fixture.Converge(t, block("cache", "10.0.0.6 cache\n", "present"))
	check("127.0.0.1 localhost\n# BEGIN MANAGED BY OPSRUN: db\n10.0.0.5 db\n# END MANAGED BY OPSRUN: db\n" +
		"# BEGIN MANAGED BY OPSRUN: cache\n10.0.0.6 cache\n# END MANAGED BY OPSRUN: cache\n")
	fixture.Converge(t, block("db", "10.0.0.7 db\n10.0.0.8 db2\n", "present"))
	fixture.Converge(t, block("cache", "", "absent"))
	check("127.0.0.1 localhost\n# BEGIN MANAGED BY OPSRUN: db\n10.0.0.7 db\n10.0.0.8 db2\n# END MANAGED BY OPSRUN: db\n")
}

// FuzzIdempotent edits arbitrary content and checks the result is
// stable: a second edit changes nothing, and a present block reads back
// exactly once between its markers.
func FuzzIdempotent(f *testing.F) {
	f.Add([]byte("a\n# BEGIN MANAGED BY OPSRUN: test\nold\n# END MANAGED BY OPSRUN: test\nz"), "new\n", "^a", uint8(0), false)
	f.Add([]byte("x"), "y", "", uint8(2), false)
	f.Add([]byte("# BEGIN MANAGED BY OPSRUN: test\r\n# END MANAGED BY OPSRUN: test"), "", "", uint8(1), true)
	f.Fuzz(func(t *testing.T, content []byte, block, pattern string, pos uint8, absent bool) {
		attrs := map[string]any{"path": "/f", "block": block}
		if absent {
			attrs["state"] = "absent"
		}
		res := edittest.Declare(t, blockinfile.Type(), attrs, pos, pattern)
		if res == nil {
			return
		}
		acts, err := res.Plan(fixture.DefaultHost(), edittest.Facts("/f", content))
		if err != nil {
			if !strings.Contains(err.Error(), "markers are damaged") {
				t.Fatalf("plan: %v", err)
			}
			return
		}
		if len(acts) == 0 {
			return
		}
		next := edittest.Idempotent(t, res, "/f", content, acts)
		begins := strings.Count(string(next), "# BEGIN MANAGED BY OPSRUN: test\n")
		if present := !absent && block != ""; present != (begins == 1) || !present && begins != 0 {
			t.Fatalf("%d begin markers in %q (present %v)", begins, next, present)
		}
	})
}
