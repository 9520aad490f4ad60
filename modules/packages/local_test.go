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

// TestRefreshIfNeeded runs the refresh decision of dnf, yum, apk and
// zypper with the need condition and the refresh replaced by stand-ins and
// the marker in a temporary directory: it refreshes only when needed, at
// most once per run ID, and every time without a run ID.
func TestRefreshIfNeeded(t *testing.T) {
	dir := t.TempDir()
	run := func(runID, need string) bool {
		t.Helper()
		s := refreshIfNeeded(runID, "dnf-refreshed", need, "echo REFRESHED")
		s = strings.ReplaceAll(s, "/run/opsrun-", dir+"/opsrun-")
		out, err := exec.Command("sh", "-c", s).Output()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return strings.Contains(string(out), "REFRESHED")
	}
	if run("r1", "false") {
		t.Error("refreshed without need")
	}
	if !run("r1", "true") {
		t.Error("did not refresh when needed")
	}
	if run("r1", "true") {
		t.Error("refreshed twice in one run")
	}
	if !run("r/2", "[ 1 -lt 2 ]") {
		t.Error("a new run did not refresh")
	}
	if !run("", "true") || !run("", "true") {
		t.Error("without a run ID every need refreshes")
	}
	if s := refreshIfNeeded("a b'c", "apk-refreshed", "true", "x"); !strings.Contains(s, "/run/opsrun-apk-refreshed-a_b_c ") {
		t.Errorf("run ID not sanitized: %s", s)
	}
}

// TestCommandsParse checks every manager's commands are valid POSIX sh
// for dash and, where installed, busybox ash (Alpine's sh).
func TestCommandsParse(t *testing.T) {
	shells := [][]string{{"sh"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "sh"})
	}
	h := fixture.DefaultHost()
	for _, mgr := range providers {
		m := managerFor(mgr)
		for _, res := range []*resource{
			{names: []string{"curl", "nginx"}, state: "present"},
			{names: []string{"curl", "nginx"}, state: "latest"},
			{names: []string{"nginx"}, state: "present", version: "1.22.1-9"},
		} {
			items := []item{{name: "curl", from: "1.0-1", to: "1.1-1"}, {name: "nginx"}}
			if res.version != "" {
				items = []item{{name: "nginx", from: "1.24.0-2", to: res.version}}
			}
			for _, cmd := range []string{m.install(h, res, items), m.remove(res.names)} {
				for _, sh := range shells {
					out, err := exec.Command(sh[0], append(sh[1:], "-n", "-c", cmd)...).CombinedOutput()
					if err != nil {
						t.Errorf("%s, %s: %v: %s\n%s", mgr, sh, err, out, cmd)
					}
				}
			}
		}
	}
}
