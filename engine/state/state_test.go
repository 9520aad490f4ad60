package state

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

	bolt "go.etcd.io/bbolt"

	"github.com/opsrun/opsrun/engine/run"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	return New(DefaultPath(t.TempDir()), Options{})
}

// deadPID is the pid of a child process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid %d was reused already: %v", pid, err)
	}
	return pid
}

func TestLockAcquireRefuseRelease(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := Me("run-a", "opsrun run setup")
	got, err := s.Acquire(ctx, a, 0)
	if err != nil || got.Broken != nil {
		t.Fatalf("acquire: %v %+v", err, got)
	}
	dir := filepath.Dir(s.Path())
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, s.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
		}
	}

	// Same machine, live pid (this one): refused at once, naming the holder.
	b := Me("run-b", "opsrun run configure")
	start := time.Now()
	_, err = s.Acquire(ctx, b, 0)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder.RunID != "run-a" || le.Holder.PID != os.Getpid() {
		t.Fatalf("second acquire: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("refusal took %v", time.Since(start))
	}
	for _, want := range []string{"stack locked by " + a.User + "@" + a.Host, fmt.Sprintf("pid %d since ", os.Getpid()), "(run run-a: opsrun run setup)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if h, err := s.Holder(ctx); err != nil || h == nil || h.RunID != "run-a" {
		t.Errorf("holder %+v %v", h, err)
	}

	// A release by a run that no longer holds the lock leaves it alone.
	stale := &Acquired{Lock: b, store: s}
	if err := stale.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Holder(ctx); h == nil || h.RunID != "run-a" {
		t.Fatalf("a stale release removed the lock: %+v", h)
	}
	// Released, even with a cancelled context, the stack is free.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := got.Release(cancelled); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Holder(ctx); err != nil || h != nil {
		t.Fatalf("after release: %+v %v", h, err)
	}
	if _, err := s.Acquire(ctx, b, 0); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

func TestLockWaitAndTimeout(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	held, err := s.Acquire(ctx, Me("run-a", "opsrun run setup"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Times out after about the wait, still naming the holder.
	start := time.Now()
	_, err = s.Acquire(ctx, Me("run-b", "x"), 400*time.Millisecond)
	if d := time.Since(start); !errors.Is(err, ErrLocked) || d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, d)
	}
	// A cancelled context stops the wait early.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = s.Acquire(cctx, Me("run-b", "x"), time.Minute)
	if d := time.Since(start); !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) || d > 5*time.Second {
		t.Fatalf("cancelled wait: %v after %v", err, d)
	}
	// Waits until the holder releases.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = held.Release(ctx)
	}()
	start = time.Now()
	got, err := s.Acquire(ctx, Me("run-c", "x"), 10*time.Second)
	if err != nil || got.Lock.RunID != "run-c" || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("wait: %v after %v", err, time.Since(start))
	}
}

func TestLockOfDeadProcessIsBroken(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dead := Me("run-dead", "opsrun run setup")
	dead.PID = deadPID(t)
	if err := s.Begin(ctx, &RunRecord{ID: "run-dead", Event: "setup", Started: dead.Started}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, dead, 0); err != nil {
		t.Fatal(err)
	}
	// On another machine the same pid says nothing: the lock holds.
	other := dead
	other.RunID, other.Host = "run-far", "elsewhere.example"
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		v, _ := json.Marshal(other)
		return tx.Bucket(bucketLock).Put(lockKey, v)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, Me("run-new", "x"), 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("a dead pid on another host broke the lock: %v", err)
	}
	if _, err := s.update(ctx, func(tx *bolt.Tx) error {
		v, _ := json.Marshal(dead)
		return tx.Bucket(bucketLock).Put(lockKey, v)
	}), error(nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Acquire(ctx, Me("run-new", "x"), 0)
	if err != nil || got.Broken == nil || got.Broken.RunID != "run-dead" || got.Broken.PID != dead.PID {
		t.Fatalf("dead lock not broken: %v %+v", err, got)
	}
	rec, err := s.Show(ctx, "run-dead")
	if err != nil || rec.Outcome != OutcomeInterrupted || rec.OutcomeText() != "interrupted (process died; lock broken by run run-new)" {
		t.Fatalf("dead run: %+v %v", rec, err)
	}
}

func TestUnlock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if l, err := s.Unlock(ctx); l != nil || err != nil {
		t.Fatalf("unlock of no store: %v %v", l, err)
	}
	if _, err := os.Stat(filepath.Dir(s.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlock created the store: %v", err)
	}
	me := Me("run-a", "opsrun run setup")
	if err := s.Begin(ctx, &RunRecord{ID: "run-a", Event: "setup", Started: me.Started}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, me, 0); err != nil {
		t.Fatal(err)
	}
	l, err := s.Unlock(ctx)
	if err != nil || l == nil || l.RunID != "run-a" {
		t.Fatalf("unlock: %+v %v", l, err)
	}
	if h, _ := s.Holder(ctx); h != nil {
		t.Fatalf("still locked: %+v", h)
	}
	if rec, _ := s.Show(ctx, "run-a"); rec.Outcome != OutcomeInterrupted || !strings.Contains(rec.Note, "unlock --force") {
		t.Errorf("unlocked run: %+v", rec)
	}
	if l, err := s.Unlock(ctx); l != nil || err != nil {
		t.Errorf("second unlock: %v %v", l, err)
	}
}

func TestHistoryRecordListShow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if runs, err := s.History(ctx, 0); err != nil || len(runs) != 0 {
		t.Fatalf("empty history: %v %v", runs, err)
	}
	if _, err := s.Show(ctx, "nope"); !errors.Is(err, ErrNoSuchRun) || !strings.Contains(err.Error(), "no run has been recorded") {
		t.Fatalf("show on empty: %v", err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		rec := &RunRecord{ID: fmt.Sprintf("r%d", i), Event: "setup", Who: "ops@box", Started: t0.Add(time.Duration(i) * time.Minute)}
		if err := s.Begin(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			break // left running
		}
		var c Recorder
		c.Emit(run.Event{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "file.a", Status: run.StatusChanged, Actions: []string{"write /a"}, Diffs: []string{"+secret diff"}})
		c.Emit(run.Event{Type: run.TypeTask, Host: "web-1", Resource: "file.b", Status: run.StatusOK})
		c.Emit(run.Event{Type: run.TypeTask, Host: "web-2", Resource: "command.x", Status: run.StatusFailed, Error: "exit status 1: output"})
		res := &run.Result{Hosts: []*run.HostRecap{
			{Host: "web-1", Counts: run.Counts{OK: 1, Changed: 1}},
			{Host: "web-2", Counts: run.Counts{Failed: i}, Err: fmt.Errorf("web-2: command.x: run it: %w", &run.CommandError{ExitStatus: 9, Stderr: "the secret output"})},
		}, Totals: run.Counts{OK: 1, Changed: 1, Failed: i}}
		c.Finish(rec, res, nil)
		rec.Finished = rec.Started.Add(1500 * time.Millisecond)
		if err := s.Finish(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.History(ctx, 0)
	if err != nil || len(runs) != 3 {
		t.Fatalf("history: %v %v", runs, err)
	}
	if runs[0].ID != "r2" || runs[0].Outcome != OutcomeRunning || runs[1].ID != "r1" || runs[1].Outcome != OutcomeFailed || runs[2].Outcome != OutcomeOK {
		t.Fatalf("order/outcomes: %s %s, %s %s, %s %s", runs[0].ID, runs[0].Outcome, runs[1].ID, runs[1].Outcome, runs[2].ID, runs[2].Outcome)
	}
	if runs, _ := s.History(ctx, 2); len(runs) != 2 || runs[1].ID != "r1" {
		t.Errorf("limit 2: %d runs", len(runs))
	}
	rec, err := s.Show(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Changes) != 1 || rec.Changes[0].Resource != "file.a" || rec.Changes[0].Actions[0] != "write /a" ||
		len(rec.Recap) != 2 || rec.Recap[1].Error != "web-2: command.x: run it: exit status 9 (output not recorded)" || rec.Duration() != 1500*time.Millisecond {
		t.Errorf("record %+v", rec)
	}
	raw, _ := json.Marshal(rec)
	for _, never := range []string{"secret diff", "the secret output"} {
		if strings.Contains(string(raw), never) {
			t.Errorf("the record keeps %q: %s", never, raw)
		}
	}
	var obj map[string]any
	_ = json.Unmarshal(raw, &obj)
	if obj["duration"] != 1.5 || obj["started"] != "2026-11-25T10:01:00Z" || obj["id"] != "r1" || obj["event"] != "setup" || obj["outcome"] != "failed" {
		t.Errorf("json %s", raw)
	}
	_, err = s.Show(ctx, "r9")
	var ue *UnknownRunError
	if !errors.As(err, &ue) || !errors.Is(err, ErrNoSuchRun) || strings.Join(ue.Latest, ",") != "r2,r1,r0" {
		t.Errorf("unknown id: %v", err)
	}
}

func TestHistoryPrunesToMaxRuns(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		for i := range MaxRuns {
			if err := putRun(tx, &RunRecord{ID: fmt.Sprintf("old-%04d", i), Started: t0.Add(time.Duration(i) * time.Second), Outcome: OutcomeOK}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, &RunRecord{ID: "new", Started: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.History(ctx, 0)
	if err != nil || len(runs) != MaxRuns || runs[0].ID != "new" || runs[len(runs)-1].ID != "old-0001" {
		t.Fatalf("after prune: %d runs, first %s last %s, %v", len(runs), runs[0].ID, runs[len(runs)-1].ID, err)
	}
}

func TestCorruptStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := os.MkdirAll(filepath.Dir(s.Path()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), []byte(strings.Repeat("not a bolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"history": func() error { _, err := s.History(ctx, 0); return err },
		"acquire": func() error { _, err := s.Acquire(ctx, Me("r", "x"), 0); return err },
		"holder":  func() error { _, err := s.Holder(ctx); return err },
	} {
		err := f()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "move it aside") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// writerEnv makes the test binary a process that writes to a store until
// it is killed; writerKindEnv says what it writes.
const (
	writerEnv     = "OPSRUN_STATE_TEST_WRITER"
	writerKindEnv = "OPSRUN_STATE_TEST_WRITER_KIND"
)

func TestHelperWriter(t *testing.T) {
	path := os.Getenv(writerEnv)
	if path == "" {
		t.Skip("only run as the child of a test that kills it")
	}
	s := New(path, Options{})
	switch kind := os.Getenv(writerKindEnv); kind {
	case "runs":
		writeRuns(t, s)
	case "releases":
		writeReleases(t, s)
	default:
		t.Fatalf("unknown writer kind %q", kind)
	}
}

// writeRuns takes the lock and records a run, over and over.
func writeRuns(t *testing.T, s *Store) {
	ctx := context.Background()
	changes := make([]Change, 50)
	for i := range changes {
		changes[i] = Change{Host: fmt.Sprintf("host-%d", i), Resource: "file.x", Actions: []string{strings.Repeat("write ", 20)}}
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("w%06d", i)
		rec := &RunRecord{ID: id, Event: "setup", Started: time.Now().UTC(), Changes: changes}
		a, err := s.Acquire(ctx, Me(id, "writer"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Begin(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Outcome, rec.Finished = OutcomeOK, time.Now().UTC()
		if err := s.Finish(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// killWriter runs TestHelperWriter writing kind to a new store and
// SIGKILLs it, five times at different moments, each a while after
// written (a count that only grows) shows the round has written
// something. After every kill the store must open, pass bbolt's
// consistency check and still show that write; check then looks at what
// the writer left.
func killWriter(t *testing.T, kind string, written func(*Store) (int, error), check func(s *Store, round int)) {
	t.Helper()
	if testing.Short() {
		t.Skip("spawns writers")
	}
	path := DefaultPath(t.TempDir())
	s := New(path, Options{})
	for round, delay := range []time.Duration{150, 230, 310, 170, 420} {
		prev, err := written(s)
		if err != nil {
			t.Fatalf("round %d: before the writer: %v", round, err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+path, writerKindEnv+"="+kind)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		// Kill it a while after it has written something this round.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if n, err := written(s); err == nil && n > prev {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: the writer wrote nothing in 30s", round)
			}
		}
		t.Logf("round %d: first write after %v", round, time.Since(t0))
		time.Sleep(delay * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("round %d: consistency: %v", round, err)
		}
		if n, err := written(s); err != nil || n <= prev {
			t.Fatalf("round %d: after the kill: %d written (%d before), %v", round, n, prev, err)
		}
		check(s, round)
	}
	n, _ := written(s)
	t.Logf("%s: %d written across 5 kills", kind, n)
}

// TestStoreSurvivesKill SIGKILLs a process writing the run lock and
// history at different moments; every time, the store opens, passes
// bbolt's consistency check and every record decodes.
func TestStoreSurvivesKill(t *testing.T) {
	ctx := context.Background()
	written := func(s *Store) (int, error) {
		runs, err := s.History(ctx, 0)
		return len(runs), err
	}
	killWriter(t, "runs", written, func(s *Store, round int) {
		runs, err := s.History(ctx, 0)
		if err != nil {
			t.Fatalf("round %d: history: %v", round, err)
		}
		for _, r := range runs {
			if r.ID == "" || len(r.Changes) != 50 {
				t.Fatalf("round %d: a torn record: %+v", round, r.ID)
			}
		}
		// The killed writer's lock, if it held one, is broken by the
		// next acquirer: its pid is dead on this machine.
		a, err := s.Acquire(ctx, Me(fmt.Sprintf("check-%d", round), "test"), 0)
		if err != nil {
			t.Fatalf("round %d: acquire after kill: %v", round, err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
