package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/testenv"
)

// runJSON runs opsrun with --output json and returns the exit status and
// the run_end totals.
func runJSON(t *testing.T, args ...string) (ExitCode, run.Counts, []run.Event) {
	t.Helper()
	streams, out, errOut := testIO()
	if !slices.Contains(args, "--state") {
		// Not the stack's own .opsrun/: the examples are in the repository.
		args = append(args, "--state", filepath.Join(t.TempDir(), "state.db"))
	}
	code := Main(append(args, "--ssh-config", "none", "-o", "json"), streams)
	var events []run.Event
	var totals run.Counts
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var e run.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q (stderr %s)", l, errOut)
		}
		events = append(events, e)
		if e.Type == run.TypeRunEnd {
			totals = *e.Counts
		}
	}
	if len(events) == 0 {
		t.Logf("stderr: %s", errOut)
	}
	return code, totals, events
}

// TestStackOnFleet drives examples/hello through plan, run, rerun and
// configure on two real hosts, then a failing stack.
func TestStackOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 2}}})
	inv := fleet.InventoryPath
	hello := filepath.Join("..", "..", "examples", "hello")
	ctx := context.Background()
	installed := func(host string) bool {
		_, err := fleet.Exec(ctx, host, "dpkg-query", "-W", "nginx")
		return err == nil
	}

	streams, out, errOut := testIO()
	if code := Main([]string{"validate", hello}, streams); code != ExitOK || !strings.Contains(out.String(), "Stack hello is valid") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}

	// Check mode on fresh hosts reports changes and makes none.
	code, totals, _ := runJSON(t, "run", "setup", hello, "-i", inv, "--check")
	if code != ExitOK || totals.Changed == 0 || totals.Failed != 0 {
		t.Fatalf("check: exit %d, totals %+v", code, totals)
	}
	if installed("web-1") {
		t.Fatal("--check installed nginx")
	}

	// Converge from scratch: the notified restart runs once per host.
	code, totals, events := runJSON(t, "run", "setup", hello, "-i", inv)
	if code != ExitOK || totals.Changed == 0 || totals.Failed != 0 {
		t.Fatalf("setup: exit %d, totals %+v", code, totals)
	}
	handlers := map[string]int{}
	for _, e := range events {
		if e.Type == run.TypeTask && e.Handler {
			handlers[e.Host]++
		}
	}
	if handlers["web-1"] != 1 || handlers["web-2"] != 1 {
		t.Errorf("notified restarts per host: %v, want one each", handlers)
	}
	if !installed("web-1") || !installed("web-2") {
		t.Fatal("nginx not installed")
	}

	// The second run changes nothing, and so no handler runs.
	code, totals, events = runJSON(t, "run", "setup", hello, "-i", inv)
	if code != ExitOK || totals.Changed != 0 || totals.OK == 0 {
		t.Fatalf("rerun: exit %d, totals %+v", code, totals)
	}
	for _, e := range events {
		if e.Handler {
			t.Errorf("handler ran without a change: %+v", e)
		}
	}

	// configure writes the page from facts and topology; nginx serves it
	// to the other host over the fleet's network.
	if code, totals, _ = runJSON(t, "run", "configure", hello, "-i", inv); code != ExitOK || totals.Changed != 2 {
		t.Fatalf("configure: exit %d, totals %+v", code, totals)
	}
	page, err := fleet.Exec(ctx, "web-1", "curl", "-sf", "http://web-2/")
	if err != nil || !strings.Contains(string(page), "This is <b>web-2</b>") || !strings.Contains(string(page), "Web layer: web-1, web-2.") {
		t.Fatalf("page from web-2: %v\n%s", err, page)
	}

	// A resource failing on one host stops that host only.
	code, totals, events = runJSON(t, "run", "deploy", filepath.Join("testdata", "failing"), "-i", inv)
	if code != ExitFailed || totals.Failed != 1 {
		t.Fatalf("failing stack: exit %d, totals %+v", code, totals)
	}
	status := map[string]string{}
	for _, e := range events {
		if e.Type == run.TypeTask {
			status[e.Host+" "+e.Resource] = e.Status
		}
	}
	if status["web-1 command.breaks"] != "failed" || status["web-1 file.last"] != "skipped" || status["web-2 file.last"] != "changed" {
		t.Errorf("statuses %v", status)
	}

	// max_fail_percentage = 0: the first failure aborts the layer. One
	// host at a time, in inventory order, makes web-1 the first.
	if _, err := fleet.Exec(ctx, "web-2", "rm", "-f", "/tmp/opsrun-first", "/tmp/opsrun-last"); err != nil {
		t.Fatal(err)
	}
	code, totals, events = runJSON(t, "run", "deploy", filepath.Join("testdata", "failing"), "-i", inv, "--var", "max_fail=0", "--forks", "1")
	if code != ExitFailed || totals.Failed != 1 {
		t.Fatalf("max_fail_percentage: exit %d, totals %+v", code, totals)
	}
	for _, e := range events {
		if e.Type == run.TypeTask && e.Host == "web-2" && (e.Status != "skipped" || !strings.Contains(e.Reason, "aborted")) {
			t.Errorf("web-2 ran after the layer was aborted: %+v", e)
		}
	}
	if _, err := fleet.Exec(ctx, "web-2", "test", "-e", "/tmp/opsrun-first"); err == nil {
		t.Error("web-2 was changed after the layer was aborted")
	}
}
