package packages

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func needDpkg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"dpkg-query", "apt-cache"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: not a Debian machine", tool)
		}
	}
}

// TestRealDpkg plans against this machine's real dpkg database: coreutils
// is installed on every Debian system, the other name exists nowhere.
func TestRealDpkg(t *testing.T) {
	needDpkg(t)
	h := fixture.DefaultHost()
	res := fixture.New(t, Type(), map[string]any{"name": []string{"coreutils", "dpkg"}}, t.TempDir())
	acts, err := res.Plan(h, fixture.Probe(t, res, h))
	if err != nil || len(acts) != 0 {
		t.Fatalf("coreutils and dpkg are installed; plan: %+v, %v", acts, err)
	}
	res = fixture.New(t, Type(), map[string]any{"name": []string{"coreutils", "opsrun-no-such-package"}}, t.TempDir())
	acts, err = res.Plan(h, fixture.Probe(t, res, h))
	if err != nil || len(acts) != 1 || acts[0].Summary != "install opsrun-no-such-package" {
		t.Fatalf("plan: %+v, %v", acts, err)
	}
	res = fixture.New(t, Type(), map[string]any{"name": "coreutils", "state": "latest"}, t.TempDir())
	if _, err := res.Plan(h, fixture.Probe(t, res, h)); err != nil {
		t.Fatalf("latest against the real apt-cache policy: %v", err)
	}
	res = fixture.New(t, Type(), map[string]any{"name": "opsrun-no-such-package", "state": "absent"}, t.TempDir())
	if acts, err := res.Plan(h, fixture.Probe(t, res, h)); err != nil || len(acts) != 0 {
		t.Fatalf("absent: %+v, %v", acts, err)
	}
}

// TestUpdateSnippet runs the index-refresh decision on this machine with
// apt-get update replaced by an echo and the marker in a temporary
// directory: it refreshes for a name without candidate, once per run ID,
// and never for names apt can install.
func TestUpdateSnippet(t *testing.T) {
	needDpkg(t)
	if m, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*"); len(m) == 0 {
		t.Skip("this machine has no apt lists")
	}
	dir := t.TempDir()
	run := func(runID string, names ...string) bool {
		t.Helper()
		s := updateIfNeeded(runID, names)
		s = strings.ReplaceAll(s, "apt-get update -q", "echo UPDATED")
		s = strings.ReplaceAll(s, "/run/opsrun-", dir+"/opsrun-")
		out, err := exec.Command("sh", "-c", s).Output()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return strings.Contains(string(out), "UPDATED")
	}
	if run("r1", "coreutils") {
		t.Error("refreshed the index for a package that has a candidate")
	}
	if !run("r1", "coreutils", "opsrun-no-such-package") {
		t.Error("did not refresh the index for a package without candidate")
	}
	if run("r1", "opsrun-no-such-package") {
		t.Error("refreshed twice in one run")
	}
	if !run("r2", "opsrun-no-such-package") {
		t.Error("a new run did not refresh")
	}
	if !run("", "opsrun-no-such-package") || !run("", "opsrun-no-such-package") {
		t.Error("without a run ID every missing candidate refreshes")
	}
}
