package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

var lockKey = []byte("holder")

// Lock is who holds a stack: one run at a time per stack.
type Lock struct {
	User    string    `json:"user"`
	Host    string    `json:"host"` // the machine opsrun runs on
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	RunID   string    `json:"run_id"`
	Command string    `json:"command"` // e.g. "opsrun run setup"
}

// Who is USER@HOST.
func (l Lock) Who() string { return l.User + "@" + l.Host }

func (l Lock) String() string {
	return fmt.Sprintf("%s pid %d since %s (run %s: %s)", l.Who(), l.PID, l.Started.Local().Format(time.RFC3339), l.RunID, l.Command)
}

// Me is a lock for this process.
func Me(runID, command string) Lock {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return Lock{User: name, Host: host, PID: os.Getpid(), Started: time.Now().UTC(), RunID: runID, Command: command}
}

// ErrLocked marks a stack that another run holds; the error is a
// *LockedError naming the holder.
var ErrLocked = errors.New("stack locked")

// LockedError says who holds the stack.
type LockedError struct {
	Holder Lock
}

func (e *LockedError) Error() string        { return "stack locked by " + e.Holder.String() }
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Acquired is a lock this process holds.
type Acquired struct {
	Lock Lock
	// Broken is the lock of a dead process on this machine that was
	// removed to take this one (its run is marked interrupted), if any.
	Broken *Lock
	store  *Store
}

// pidAlive reports whether pid is a live process on this machine. EPERM
// means it exists under another user.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return !errors.Is(err, syscall.ESRCH)
}

// Acquire takes the stack's lock for me (its Started is set to the moment
// it is taken). When another run holds it,
// Acquire polls until wait has passed (0: fails at once) or ctx ends,
// then returns a *LockedError. A lock left by a dead process on this
// machine is broken: its run's history record is marked interrupted.
func (s *Store) Acquire(ctx context.Context, me Lock, wait time.Duration) (*Acquired, error) {
	deadline := time.Now().Add(wait)
	const every = 250 * time.Millisecond
	for {
		got, err := s.tryAcquire(ctx, me)
		if err == nil || !errors.Is(err, ErrLocked) {
			return got, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		s.log.Debug("stack locked, waiting", "path", s.path, "holder", err.Error())
		t := time.NewTimer(min(every, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (stopped waiting: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func (s *Store) tryAcquire(ctx context.Context, me Lock) (*Acquired, error) {
	// The lock starts when it is taken, not when the wait for it began.
	me.Started = time.Now().UTC()
	got := &Acquired{Lock: me, store: s}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLock)
		if v := b.Get(lockKey); v != nil {
			var held Lock
			if err := json.Unmarshal(v, &held); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("lock record: %w", err)}
			}
			if held.Host != me.Host || pidAlive(held.PID) {
				return &LockedError{Holder: held}
			}
			got.Broken = &held
			if err := markDied(tx, held.RunID, me.RunID); err != nil {
				return err
			}
		}
		v, err := json.Marshal(me)
		if err != nil {
			return err
		}
		return b.Put(lockKey, v)
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// Release drops the lock if this run still holds it (an unlock --force
// and another run may have taken it since). It ignores ctx's
// cancellation: the lock must go on every way out of a run.
func (a *Acquired) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return a.store.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLock)
		v := b.Get(lockKey)
		if v == nil {
			return nil
		}
		var held Lock
		if err := json.Unmarshal(v, &held); err == nil && held.RunID != a.Lock.RunID {
			return nil
		}
		return b.Delete(lockKey)
	})
}

// Holder is the current lock, or nil when the stack is free.
func (s *Store) Holder(ctx context.Context) (*Lock, error) {
	var held *Lock
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketLock)
		if b == nil {
			return nil
		}
		v := b.Get(lockKey)
		if v == nil {
			return nil
		}
		held = &Lock{}
		if err := json.Unmarshal(v, held); err != nil {
			return &CorruptError{Path: s.path, Err: fmt.Errorf("lock record: %w", err)}
		}
		return nil
	})
	return held, err
}

// Unlock removes the lock whoever holds it and returns what it removed
// (nil: there was none). The holder's run, if still recorded as running,
// is marked interrupted.
func (s *Store) Unlock(ctx context.Context) (*Lock, error) {
	if ok, err := s.Exists(); err != nil || !ok {
		return nil, err
	}
	var removed *Lock
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLock)
		v := b.Get(lockKey)
		if v == nil {
			return nil
		}
		removed = &Lock{}
		if err := json.Unmarshal(v, removed); err == nil {
			if err := markInterrupted(tx, removed.RunID, "lock removed by opsrun unlock --force"); err != nil {
				return err
			}
		}
		return b.Delete(lockKey)
	})
	return removed, err
}
