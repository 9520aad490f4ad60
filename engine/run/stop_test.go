package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/modules"
)

// shell runs its command every time.
type shell struct{ command string }

func (shell) Probes(*modules.Host) []modules.Probe { return nil }
func (r shell) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	return []modules.Action{{Summary: "run it", Command: r.command}}, nil
}

// stoppable is a run in the background, stopped and cancelled by hand.
type stoppable struct {
	stop   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	res    *Result
	err    error

	mu     sync.Mutex
	events []Event
}

func (f *fixture) start(t *testing.T, event string, forks int) *stoppable {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &stoppable{stop: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.res, s.err = Run(ctx, Input{Stack: f.stack, Registry: registry(), Dialer: local.Dialer{}, Hosts: f.hosts, Targets: f.hosts},
			Options{Event: event, Forks: forks, RunID: "test", Stop: s.stop, Emit: func(e Event) {
				s.mu.Lock()
				s.events = append(s.events, e)
				s.mu.Unlock()
			}})
	}()
	return s
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func hostTasks(events []Event) map[string]Event {
	out := map[string]Event{}
	for _, e := range events {
		if e.Type == TypeTask {
			out[e.Host+" "+e.Resource] = e
		}
	}
	return out
}

const stopStack = header + `
layer "web" {
  on "setup" {
    shell "first" {
      command = "touch ${var.dir}/${host.name}.started; sleep %s; touch ${var.dir}/${host.name}.done"
    }
    touch "second" {
      path = "${var.dir}/${host.name}/second"
    }
  }
}
`

// The first stop lets the running command finish and starts nothing
// new: not the host's next resource, not the next host.
func TestStopLetsRunningCommandFinish(t *testing.T) {
	f := load(t, fmt.Sprintf(stopStack, "1"), "h1", "h2")
	s := f.start(t, "setup", 1)
	waitFile(t, filepath.Join(f.dir, "h1.started"))
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stopped run did not end")
	}
	if !errors.Is(s.err, ErrInterrupted) || !errors.Is(s.err, errStopped) {
		t.Fatalf("err %v, want interrupted", s.err)
	}
	if !exists(filepath.Join(f.dir, "h1.done")) {
		t.Error("the running command was not let finish")
	}
	for _, p := range []string{"h1/second", "h2.started", "h2/second"} {
		if exists(filepath.Join(f.dir, p)) {
			t.Errorf("%s: new work started after the stop", p)
		}
	}
	tasks := hostTasks(s.events)
	if e := tasks["h1 shell.first"]; e.Status != StatusChanged {
		t.Errorf("h1 shell.first: %+v", e)
	}
	for _, k := range []string{"h1 touch.second", "h2 shell.first", "h2 touch.second"} {
		if e := tasks[k]; e.Status != StatusSkipped || e.Reason == "" {
			t.Errorf("%s: %+v, want skipped with a reason", k, e)
		}
	}
	if s.res.Totals.Changed != 1 || s.res.Totals.Skipped != 3 {
		t.Errorf("totals %+v", s.res.Totals)
	}
}

// After a stop, cancelling the context stops the running command too.
func TestSecondInterruptCancelsRunningCommand(t *testing.T) {
	f := load(t, fmt.Sprintf(stopStack, "30"), "h1")
	s := f.start(t, "setup", 0)
	waitFile(t, filepath.Join(f.dir, "h1.started"))
	close(s.stop)
	select {
	case <-s.done:
		t.Fatal("the stop did not let the running command go on")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling did not stop the running command")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if !errors.Is(s.err, ErrInterrupted) || !errors.Is(s.err, context.Canceled) {
		t.Fatalf("err %v", s.err)
	}
	if exists(filepath.Join(f.dir, "h1.done")) {
		t.Error("the cancelled command ran to its end")
	}
	tasks := hostTasks(s.events)
	if e := tasks["h1 shell.first"]; e.Status != StatusFailed {
		t.Errorf("h1 shell.first: %+v", e)
	}
	if e := tasks["h1 touch.second"]; e.Status != StatusSkipped {
		t.Errorf("h1 touch.second: %+v", e)
	}
}
