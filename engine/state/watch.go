package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	leaderKey    = []byte("leader")
	healthPrefix = []byte("health\x00")
)

// Lease is the watcher leadership of a stack: only its holder heals. It
// lapses at Expires unless renewed, so a watcher whose machine died stops
// leading after a few intervals without anyone's help.
type Lease struct {
	Holder  Lock      `json:"holder"`
	Expires time.Time `json:"expires"`
}

// ErrLeased marks a lease held by another live watcher; the error is a
// *LeasedError naming it.
var ErrLeased = errors.New("another watcher leads the stack")

// LeasedError says which watcher leads.
type LeasedError struct {
	Lease Lease
}

func (e *LeasedError) Error() string {
	return fmt.Sprintf("%v: %s, lease until %s", ErrLeased, e.Lease.Holder, e.Lease.Expires.Local().Format(time.RFC3339))
}

func (e *LeasedError) Is(target error) bool { return target == ErrLeased }

// AcquireLease takes or renews the watcher lease for me until now+ttl.
// It succeeds when there is no lease, when it has expired, when me holds
// it (same run id), or when its holder is a dead process on this machine;
// otherwise it returns a *LeasedError.
func (s *Store) AcquireLease(ctx context.Context, me Lock, ttl time.Duration, now time.Time) (*Lease, error) {
	lease := &Lease{Holder: me, Expires: now.Add(ttl).UTC()}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWatch)
		if v := b.Get(leaderKey); v != nil {
			var held Lease
			if err := json.Unmarshal(v, &held); err != nil {
				return s.corrupt(fmt.Errorf("watcher lease: %w", err))
			}
			mine := held.Holder.RunID == me.RunID
			dead := held.Holder.Host == me.Host && !pidAlive(held.Holder.PID)
			if !mine && !dead && now.Before(held.Expires) {
				return &LeasedError{Lease: held}
			}
			if mine {
				lease.Holder.Started = held.Holder.Started
			}
		}
		v, err := json.Marshal(lease)
		if err != nil {
			return err
		}
		return b.Put(leaderKey, v)
	})
	if err != nil {
		return nil, err
	}
	return lease, nil
}

// ReleaseLease gives up the lease if runID still holds it. Like a run
// lock's release it ignores ctx's cancellation: a stopping watcher hands
// over at once rather than after the lease lapses.
func (s *Store) ReleaseLease(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWatch)
		v := b.Get(leaderKey)
		if v == nil {
			return nil
		}
		var held Lease
		if err := json.Unmarshal(v, &held); err == nil && held.Holder.RunID != runID {
			return nil
		}
		return b.Delete(leaderKey)
	})
}

// Leader is the current lease, expired or not; nil when there is none.
func (s *Store) Leader(ctx context.Context) (*Lease, error) {
	var lease *Lease
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketWatch)
		if b == nil {
			return nil
		}
		v := b.Get(leaderKey)
		if v == nil {
			return nil
		}
		lease = &Lease{}
		if err := json.Unmarshal(v, lease); err != nil {
			return s.corrupt(fmt.Errorf("watcher lease: %w", err))
		}
		return nil
	})
	return lease, err
}

// Health is what the watcher remembers of one instance between rounds,
// so that a restarted watcher goes on counting where it stopped.
type Health struct {
	Host string `json:"host"`
	// Machine identifies the machine behind the name (an EC2 instance id,
	// or address:port): a replaced machine starts afresh.
	Machine string `json:"machine,omitempty"`
	// Failures counts consecutive failed checks; FailingSince is the
	// first of them.
	Failures     int       `json:"failures,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastCheck    time.Time `json:"last_check,omitzero"`
	// HealFailures counts heals in a row that did not make the instance
	// healthy; the next is not tried before BackoffUntil.
	HealFailures int       `json:"heal_failures,omitempty"`
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
	LastHeal     time.Time `json:"last_heal,omitzero"`
	LastHealRun  string    `json:"last_heal_run,omitempty"`
	// Healing is the heal under way ("restart", "replace", "setup"), set
	// before the first change to the instance and cleared when the heal
	// ends, so a watcher that died part way finishes it.
	Healing string `json:"healing,omitempty"`
}

func healthKey(host string) []byte {
	return append(bytes.Clone(healthPrefix), host...)
}

// Healths are the watcher's records by host name; empty for a store not
// created yet.
func (s *Store) Healths(ctx context.Context) (map[string]*Health, error) {
	raw, err := s.values(ctx, bucketWatch, healthPrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Health, len(raw))
	for _, v := range raw {
		h := &Health{}
		if err := json.Unmarshal(v, h); err != nil {
			return nil, s.corrupt(fmt.Errorf("a watcher health record: %w", err))
		}
		out[h.Host] = h
	}
	return out, nil
}

// SaveHealths upserts and removes health records in one transaction.
func (s *Store) SaveHealths(ctx context.Context, upsert []*Health, remove []string) error {
	put := make(map[string][]byte, len(upsert))
	for _, h := range upsert {
		if err := checkKeyPart("host name", h.Host); err != nil {
			return err
		}
		v, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		put[h.Host] = v
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWatch)
		for host, v := range put {
			if err := b.Put(healthKey(host), v); err != nil {
				return err
			}
		}
		for _, host := range remove {
			if err := b.Delete(healthKey(host)); err != nil {
				return err
			}
		}
		return nil
	})
}
