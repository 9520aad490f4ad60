package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/testenv"
)

// TestExecFleet runs opsrun exec, the real binary's code path, against 30
// real hosts, then kills one host in the middle of a command.
func TestExecFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "app", Count: 28}, {Layer: "db", Count: 2}}, Init: "sshd"})

	t.Run("30 hosts", func(t *testing.T) {
		streams, out, errOut := testIO()
		code := Main([]string{"exec", "-i", fleet.InventoryPath, "--ssh-config", "none", "-o", "json", "--", "hostname"}, streams)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 30 {
			t.Fatalf("%d result lines, want 30", len(lines))
		}
		for _, l := range lines {
			var j report.AdhocJSON
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatal(err)
			}
			if j.Status != "ok" || strings.TrimSpace(j.Stdout) != j.Host {
				t.Errorf("%s: %+v", j.Host, j)
			}
		}
	})

	t.Run("become and pattern", func(t *testing.T) {
		streams, out, errOut := testIO()
		code := Main([]string{"exec", "-i", fleet.InventoryPath, "--ssh-config", "none", "--hosts", "db", "--become", "--", "id", "-un"}, streams)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if strings.Count(out.String(), "\nroot\n") != 2 || !strings.Contains(out.String(), "2 hosts: 2 ok") {
			t.Errorf("want root on both db hosts:\n%s", out)
		}
	})

	t.Run("failed command", func(t *testing.T) {
		streams, out, _ := testIO()
		code := Main([]string{"exec", "-i", fleet.InventoryPath, "--ssh-config", "none", "--hosts", "db-1", "--", "echo oops >&2; exit 7"}, streams)
		if code != ExitFailed || !strings.Contains(out.String(), "=== db-1: failed (exit 7") || !strings.Contains(out.String(), "--- stderr\noops\n") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("host killed mid-run", func(t *testing.T) {
		streams, out, errOut := testIO()
		done := make(chan ExitCode)
		go func() {
			done <- Main([]string{"exec", "-i", fleet.InventoryPath, "--ssh-config", "none", "--hosts", "db-*,app-1*", "-o", "json", "--", "sleep 4; echo finished"}, streams)
		}()
		// Kill once the commands are running; the victim is a db host.
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, _ := fleet.Exec(context.Background(), "db-2", "sh", "-c", "pgrep -f 'sleep 4' || true")
			if strings.TrimSpace(string(b)) != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := fleet.Kill(context.Background(), "db-2"); err != nil {
			t.Fatal(err)
		}
		var code ExitCode
		select {
		case code = <-done:
		case <-time.After(90 * time.Second):
			t.Fatal("exec did not return after a host was killed")
		}
		if code != ExitUnreachable {
			t.Errorf("exit %d, want 3 (unreachable)\n%s\n%s", code, out, errOut)
		}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var j report.AdhocJSON
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatal(err)
			}
			switch {
			case j.Host == "db-2" && j.Status != "unreachable":
				t.Errorf("killed host reported %+v", j)
			case j.Host != "db-2" && (j.Status != "ok" || j.Stdout != "finished\n"):
				t.Errorf("%s did not finish: %+v", j.Host, j)
			}
		}
	})
}
