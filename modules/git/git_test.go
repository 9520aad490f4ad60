package git_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/git"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, git.Type()) }

// sh runs a shell script in dir and returns its trimmed stdout.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestLocal runs the probe and the actions on this machine against a
// bare repository in a temporary directory: clone, no change, a new
// commit moves HEAD, a tag, a pinned commit, local changes refused and
// then discarded with force, origin fixed, and absent.
func TestLocal(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir) // no user gitconfig leaks in
	bare := filepath.Join(dir, "repo.git")
	sh(t, dir, "git init -q --bare repo.git && git -C repo.git symbolic-ref HEAD refs/heads/main && "+
		"git clone -q repo.git scratch 2>/dev/null && cd scratch && git checkout -q -b main && "+
		"echo one > f && git add f && git commit -qm one && git tag -a v1 -m v1 && git push -q origin main v1")
	first := sh(t, dir, "git -C repo.git rev-parse main")
	co := filepath.Join(dir, "co dir")
	h := fixture.DefaultHost()
	head := func() string { return sh(t, dir, "git -C '"+co+"' rev-parse HEAD") }

	res := fixture.New(t, git.Type(), map[string]any{"repository": "file://" + bare, "path": co}, dir)
	acts := fixture.Converge(t, res)
	if len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "clone file://") || head() != first {
		t.Fatalf("clone: %+v, HEAD %s", acts, head())
	}
	if b := sh(t, dir, "git -C '"+co+"' symbolic-ref --short HEAD"); b != "main" {
		t.Errorf("checkout is on %q, want branch main", b)
	}

	sh(t, dir, "cd scratch && echo two > f && git commit -qam two && git push -q origin main")
	second := sh(t, dir, "git -C repo.git rev-parse main")
	acts = fixture.Converge(t, res)
	if len(acts) != 1 || !strings.Contains(acts[0].Summary, first[:7]+" → "+second[:7]) || head() != second {
		t.Fatalf("update: %+v, HEAD %s", acts, head())
	}

	tag := fixture.New(t, git.Type(), map[string]any{"repository": "file://" + bare, "path": co, "ref": "v1", "depth": 1}, dir)
	acts = fixture.Converge(t, tag)
	if len(acts) != 1 || !strings.Contains(acts[0].Summary, "tag v1") || head() != first {
		t.Fatalf("tag: %+v, HEAD %s", acts, head())
	}

	pin := fixture.New(t, git.Type(), map[string]any{"repository": "file://" + bare, "path": co, "commit": second}, dir)
	if acts = fixture.Converge(t, pin); len(acts) != 1 || head() != second {
		t.Fatalf("pin: %+v, HEAD %s", acts, head())
	}

	// Local changes: refused without force, discarded with it.
	if err := os.WriteFile(filepath.Join(co, "f"), []byte("local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Plan(h, fixture.Probe(t, res, h)); err == nil || !strings.Contains(err.Error(), "local changes") {
		t.Fatalf("dirty checkout: %v, want an error about local changes", err)
	}
	forced := fixture.New(t, git.Type(), map[string]any{"repository": "file://" + bare, "path": co, "force": true}, dir)
	if acts = fixture.Converge(t, forced); len(acts) != 1 || acts[0].Summary != "discard local changes in "+co {
		t.Fatalf("force: %+v", acts)
	}
	if b, _ := os.ReadFile(filepath.Join(co, "f")); string(b) != "two\n" {
		t.Errorf("f is %q after force", b)
	}

	// The same repository by path: origin's URL is changed.
	byPath := fixture.New(t, git.Type(), map[string]any{"repository": bare, "path": co}, dir)
	if acts = fixture.Converge(t, byPath); len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "change origin of") {
		t.Fatalf("origin: %+v", acts)
	}

	absent := fixture.New(t, git.Type(), map[string]any{"repository": bare, "path": co, "state": "absent"}, dir)
	fixture.Converge(t, absent)
	if _, err := os.Stat(co); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkout not removed: %v", err)
	}

	// A ref the remote does not have.
	bad := fixture.New(t, git.Type(), map[string]any{"repository": bare, "path": co, "ref": "nope"}, dir)
	if _, err := bad.Plan(h, fixture.Probe(t, bad, h)); err == nil || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Errorf("missing ref: %v", err)
	}
	// A repository that does not exist: ls-remote's message.
	gone := fixture.New(t, git.Type(), map[string]any{"repository": bare + "-gone", "path": co}, dir)
	if _, err := gone.Plan(h, fixture.Probe(t, gone, h)); err == nil || !strings.Contains(err.Error(), "does not appear to be a git repository") {
		t.Errorf("missing repository: %v", err)
	}
}

// TestMissingOnHost checks what a pending package install may explain is
// marked so: check mode then skips instead of failing.
func TestMissingOnHost(t *testing.T) {
	for _, missing := range []string{"git", "runuser", "key"} {
		res := fixture.New(t, git.Type(), map[string]any{"repository": "git@github.com:a/b.git", "path": "/srv/app",
			"user": "deploy", "ssh_key_file": "/k"}, t.TempDir())
		f := modules.Facts{}
		for _, p := range res.Probes(fixture.DefaultHost()) {
			f[p.ID] = modules.ProbeResult{Stdout: "missing " + missing + "\n"}
		}
		if _, err := res.Plan(fixture.DefaultHost(), f); !errors.Is(err, modules.ErrMissingOnHost) {
			t.Errorf("missing %s: %v, want ErrMissingOnHost", missing, err)
		}
	}
}
