package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport/local"
)

// unreachableStack is a stack whose one host refuses connections: a run
// gets as far as connecting, quickly.
func unreachableStack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := `stack "lt" {
  become = false
}
layer "web" {
  on "setup" {
    command "x" {
      command = "true"
    }
  }
}
host "web-1" {
  address = "127.0.0.1"
  port    = 1
  layers  = ["web"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mainIn(args ...string) (ExitCode, string, string) {
	streams, out, errOut := testIO()
	if args[0] == "run" || args[0] == "plan" {
		args = append(args, "--ssh-config", "none")
	}
	code := Main(args, streams)
	return code, out.String(), errOut.String()
}

func TestRunRefusedWhileLocked(t *testing.T) {
	ctx := context.Background()
	dir := unreachableStack(t)
	store := state.New(state.DefaultPath(dir), state.Options{})
	held, err := store.Acquire(ctx, state.Me("held-run", "opsrun run setup"), 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, errOut := mainIn("run", "setup", dir)
	if code != ExitLocked || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v, want 4 at once; stderr %s", code, time.Since(start), errOut)
	}
	want := fmt.Sprintf("opsrun: stack locked by %s pid %d since %s (run held-run: opsrun run setup); wait with --lock-timeout 5m or, if that run is dead, opsrun unlock %s --force\n",
		held.Lock.Who(), os.Getpid(), held.Lock.Started.Local().Format(time.RFC3339), dir)
	if errOut != want {
		t.Errorf("stderr\n%q\nwant\n%q", errOut, want)
	}
	// --lock-timeout waits, then gives up the same way.
	start = time.Now()
	code, _, errOut = mainIn("run", "setup", dir, "--lock-timeout", "600ms")
	if d := time.Since(start); code != ExitLocked || d < 600*time.Millisecond || !strings.Contains(errOut, "waited 600ms") {
		t.Fatalf("lock-timeout: exit %d after %v: %s", code, d, errOut)
	}
	// The refused runs ran nothing and are not in the history.
	if runs, err := store.History(ctx, 0); err != nil || len(runs) != 0 {
		t.Fatalf("history after refusals: %v %v", runs, err)
	}
	// Check mode takes no lock: it runs (the host is unreachable) and is
	// recorded.
	if code, _, errOut := mainIn("run", "setup", dir, "--check"); code != ExitUnreachable {
		t.Fatalf("check mode while locked: exit %d: %s", code, errOut)
	}
	// So does plan, saying the stack is locked, and it records nothing.
	code, _, errOut = mainIn("plan", "setup", dir)
	if code != ExitUnreachable || !strings.Contains(errOut, "note: stack locked by "+held.Lock.Who()) {
		t.Fatalf("plan while locked: exit %d: %s", code, errOut)
	}
	runs, err := store.History(ctx, 0)
	if err != nil || len(runs) != 1 || !runs[0].Check || runs[0].Outcome != state.OutcomeUnreachable {
		t.Fatalf("history: %+v %v", runs, err)
	}
	// Once released, a run goes ahead, and leaves the stack unlocked.
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	waited := make(chan ExitCode)
	if _, err := store.Acquire(ctx, state.Me("held-again", "opsrun run setup"), 0); err != nil {
		t.Fatal(err)
	}
	go func() {
		code, _, _ := mainIn("run", "setup", dir, "--lock-timeout", "20s")
		waited <- code
	}()
	time.Sleep(500 * time.Millisecond)
	if _, err := store.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-waited; code != ExitUnreachable {
		t.Fatalf("waiting run: exit %d", code)
	}
	if h, err := store.Holder(ctx); h != nil || err != nil {
		t.Fatalf("lock left after the run: %+v %v", h, err)
	}
}

func TestDeadLockIsBrokenAndUnlock(t *testing.T) {
	ctx := context.Background()
	dir := unreachableStack(t)
	store := state.New(state.DefaultPath(dir), state.Options{})
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := state.Me("dead-run", "opsrun run setup")
	dead.PID = child.Process.Pid
	if err := syscall.Kill(dead.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid reused: %v", err)
	}
	if err := store.Begin(ctx, &state.RunRecord{ID: "dead-run", Event: "setup", Started: dead.Started}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Acquire(ctx, dead, 0); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := mainIn("run", "setup", dir)
	if code != ExitUnreachable || !strings.Contains(errOut, fmt.Sprintf("opsrun: broke a stale lock: run dead-run (pid %d on %s", dead.PID, dead.Host)) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if rec, err := store.Show(ctx, "dead-run"); err != nil || !strings.HasPrefix(rec.OutcomeText(), "interrupted (process died") {
		t.Fatalf("dead run: %+v %v", rec, err)
	}

	// unlock: without --force it explains and refuses.
	if _, err := store.Acquire(ctx, state.Me("live-run", "opsrun run configure"), 0); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = mainIn("unlock", dir)
	if code != ExitError || !strings.Contains(errOut, "stack locked by ") || !strings.Contains(errOut, "(run live-run: opsrun run configure)") || !strings.Contains(errOut, "without --force") {
		t.Fatalf("unlock without --force: exit %d: %s", code, errOut)
	}
	if h, _ := store.Holder(ctx); h == nil {
		t.Fatal("unlock without --force removed the lock")
	}
	code, out, errOut := mainIn("unlock", dir, "--force")
	if code != ExitOK || !strings.Contains(out, "Removed the lock of ") || !strings.Contains(out, "live-run") {
		t.Fatalf("unlock --force: exit %d: %s%s", code, out, errOut)
	}
	if h, _ := store.Holder(ctx); h != nil {
		t.Fatalf("still locked: %+v", h)
	}
	if code, out, _ := mainIn("unlock", dir, "--force"); code != ExitOK || !strings.Contains(out, "not locked") {
		t.Errorf("second unlock: exit %d: %s", code, out)
	}
}

func TestHistoryCommand(t *testing.T) {
	dir := unreachableStack(t)
	statePath := filepath.Join(t.TempDir(), "elsewhere.db")
	if code, out, _ := mainIn("history", dir, "--state", statePath); code != ExitOK || !strings.Contains(out, "No run recorded") {
		t.Fatalf("empty history: exit %d: %s", code, out)
	}
	for _, args := range [][]string{{"run", "setup", dir, "--state", statePath, "--check"}, {"run", "setup", dir, "--state", statePath, "--layer", "web"}} {
		if code, _, errOut := mainIn(args...); code != ExitUnreachable {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".opsrun")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--state was not used: %v", err)
	}

	code, out, errOut := mainIn("history", dir, "--state", statePath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN ID") {
		t.Fatalf("history: exit %d:\n%s%s", code, out, errOut)
	}
	for _, h := range []string{"EVENT", "WHO", "STARTED", "DURATION", "OUTCOME", "CHANGED/FAILED"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %s: %s", h, lines[0])
		}
	}
	if !strings.Contains(lines[1], "setup ") || strings.Contains(lines[1], "(check)") || !strings.Contains(lines[1], "unreachable") ||
		!strings.Contains(lines[2], "setup (check)") {
		t.Errorf("rows, newest first:\n%s", out)
	}

	code, out, _ = mainIn("history", dir, "--state", statePath, "-o", "json", "--limit", "5")
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		started, _ := obj["started"].(string)
		if _, err := time.Parse(time.RFC3339, started); err != nil {
			t.Errorf("started %q: %v", started, err)
		}
		if d, ok := obj["duration"].(float64); !ok || d <= 0 {
			t.Errorf("duration %v", obj["duration"])
		}
		if obj["event"] != "setup" || obj["outcome"] != "unreachable" || obj["id"] == "" {
			t.Errorf("object %s", l)
		}
		ids = append(ids, obj["id"].(string))
	}
	if code != ExitOK || len(ids) != 2 {
		t.Fatalf("json: exit %d: %s", code, out)
	}
	if code, out, _ := mainIn("history", dir, "--state", statePath, "--limit", "1"); code != ExitOK || strings.Count(out, "\n") != 2 {
		t.Errorf("--limit 1: %s", out)
	}

	code, out, _ = mainIn("history", "show", ids[0], dir, "--state", statePath)
	for _, want := range []string{"Run " + ids[0] + ": setup on stack lt", "command:  opsrun run setup --layer web", "outcome:  unreachable", "web-1", "connection refused", "Nothing changed."} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if code != ExitOK {
		t.Errorf("show: exit %d", code)
	}
	code, _, errOut = mainIn("history", "show", "no-such-run", dir, "--state", statePath)
	if code != ExitError || !strings.Contains(errOut, `no run "no-such-run"`) || !strings.Contains(errOut, ids[0]+", "+ids[1]) {
		t.Errorf("unknown id: exit %d: %s", code, errOut)
	}
}

func TestInterrupts(t *testing.T) {
	for _, gentle := range []bool{true, false} {
		ctx, cancel := context.WithCancelCause(context.Background())
		streams, _, errOut := testIO()
		i := newInterrupts(cancel, streams.ErrOut)
		var stop <-chan struct{}
		if gentle {
			stop = i.gentle()
		}
		if i.signal() {
			t.Fatal("exit on the first signal")
		}
		if gentle {
			select {
			case <-stop:
			default:
				t.Fatal("first signal did not stop")
			}
			if ctx.Err() != nil {
				t.Fatal("first gentle signal cancelled")
			}
			if i.signal() {
				t.Fatal("exit on the second gentle signal")
			}
			if !strings.Contains(errOut.String(), "running commands are let finish") {
				t.Errorf("stderr %q", errOut)
			}
		}
		if !errors.Is(context.Cause(ctx), errCancelled) {
			t.Fatalf("gentle=%v: not cancelled: %v", gentle, context.Cause(ctx))
		}
		if !i.signal() {
			t.Fatalf("gentle=%v: the last signal must exit", gentle)
		}
	}
}

// TestInterruptedRunIsRecorded: the first interrupt lets the running
// command finish, starts nothing more, prints the recap, records the run
// as interrupted and releases the lock.
func TestInterruptedRunIsRecorded(t *testing.T) {
	dir := t.TempDir()
	marks := t.TempDir()
	src := fmt.Sprintf(`stack "lt" {
  become = false
}
layer "web" {
  on "setup" {
    command "slow" {
      command = "touch %[1]s/started; sleep 1; touch %[1]s/done"
    }
    command "next" {
      command = "touch %[1]s/next"
    }
  }
}
host "local" {
  layers = ["web"]
}
`, marks)
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, out, errOut := testIO()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	f := &Factory{IO: streams, interrupts: newInterrupts(cancel, streams.ErrOut)}
	opts := &RunOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: f}, Event: "setup", Hosts: "all", Output: "text", Dialer: local.Dialer{}}
	done := make(chan error)
	go func() { done <- runRun(ctx, opts) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(marks, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never started: %s%s", out, errOut)
		}
	}
	f.interrupts.signal()
	err := <-done
	if exitOf(err) != ExitFailed {
		t.Fatalf("exit %d: %v", exitOf(err), err)
	}
	if _, err := os.Stat(filepath.Join(marks, "done")); err != nil {
		t.Error("the running command was not let finish")
	}
	if _, err := os.Stat(filepath.Join(marks, "next")); err == nil {
		t.Error("the next resource started after the interrupt")
	}
	if !strings.Contains(out.String(), "RECAP setup") {
		t.Errorf("no recap:\n%s", out)
	}
	store := state.New(state.DefaultPath(dir), state.Options{})
	runs, herr := store.History(context.Background(), 0)
	if herr != nil || len(runs) != 1 || runs[0].Outcome != state.OutcomeInterrupted || runs[0].Totals.Changed != 1 ||
		len(runs[0].Changes) != 1 || runs[0].Changes[0].Resource != "command.slow" {
		t.Fatalf("history: %+v %v", runs, herr)
	}
	if h, err := store.Holder(context.Background()); h != nil || err != nil {
		t.Fatalf("lock not released: %+v %v", h, err)
	}
}

// The first interrupt ends a wait for the lock: nothing ran, exit 4.
func TestInterruptEndsLockWait(t *testing.T) {
	ctx := context.Background()
	dir := unreachableStack(t)
	store := state.New(state.DefaultPath(dir), state.Options{})
	if _, err := store.Acquire(ctx, state.Me("held-run", "opsrun run setup"), 0); err != nil {
		t.Fatal(err)
	}
	streams, _, _ := testIO()
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f := &Factory{IO: streams, interrupts: newInterrupts(cancel, streams.ErrOut)}
	opts := &RunOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: f}, Event: "setup", Hosts: "all", Output: "text", SSHConfig: "none", LockTimeout: time.Minute}
	done := make(chan error)
	go func() { done <- runRun(rctx, opts) }()
	time.Sleep(500 * time.Millisecond)
	f.interrupts.signal()
	select {
	case err := <-done:
		if exitOf(err) != ExitLocked || !strings.Contains(err.Error(), "held-run") {
			t.Fatalf("exit %d: %v", exitOf(err), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupt did not end the wait for the lock")
	}
	if runs, _ := store.History(ctx, 0); len(runs) != 0 {
		t.Errorf("a run that never got the lock was recorded: %+v", runs)
	}
}
