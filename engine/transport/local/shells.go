package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Shells returns a Conn per POSIX shell found on this machine — sh (dash
// on Debian), bash (started as sh, so in POSIX mode) and busybox's ash —
// each first on PATH as "sh", so scripts meant for any host meet them all.
// It skips the test when there is none. Like httptest, it serves tests.
func Shells(t testing.TB) map[string]*Conn {
	t.Helper()
	out := map[string]*Conn{}
	for name, bin := range map[string]string{"sh": "sh", "bash": "bash", "busybox": "busybox"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		dir := t.TempDir()
		sh := filepath.Join(dir, "sh")
		if err := os.Symlink(p, sh); err != nil {
			t.Fatal(err)
		}
		out[name] = &Conn{Name: name, Shell: sh, Env: []string{"PATH=" + dir + ":" + os.Getenv("PATH")}}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell on this machine")
	}
	return out
}
