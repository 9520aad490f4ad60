package file_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

// These tests run the real probe commands on this machine against files in
// a temporary directory, apply the actions like the engine would, and
// check that a second plan is empty.

func TestConvergeLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub dir", "it's a file")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		attrs map[string]any
		want  string // summary of the only action
	}{
		{"create", map[string]any{"path": p, "content": "one\n"}, "create " + p + " (mode 0644)"},
		{"again", map[string]any{"path": p, "content": "one\n"}, ""},
		{"update", map[string]any{"path": p, "content": "one\ntwo\n"}, "update " + p},
		{"mode", map[string]any{"path": p, "content": "one\ntwo\n", "mode": "0600"}, "change " + p + " (mode 0644 → 0600)"},
		{"setuid", map[string]any{"path": p, "content": "one\ntwo\n", "mode": "4750"}, "change " + p + " (mode 0600 → 4750)"},
		{"update keeps setuid", map[string]any{"path": p, "content": "three\n", "mode": "4750"}, "update " + p},
		{"mode 0000", map[string]any{"path": p, "content": "three\n", "mode": "0000"}, "change " + p + " (mode 4750 → 0000)"},
		{"touch keeps content", map[string]any{"path": p, "mode": "0640"}, "change " + p + " (mode 0000 → 0640)"},
		{"absent", map[string]any{"path": p, "state": "absent"}, "remove " + p},
		{"touch", map[string]any{"path": p}, "create " + p + " (mode 0644)"},
		{"empty content", map[string]any{"path": p, "content": ""}, ""},
		{"binary", map[string]any{"path": p, "content": "\x7fELF\x01\x02"}, "update " + p},
	}
	for _, s := range steps {
		res := fixture.New(t, file.Type(), s.attrs, dir)
		acts := fixture.Converge(t, res)
		var got string
		switch len(acts) {
		case 0:
		case 1:
			got = acts[0].Summary
		default:
			t.Fatalf("%s: %d actions: %+v", s.name, len(acts), acts)
		}
		if got != s.want {
			t.Errorf("%s: summary %q, want %q", s.name, got, s.want)
		}
	}
}

func TestDiffFromRealProbe(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "motd")
	if err := os.WriteFile(p, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := fixture.New(t, file.Type(), map[string]any{"path": p, "content": "a\nB\nc\n"}, dir)
	h := fixture.DefaultHost()
	acts, err := res.Plan(h, fixture.Probe(t, res, h))
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || !strings.Contains(acts[0].Diff, "-b\n+B\n") {
		t.Fatalf("want one update with a diff of b → B, got %+v", acts)
	}
}

func TestOwnerLocal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	if exec.Command("id", "nobody").Run() != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "owned")
	for _, attrs := range []map[string]any{
		{"path": p, "content": "x\n", "owner": "nobody", "group": "0"},
		{"path": p, "content": "y\n", "group": "0"},                    // update keeps owner nobody
		{"path": p, "content": "y\n", "owner": "nobody", "group": "0"}, // ... so nothing to do
	} {
		fixture.Converge(t, fixture.New(t, file.Type(), attrs, dir))
	}
	res := fixture.New(t, file.Type(), map[string]any{"path": p, "content": "y\n", "owner": "nobody"}, dir)
	if acts, _ := res.Plan(fixture.DefaultHost(), fixture.Probe(t, res, fixture.DefaultHost())); len(acts) != 0 {
		t.Fatalf("the update handed the file to another owner: %+v", acts)
	}
}

func TestLargeSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	big := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB
	if err := os.WriteFile(src, big, 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dest.bin")
	res := fixture.New(t, file.Type(), map[string]any{"path": p, "source": "big.bin"}, dir)
	for _, pr := range res.Probes(fixture.DefaultHost()) {
		if strings.HasPrefix(pr.ID, "content:") {
			t.Errorf("a large source must not fetch the host's content: %s", pr.ID)
		}
	}
	acts := fixture.Converge(t, res)
	if len(acts) != 1 || acts[0].Upload == nil || acts[0].Upload.Source != src || acts[0].Upload.Content != nil {
		t.Fatalf("want one upload streamed from %s, got %+v", src, acts)
	}
	if !strings.HasPrefix(acts[0].Diff, "(binary or large content: sha256 (none) → ") {
		t.Errorf("diff = %q", acts[0].Diff)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, big) {
		t.Error("content differs after converge")
	}
}

func TestBackupLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app's.conf")
	attrs := func(content string) map[string]any {
		return map[string]any{"path": p, "content": content, "mode": "0640", "backup": true}
	}
	fixture.Converge(t, fixture.New(t, file.Type(), attrs("one\n"), dir))
	fixture.Converge(t, fixture.New(t, file.Type(), map[string]any{"path": p, "content": "one\n", "mode": "0600", "backup": true}, dir))
	if m, _ := filepath.Glob(p + ".*"); len(m) != 0 {
		t.Fatalf("creating the file or changing its mode made a backup: %q", m)
	}
	acts := fixture.Converge(t, fixture.New(t, file.Type(), attrs("two\n"), dir))
	if len(acts) != 2 || !strings.HasPrefix(acts[0].Summary, "back up ") {
		t.Fatalf("want a backup then the update, got %+v", acts)
	}
	m, _ := filepath.Glob(p + ".*")
	if len(m) != 1 {
		t.Fatalf("want exactly one backup, got %q", m)
	}
	if !regexp.MustCompile(`\.[0-9]{8}T[0-9]{6}~$`).MatchString(m[0]) {
		t.Errorf("backup %s is not named PATH.YYYYMMDDTHHMMSS~", m[0])
	}
	if b, _ := os.ReadFile(m[0]); string(b) != "one\n" {
		t.Errorf("backup holds %q, want the old content", b)
	}
	if fi, err := os.Stat(m[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v (%v), want the old file's 0600 (cp -p)", fi.Mode(), err)
	}
}
