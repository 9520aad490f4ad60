package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// maxBackoff caps the wait before another heal of an instance whose heals
// keep failing.
const maxBackoff = time.Hour

// answerPoll is the pause between two looks for a healed instance.
const answerPoll = 2 * time.Second

// heal heals targets together: each is restarted, replaced or left as it
// is (setup) in parallel and waited for until it answers over SSH, then
// one converge sets them all up again and configures the whole stack.
// Alerts are recorded and change nothing.
func (w *Watcher) heal(ctx context.Context, targets []target) {
	defer func() {
		w.mu.Lock()
		for _, t := range targets {
			delete(w.healing, t.member.Name)
		}
		w.mu.Unlock()
	}()
	var (
		mu    sync.Mutex
		ready []string
		notes []string
		wg    sync.WaitGroup
	)
	failed := map[string]string{}
	for _, t := range targets {
		name := t.member.Name
		if t.mode == stack.HealAlert {
			w.alert(ctx, t)
			continue
		}
		w.update(ctx, name, func(rec *state.Health) { rec.Healing = t.mode })
		wg.Add(1)
		go func() {
			defer wg.Done()
			note, err := w.revive(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[name] = err.Error()
				w.log.Error("heal failed", "host", name, "mode", t.mode, "err", err)
				return
			}
			ready = append(ready, name)
			notes = append(notes, note)
		}()
	}
	wg.Wait()
	if len(ready) > 0 {
		note := "heal: " + strings.Join(notes, "; ")
		runID, err := w.cfg.Converge(ctx, ready, note)
		for _, name := range ready {
			if err != nil {
				failed[name] = fmt.Sprintf("converge (run %s): %v", runID, err)
				w.log.Error("heal failed", "host", name, "run", runID, "err", err)
				continue
			}
			w.log.Info("healed", "host", name, "run", runID)
			w.update(ctx, name, func(rec *state.Health) {
				rec.Healing, rec.LastHeal, rec.LastHealRun = "", w.cfg.Now(), runID
				rec.Failures, rec.FailingSince, rec.LastError = 0, time.Time{}, ""
				rec.HealFailures, rec.BackoffUntil = 0, time.Time{}
			})
		}
	}
	for name, why := range failed {
		if ctx.Err() != nil {
			// Stopped part way: Healing stays set, and the next watcher
			// finishes the heal.
			continue
		}
		w.update(ctx, name, func(rec *state.Health) {
			rec.Healing = ""
			rec.HealFailures++
			rec.LastError = "heal failed: " + why
			rec.BackoffUntil = w.cfg.Now().Add(backoff(w.cfg.Interval, rec.HealFailures))
		})
	}
}

// backoff is the wait after n failed heals in a row: two intervals, then
// doubling, at most maxBackoff.
func backoff(interval time.Duration, n int) time.Duration {
	d := 2 * interval
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// revive brings t's machine back (EC2 restart or replace; nothing for a
// setup) and waits until it answers. It returns what it did, for the
// history.
func (w *Watcher) revive(ctx context.Context, t target) (string, error) {
	m := t.member
	name := m.Name
	why := ""
	if rec := w.record(name); rec != nil && rec.LastError != "" {
		why = " (" + rec.LastError + ")"
	}
	id := m.Host.InstanceID()
	// old is the machine a replacement must differ from; a restarted or
	// set-up instance stays the same machine.
	old := ""
	var did string
	switch t.mode {
	case stack.HealRestart:
		if t.resume {
			did = fmt.Sprintf("%s: restart of %s resumed%s", name, id, why)
			break
		}
		w.log.Warn("healing: restarting the EC2 instance", "host", name, "instance", id)
		if err := w.cfg.Cloud.Restart(ctx, id); err != nil {
			return "", err
		}
		did = fmt.Sprintf("%s: restarted EC2 instance %s%s", name, id, why)
	case stack.HealReplace:
		// A replacement left part way whose old instance no longer runs
		// has its new machine under the name, which is all up needs; one
		// whose old instance still runs was never begun.
		if t.resume && !w.running(ctx, id) {
			did = fmt.Sprintf("%s: replacement of %s resumed%s", name, id, why)
			break
		}
		w.log.Warn("healing: replacing the EC2 instance", "host", name, "instance", id)
		if m.Host != nil {
			old = lifecycle.Machine(m.Host)
		}
		newID, err := w.cfg.Cloud.Replace(ctx, id, launchToken(id, w.record(name)))
		if err != nil {
			return "", err
		}
		did = fmt.Sprintf("%s: replaced EC2 instance %s with %s%s", name, id, newID, why)
	default:
		w.log.Warn("healing: setting the instance up again", "host", name)
		did = fmt.Sprintf("%s: set up again%s", name, why)
	}
	if _, err := w.answering(ctx, name, old); err != nil {
		return "", err
	}
	return did, nil
}

// running reports whether EC2 says the instance runs.
func (w *Watcher) running(ctx context.Context, id string) bool {
	st, err := w.cfg.Cloud.State(ctx, id)
	return err == nil && st == "running"
}

// launchToken makes a replacement's launch idempotent: the same failed
// instance and heal attempt always ask for the same launch, so a watcher
// that dies after asking and retries does not launch a second one.
func launchToken(id string, rec *state.Health) string {
	n := 0
	if rec != nil {
		n = rec.HealFailures
	}
	sum := sha256.Sum256([]byte(id + "/" + strconv.Itoa(n)))
	return "opsrun-heal-" + hex.EncodeToString(sum[:12])
}

// answering waits until the inventory lists name on a machine other than
// notMachine ("" for any) and it answers an SSH round trip.
func (w *Watcher) answering(ctx context.Context, name, notMachine string) (*inventory.Host, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.AnswerWait)
	defer cancel()
	last := errors.New("not listed by the inventory yet")
	for {
		hosts, err := w.cfg.Resolve(ctx)
		if err != nil {
			last = err
		}
		for _, h := range hosts {
			if h.Name != name || (notMachine != "" && lifecycle.Machine(h) == notMachine) {
				continue
			}
			if err := roundTrip(ctx, w.cfg.Dialer, h); err != nil {
				last = err
				break
			}
			return h, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s did not answer within %s: %w", name, w.cfg.AnswerWait, last)
		case <-time.After(answerPoll):
		}
	}
}

func roundTrip(ctx context.Context, d transport.Dialer, h *inventory.Host) error {
	conn, err := d.Dial(ctx, h)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Run(ctx, transport.Cmd{Command: "true"})
	if err != nil {
		return err
	}
	if res.ExitStatus != 0 {
		return fmt.Errorf("%s: true exited %d", h.Name, res.ExitStatus)
	}
	return nil
}

// alert records an unhealthy instance of an alert-only layer in the
// history, once per unhealthy_after while it stays unhealthy.
func (w *Watcher) alert(ctx context.Context, t target) {
	rec := w.record(t.member.Name)
	note := fmt.Sprintf("alert: %s unhealthy since %s: %s (auto_healing = \"alert\": nothing changed)",
		t.member.Name, rec.FailingSince.Local().Format(time.RFC3339), rec.LastError)
	w.log.Error("ALERT: "+note, "host", t.member.Name)
	runID := ""
	if w.cfg.Record != nil {
		var err error
		if runID, err = w.cfg.Record(ctx, note); err != nil {
			w.log.Error("could not record the alert in the history", "err", err)
		}
	}
	w.update(ctx, t.member.Name, func(rec *state.Health) {
		rec.LastHeal, rec.LastHealRun = w.cfg.Now(), runID
		rec.BackoffUntil = w.cfg.Now().Add(w.cfg.UnhealthyAfter)
	})
}

// record is a copy of name's record, nil when it has none.
func (w *Watcher) record(name string) *state.Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := w.recs[name]
	if rec == nil {
		return nil
	}
	c := *rec
	return &c
}

// update changes name's record and saves it at once: a heal's progress
// must survive the watcher.
func (w *Watcher) update(ctx context.Context, name string, change func(*state.Health)) {
	w.mu.Lock()
	rec := w.recs[name]
	if rec == nil {
		rec = &state.Health{Host: name}
		w.recs[name] = rec
	}
	change(rec)
	c := *rec
	w.mu.Unlock()
	if err := w.cfg.Store.SaveHealths(context.WithoutCancel(ctx), []*state.Health{&c}, nil); err != nil {
		w.log.Error("could not save the instance's health record", "host", name, "err", err)
	}
}
