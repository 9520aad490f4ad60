package link_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/link"
)

// These tests run the real probe and actions on this machine in a
// temporary directory, and check that a second plan is empty.

func TestSymbolicLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "it's current")
	steps := []struct {
		name  string
		attrs map[string]any
		want  string // summary of the only action
	}{
		{"create", map[string]any{"path": p, "target": "releases/1"}, "create symbolic link " + p + " → releases/1"},
		{"again", map[string]any{"path": p, "target": "releases/1"}, ""},
		{"repoint", map[string]any{"path": p, "target": "-releases 2"}, "repoint symbolic link " + p + " → -releases 2 (was releases/1)"},
		{"absent", map[string]any{"path": p, "state": "absent"}, "remove symbolic link " + p},
	}
	for _, s := range steps {
		acts := fixture.Converge(t, fixture.New(t, link.Type(), s.attrs, dir))
		var got string
		if len(acts) == 1 {
			got = acts[0].Summary
		} else if len(acts) > 1 {
			t.Fatalf("%s: %d actions: %+v", s.name, len(acts), acts)
		}
		if got != s.want {
			t.Errorf("%s: summary %q, want %q", s.name, got, s.want)
		}
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("link still there after absent: %v", err)
	}
}

// TestRepointDirectoryLink checks a link to a directory is repointed,
// not given a new link inside the directory (ln -n).
func TestRepointDirectoryLink(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "current")
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": "r1"}, dir))
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": "r2"}, dir))
	if got, _ := os.Readlink(p); got != "r2" {
		t.Errorf("link points to %q, want r2", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "r1", "*")); len(m) != 0 {
		t.Errorf("ln entered the old directory: %q", m)
	}
}

func TestForceLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app")
	if err := os.WriteFile(p, []byte("in the way\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := fixture.New(t, link.Type(), map[string]any{"path": p, "target": "/bin/true"}, dir)
	if _, err := res.Plan(fixture.DefaultHost(), fixture.Probe(t, res, fixture.DefaultHost())); err == nil || !strings.Contains(err.Error(), "set force = true") {
		t.Fatalf("want an error asking for force, got %v", err)
	}
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": "/bin/true", "force": true}, dir))
	if got, _ := os.Readlink(p); got != "/bin/true" {
		t.Errorf("link points to %q", got)
	}
}

func TestHardLocal(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "a.db")
	if err := os.WriteFile(target, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "b db")
	attrs := map[string]any{"path": p, "target": target, "type": "hard"}
	acts := fixture.Converge(t, fixture.New(t, link.Type(), attrs, dir))
	if len(acts) != 1 || acts[0].Summary != "create hard link "+p+" to "+target {
		t.Fatalf("want one create, got %+v", acts)
	}
	if !sameFile(t, p, target) {
		t.Fatal("path and target are not one file")
	}
	// Another file at path: an error without force, replaced with it.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := fixture.New(t, link.Type(), attrs, dir)
	if _, err := res.Plan(fixture.DefaultHost(), fixture.Probe(t, res, fixture.DefaultHost())); err == nil || !strings.Contains(err.Error(), "not a hard link") {
		t.Fatalf("want an error about another file, got %v", err)
	}
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": target, "type": "hard", "force": true}, dir))
	if !sameFile(t, p, target) {
		t.Fatal("force did not make path the target's file")
	}
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": target, "type": "hard", "state": "absent"}, dir))
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("hard link still there: %v", err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "data\n" {
		t.Errorf("target damaged: %q, %v", b, err)
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
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "l")
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": target, "owner": "nobody"}, dir))
	var st syscall.Stat_t
	if err := syscall.Stat(target, &st); err != nil || st.Uid != 0 {
		t.Errorf("the target's owner changed: uid %d (%v)", st.Uid, err)
	}
	if err := syscall.Lstat(p, &st); err != nil || st.Uid == 0 {
		t.Errorf("the link is still root's (%v)", err)
	}
	acts := fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": target, "owner": "0"}, dir))
	if len(acts) != 1 || acts[0].Command != "chown -h 0 "+transport.ShellQuote(p) {
		t.Fatalf("want one chown -h, got %+v", acts)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// TestRepointIsAtomic repoints a link to a directory back and forth while
// readers resolve it without pause: a reader must never find the link
// missing. It runs with busybox's ln and mv, as on an Alpine host: GNU ln
// -sfn renames a new link into place itself, busybox's unlinks the old
// one first.
func TestRepointIsAtomic(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed (.ci/run installs it)")
	}
	bin := t.TempDir()
	for _, tool := range []string{"ln", "mv"} {
		if err := os.Symlink(bb, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	for _, d := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "current")
	fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": "r1"}, dir))
	stop := make(chan struct{})
	missing := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				missing <- n
				return
			default:
			}
			if _, err := os.Stat(p); err != nil {
				n++
			}
		}
	}()
	for i := range 200 {
		target := []string{"r2", "r1"}[i%2]
		fixture.Converge(t, fixture.New(t, link.Type(), map[string]any{"path": p, "target": target}, dir))
	}
	close(stop)
	if n := <-missing; n > 0 {
		t.Errorf("readers found %s missing %d times while it was repointed", p, n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("left behind: %v", entries)
	}
}
