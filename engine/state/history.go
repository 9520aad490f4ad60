package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/opsrun/opsrun/engine/run"
)

// MaxRuns is how many runs the history keeps; older ones are pruned.
const MaxRuns = 1000

// Run outcomes.
const (
	OutcomeRunning     = "running" // started, not finished: in progress, or its process died
	OutcomeOK          = "ok"
	OutcomeFailed      = "failed"
	OutcomeUnreachable = "unreachable"
	OutcomeInterrupted = "interrupted"
)

// RunRecord is one run in the history. It holds counts, errors and the
// summaries of what changed — never diffs and never command output.
type RunRecord struct {
	ID      string `json:"id"`
	Stack   string `json:"stack,omitempty"`
	Event   string `json:"event"`
	Command string `json:"command,omitempty"`
	Check   bool   `json:"check"`
	Layer   string `json:"layer,omitempty"`
	Hosts   string `json:"hosts,omitempty"` // the --hosts pattern
	// App and Release are the app a deploy, rollback or undeploy acted on
	// and the release it deployed or switched to.
	App      string    `json:"app,omitempty"`
	Release  string    `json:"release,omitempty"`
	Who      string    `json:"who"` // USER@HOST
	PID      int       `json:"pid,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Outcome  string    `json:"outcome"`
	// Note says more about the outcome: "process died", why it failed.
	Note    string       `json:"note,omitempty"`
	Totals  run.Counts   `json:"totals"`
	Recap   []HostRecord `json:"recap,omitempty"`
	Changes []Change     `json:"changes,omitempty"`
}

// Duration is how long the run took (so far, when it has not finished).
func (r *RunRecord) Duration() time.Duration {
	if r.Finished.IsZero() {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

// OutcomeText is the outcome with its note: "interrupted (process died)".
func (r *RunRecord) OutcomeText() string {
	if r.Note != "" && r.Outcome == OutcomeInterrupted {
		return r.Outcome + " (" + r.Note + ")"
	}
	return r.Outcome
}

// MarshalJSON adds duration in seconds.
func (r RunRecord) MarshalJSON() ([]byte, error) {
	type plain RunRecord
	return json.Marshal(struct {
		plain
		Duration float64 `json:"duration"`
	}{plain(r), r.Duration().Seconds()})
}

// HostRecord is one host's recap.
type HostRecord struct {
	Host string `json:"host"`
	run.Counts
	Error string `json:"error,omitempty"`
}

// Change is a resource that changed (or, in check mode, would have).
type Change struct {
	Host     string   `json:"host"`
	Layer    string   `json:"layer,omitempty"`
	Resource string   `json:"resource"`
	Handler  bool     `json:"handler,omitempty"`
	Actions  []string `json:"actions,omitempty"` // summaries, free of sensitive values
}

// Begin records a run as started (outcome "running"), so a run whose
// process dies still shows in the history. It prunes the oldest runs
// beyond MaxRuns.
func (s *Store) Begin(ctx context.Context, r *RunRecord) error {
	rec := *r
	rec.Outcome = OutcomeRunning
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := putRun(tx, &rec); err != nil {
			return err
		}
		return prune(tx.Bucket(bucketRuns), MaxRuns)
	})
}

// Finish records the run's end. It ignores ctx's cancellation: an
// interrupted run is recorded as such.
func (s *Store) Finish(ctx context.Context, r *RunRecord) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.update(ctx, func(tx *bolt.Tx) error { return putRun(tx, r) })
}

func putRun(tx *bolt.Tx, r *RunRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketRuns).Put([]byte(r.ID), v)
}

func getRun(b *bolt.Bucket, id string) (*RunRecord, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r RunRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	return &r, nil
}

// markDied marks a dead process's run interrupted, naming who found it.
func markDied(tx *bolt.Tx, id, by string) error {
	return markInterrupted(tx, id, "process died; lock broken by run "+by)
}

// markInterrupted marks a run still recorded as running interrupted.
func markInterrupted(tx *bolt.Tx, id, note string) error {
	b := tx.Bucket(bucketRuns)
	r, err := getRun(b, id)
	if err != nil || r == nil || r.Outcome != OutcomeRunning {
		return err
	}
	r.Outcome, r.Note = OutcomeInterrupted, note
	return putRun(tx, r)
}

// prune deletes the oldest runs (by start) beyond keep.
func prune(b *bolt.Bucket, keep int) error {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	if n <= keep {
		return nil
	}
	runs, err := all(b)
	if err != nil {
		return err
	}
	for _, r := range runs[min(keep, len(runs)):] {
		if err := b.Delete([]byte(r.ID)); err != nil {
			return err
		}
	}
	return nil
}

// all is every run, newest first.
func all(b *bolt.Bucket) ([]*RunRecord, error) {
	var raw [][]byte
	_ = b.ForEach(func(_, v []byte) error {
		raw = append(raw, v)
		return nil
	})
	return decodeRuns(raw)
}

// decodeRuns decodes records and sorts them newest first.
func decodeRuns(raw [][]byte) ([]*RunRecord, error) {
	runs := make([]*RunRecord, 0, len(raw))
	for _, v := range raw {
		var r RunRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("a run record: %w", err)
		}
		runs = append(runs, &r)
	}
	slices.SortStableFunc(runs, func(a, b *RunRecord) int {
		return cmp.Or(b.Started.Compare(a.Started), strings.Compare(b.ID, a.ID))
	})
	return runs, nil
}

// History is the recorded runs, newest first, at most limit (<=0: all).
// The records are copied out and the file closed before they are
// decoded, so a reader holds the file as briefly as it can.
func (s *Store) History(ctx context.Context, limit int) ([]*RunRecord, error) {
	var raw [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketRuns)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			raw = append(raw, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	runs, err := decodeRuns(raw)
	if err != nil {
		return nil, &CorruptError{Path: s.path, Err: err}
	}
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	return runs, nil
}

// ErrNoSuchRun marks a run id the history does not have; the error is an
// *UnknownRunError listing the latest ids.
var ErrNoSuchRun = errors.New("no such run")

// UnknownRunError is a run id not in the history.
type UnknownRunError struct {
	ID     string
	Latest []string // the newest ids, newest first
}

func (e *UnknownRunError) Error() string {
	if len(e.Latest) == 0 {
		return fmt.Sprintf("no run %q in the history: no run has been recorded", e.ID)
	}
	return fmt.Sprintf("no run %q in the history; the latest are: %s", e.ID, strings.Join(e.Latest, ", "))
}

func (e *UnknownRunError) Is(target error) bool { return target == ErrNoSuchRun }

// Show is one run's record, or an *UnknownRunError.
func (s *Store) Show(ctx context.Context, id string) (*RunRecord, error) {
	var rec *RunRecord
	var latest []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketRuns)
		if b == nil {
			return nil
		}
		var err error
		if rec, err = getRun(b, id); err != nil || rec != nil {
			return err
		}
		runs, err := all(b)
		for _, r := range runs[:min(5, len(runs))] {
			latest = append(latest, r.ID)
		}
		return err
	})
	if err != nil {
		return nil, s.corrupt(err)
	}
	if rec == nil {
		return nil, &UnknownRunError{ID: id, Latest: latest}
	}
	return rec, nil
}

// corrupt names the file when a record cannot be decoded.
func (s *Store) corrupt(err error) error {
	var ce *CorruptError
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return &CorruptError{Path: s.path, Err: err}
	}
	return err
}

// Recorder collects what a run's events tell the history: the resources
// that changed, by their action summaries. Diffs and errors of tasks are
// not kept. Emit is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	changes []Change
}

// Emit takes one run event.
func (c *Recorder) Emit(e run.Event) {
	if e.Type != run.TypeTask || e.Status != run.StatusChanged {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes = append(c.changes, Change{Host: e.Host, Layer: e.Layer, Resource: e.Resource, Handler: e.Handler, Actions: slices.Clone(e.Actions)})
}

// Finish fills rec's end from the run's result and error: outcome,
// totals, recap per host, changes. A host's error keeps a failed
// command's exit status but not its output.
func (c *Recorder) Finish(rec *RunRecord, res *run.Result, runErr error) {
	c.mu.Lock()
	rec.Changes = slices.Clone(c.changes)
	c.mu.Unlock()
	rec.Finished = time.Now().UTC()
	rec.Recap, rec.Totals = nil, run.Counts{}
	if res != nil {
		for _, h := range res.Hosts {
			hr := HostRecord{Host: h.Host, Counts: h.Counts}
			if h.Err != nil {
				hr.Error = withoutOutput(h.Err)
			}
			rec.Recap = append(rec.Recap, hr)
		}
		rec.Totals = res.Totals
	}
	switch {
	case errors.Is(runErr, run.ErrInterrupted):
		rec.Outcome = OutcomeInterrupted
	case runErr != nil:
		rec.Outcome, rec.Note = OutcomeFailed, withoutOutput(runErr)
	case rec.Totals.Unreachable > 0:
		rec.Outcome = OutcomeUnreachable
	case rec.Totals.Failed > 0:
		rec.Outcome = OutcomeFailed
	default:
		rec.Outcome = OutcomeOK
	}
}

// withoutOutput is err's message with a failed command's output cut.
func withoutOutput(err error) string {
	msg := err.Error()
	var ce *run.CommandError
	if errors.As(err, &ce) && ce.Stderr != "" {
		msg = strings.Replace(msg, ce.Error(), fmt.Sprintf("exit status %d (output not recorded)", ce.ExitStatus), 1)
	}
	return msg
}
