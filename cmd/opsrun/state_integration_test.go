package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/testenv"
)

// TestConcurrentRunsOnFleet: while one run holds a stack, a second is
// refused at once with exit status 4 naming the holder, a third waits
// with --lock-timeout and runs after it; the history has both runs that
// ran, and the lock is gone.
func TestConcurrentRunsOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 1}}, Init: testenv.InitSSHD})
	dir := t.TempDir()
	src := `stack "locked" {}
layer "web" {
  on "setup" {
    command "slow" {
      command = "sleep 3; date >> /tmp/opsrun-lock-test"
    }
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "setup", dir, "-i", fleet.InventoryPath, "--ssh-config", "none"}
	ctx := context.Background()
	store := state.New(state.DefaultPath(dir), state.Options{})

	first := make(chan ExitCode, 1)
	go func() {
		streams, _, errOut := testIO()
		code := Main(args, streams)
		if code != ExitOK {
			t.Logf("first run: %s", errOut)
		}
		first <- code
	}()
	var holder *state.Lock
	for deadline := time.Now().Add(60 * time.Second); holder == nil; time.Sleep(20 * time.Millisecond) {
		var err error
		if holder, err = store.Holder(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never took the lock")
		}
	}

	streams, _, errOut := testIO()
	start := time.Now()
	code := Main(args, streams)
	if code != ExitLocked || time.Since(start) > 5*time.Second {
		t.Fatalf("second run: exit %d after %v, want 4 at once: %s", code, time.Since(start), errOut)
	}
	want := fmt.Sprintf("stack locked by %s pid %d since %s (run %s: opsrun run setup); wait with --lock-timeout 5m or, if that run is dead, opsrun unlock %s --force",
		holder.Who(), os.Getpid(), holder.Started.Local().Format(time.RFC3339), holder.RunID, dir)
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("second run's stderr:\n%s\nwant %q", errOut, want)
	}

	streams, _, errOut = testIO()
	if code := Main(append(args, "--lock-timeout", "2m"), streams); code != ExitOK {
		t.Fatalf("waiting run: exit %d: %s", code, errOut)
	}
	if code := <-first; code != ExitOK {
		t.Fatalf("first run: exit %d", code)
	}
	out, err := fleet.Exec(ctx, "web-1", "cat", "/tmp/opsrun-lock-test")
	if err != nil || strings.Count(string(out), "\n") != 2 {
		t.Fatalf("the command ran %q times (%v), want 2", out, err)
	}

	streams, stdout, errOut := testIO()
	if code := Main([]string{"history", dir, "-o", "json"}, streams); code != ExitOK {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var runs []state.RunRecord
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r state.RunRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("history line %q: %v", l, err)
		}
		runs = append(runs, r)
	}
	if len(runs) != 2 || runs[1].ID != holder.RunID || runs[0].Outcome != state.OutcomeOK || runs[1].Outcome != state.OutcomeOK ||
		runs[0].Started.Before(runs[1].Finished) || len(runs[1].Changes) != 1 || runs[1].Changes[0].Host != "web-1" {
		t.Fatalf("history:\n%s", stdout)
	}
	streams, stdout, _ = testIO()
	if code := Main([]string{"history", dir}, streams); code != ExitOK || strings.Count(stdout.String(), " ok ") != 2 {
		t.Errorf("history text:\n%s", stdout)
	}
	t.Logf("history:\n%s", stdout)
	if h, err := store.Holder(ctx); h != nil || err != nil {
		t.Errorf("lock left: %+v %v", h, err)
	}
}
