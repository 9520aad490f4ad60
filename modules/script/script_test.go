package script_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/script"
)

func TestFixtures(t *testing.T) { fixture.Run(t, script.Type()) }

// needRoot skips tests that write under /run and switch users.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: scripts are uploaded under /run")
	}
}

// leftovers lists script files under /run.
func leftovers(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(script.Dir, "opsrun-script-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLocal runs scripts on this machine as the engine would: guarded by
// creates, so the second plan is empty; args and environment arrive as
// declared; the uploaded file is gone afterwards.
func TestLocal(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "done")
	before := leftovers(t)
	acts := fixture.Converge(t, fixture.New(t, script.Type(), map[string]any{
		"content":     "printf '%s|' \"$@\" \"$GREETING\" \"$(pwd)\" > \"$MARKER\"\n",
		"args":        []string{"it's", "a b"},
		"environment": map[string]string{"GREETING": "hello world", "MARKER": marker},
		"cwd":         dir,
		"creates":     marker,
	}, dir))
	if len(acts) != 1 {
		t.Fatalf("want one run, got %+v", acts)
	}
	b, err := os.ReadFile(marker)
	if want := "it's|a b|hello world|" + dir + "|"; err != nil || string(b) != want {
		t.Fatalf("marker %q (%v), want %q", b, err, want)
	}
	if after := leftovers(t); len(after) != len(before) {
		t.Fatalf("script files left under /run: %q", after)
	}
}

// TestLocalFailure checks a failing script fails its action with its own
// exit status and still leaves no file behind.
func TestLocalFailure(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	res := fixture.New(t, script.Type(), map[string]any{"content": "echo oops >&2; exit 3\n"}, dir)
	acts, err := res.Plan(fixture.DefaultHost(), modules.Facts{})
	if err != nil || len(acts) != 1 {
		t.Fatalf("%+v %v", acts, err)
	}
	u := acts[0].Upload
	if err := os.WriteFile(u.Path, u.Content, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", acts[0].Command)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(stderr.String(), "oops") {
		t.Fatalf("exit %v, stderr %q; want status 3 and the script's stderr", err, stderr.String())
	}
	if _, err := os.Stat(u.Path); !os.IsNotExist(err) {
		t.Fatalf("%s left behind (%v)", u.Path, err)
	}
}

// TestLocalUser runs a script as an unprivileged user: the uploaded file
// is that user's, mode 0700, so it can read it and nobody else can.
func TestLocalUser(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("no runuser")
	}
	if err := exec.Command("id", "nobody").Run(); err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// t.TempDir's parent is private; nobody must reach dir to write.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	acts := fixture.Converge(t, fixture.New(t, script.Type(), map[string]any{
		"content": "id -un > " + out + "\n",
		"user":    "nobody",
		"onlyif":  "test \"$(id -un)\" = nobody",
		"creates": out,
	}, dir))
	if len(acts) != 1 || acts[0].Upload.Owner != "nobody" || acts[0].Upload.Mode.Perm() != 0o700 {
		t.Fatalf("%+v", acts)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "nobody\n" {
		t.Fatalf("ran as %q (%v)", b, err)
	}
}

// TestLargeSource streams a source over 1 MiB from the controller instead
// of holding it, under a name that still depends on its content.
func TestLargeSource(t *testing.T) {
	dir := t.TempDir()
	big := append([]byte("#!/bin/sh\n"), bytes.Repeat([]byte("# padding\n"), 120000)...)
	if err := os.WriteFile(filepath.Join(dir, "big.sh"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big2.sh"), append(big, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := func(name string) modules.Action {
		res := fixture.New(t, script.Type(), map[string]any{"source": name}, dir)
		acts, err := res.Plan(fixture.DefaultHost(), modules.Facts{})
		if err != nil || len(acts) != 1 {
			t.Fatalf("%+v %v", acts, err)
		}
		return acts[0]
	}
	a, b := plan("big.sh"), plan("big2.sh")
	if a.Upload.Source != filepath.Join(dir, "big.sh") || a.Upload.Content != nil {
		t.Fatalf("not streamed: %+v", a.Upload)
	}
	if a.Upload.Path == b.Upload.Path {
		t.Fatalf("different scripts share %s", a.Upload.Path)
	}
}
