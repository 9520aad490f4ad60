package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/testenv"
)

// TestBaselineExample converges examples/baseline, which uses most
// resource types, on two real hosts: check mode first changes nothing,
// the run converges, the rerun and plan find nothing to change.
func TestBaselineExample(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "base", Count: 2}}})
	inv := fleet.InventoryPath
	dir := filepath.Join("..", "..", "examples", "baseline")
	// Docker mounts /proc/sys read-only: persist kernel settings only.
	args := []string{dir, "-i", inv, "--var", "apply_sysctl=false"}
	ctx := context.Background()
	sh := func(host, cmd string) string {
		out, err := fleet.Exec(ctx, host, "sh", "-c", cmd)
		if err != nil {
			t.Fatalf("%s on %s: %v\n%s", cmd, host, err, out)
		}
		return string(out)
	}
	const state = "getent passwd ops; cat /etc/motd; grep -c '^PasswordAuthentication no' /etc/ssh/sshd_config; true"
	before := sh("base-1", state)

	code, totals, _ := runJSON(t, append([]string{"run", "setup"}, append(args, "--check")...)...)
	if code != ExitOK || totals.Changed == 0 || totals.Failed != 0 {
		t.Fatalf("check: exit %d, totals %+v", code, totals)
	}
	if got := sh("base-1", state); got != before {
		t.Fatalf("check mode changed the host:\n%s\n---\n%s", before, got)
	}

	code, totals, events := runJSON(t, append([]string{"run", "setup"}, args...)...)
	if code != ExitOK || totals.Changed == 0 || totals.Failed != 0 {
		for _, e := range events {
			if e.Error != "" {
				t.Log(e.Host, e.Resource, e.Error)
			}
		}
		t.Fatalf("setup: exit %d, totals %+v", code, totals)
	}
	motd := sh("base-1", "cat /etc/motd")
	if !strings.HasPrefix(motd, "base-1: debian 12 on ") || !strings.Contains(motd, "  peer base-2 (") || strings.Contains(motd, "peer base-1") {
		t.Errorf("motd:\n%s", motd)
	}
	if keys := sh("base-2", "stat -c '%U %a' /home/ops/.ssh/authorized_keys; cat /home/ops/.ssh/authorized_keys"); !strings.HasPrefix(keys, "ops 600\nssh-ed25519 ") {
		t.Errorf("authorized_keys:\n%s", keys)
	}
	if n := strings.TrimSpace(sh("base-1", "grep -c '^PasswordAuthentication no' /etc/ssh/sshd_config")); n != "1" {
		t.Errorf("sshd_config has %s PasswordAuthentication no lines", n)
	}

	code, totals, _ = runJSON(t, append([]string{"run", "setup"}, args...)...)
	if code != ExitOK || totals.Changed != 0 || totals.Failed != 0 {
		t.Fatalf("rerun: exit %d, totals %+v", code, totals)
	}
	code, totals, _ = runJSON(t, append([]string{"plan", "setup"}, args...)...)
	if code != ExitOK || totals.Changed != 0 {
		t.Fatalf("plan after converge: exit %d, totals %+v", code, totals)
	}
}
