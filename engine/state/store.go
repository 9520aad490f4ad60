// Package state is a stack's memory between runs: the run lock, the run
// history, the stack's members and its app releases, kept in one embedded
// database file beside the stack (DIR/.opsrun/state.db by default).
//
// # Why bbolt
//
// The store is go.etcd.io/bbolt: pure Go (no cgo, so opsrun stays one
// static binary), one file, and ACID transactions over copy-on-write pages
// with two alternating meta pages: a commit writes new pages, fsyncs, then
// flips the meta page, so a process killed at any instant — SIGKILL
// mid-write included — leaves the last committed state readable, and the
// next run continues from it. modernc.org/sqlite would also be pure Go, but
// it is a transpiled C library of several megabytes for what is here a
// handful of keyed records.
//
// # Opened per transaction
//
// bbolt holds an exclusive flock on the file while a database is open
// (shared for a read-only one). A Store therefore opens the file only for
// the length of one transaction and closes it at once, never across a run:
// the run lock is a record in the store, not the flock, so a second opsrun
// can open the file, read who holds the stack and say so. Opening waits
// out another process's short transaction by retrying until the context
// ends.
//
// # Buckets
//
//	meta      schema version; "configured": the membership digest
//	          configure last completed for
//	lock      the one run lock record ("holder")
//	runs      run history: run id → JSON RunRecord, the last MaxRuns kept
//	members   the stack's instances: host name → JSON Member (layers,
//	          how to reach it, when it joined and completed setup)
//	releases  app placements: APP NUL HOST → JSON Placement (current
//	          release, releases kept on disk)
//	deploys   app releases: APP NUL ID → JSON Release, those some
//	          placement keeps plus the MaxReleases newest per app
//	watch     the watcher: "leader" → JSON Lease; "health" NUL HOST →
//	          JSON Health (consecutive failures, heal back-off)
//
// Every change is one short transaction, so a membership change and the
// placements it removes commit together. Buckets are created when
// missing: a store written before a bucket existed opens as it is, with
// the same schema version.
package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names.
var (
	bucketMeta     = []byte("meta")
	bucketLock     = []byte("lock")
	bucketRuns     = []byte("runs")
	bucketMembers  = []byte("members")
	bucketReleases = []byte("releases")
	bucketDeploys  = []byte("deploys")
	bucketWatch    = []byte("watch")
)

const schemaVersion = "1"

// DefaultPath is where a stack's store lives: DIR/.opsrun/state.db.
func DefaultPath(stackDir string) string {
	return filepath.Join(stackDir, ".opsrun", "state.db")
}

// ErrCorrupt marks a store file that cannot be read as one.
var ErrCorrupt = errors.New("state store is unreadable")

// CorruptError names the unreadable file and what to do about it.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state store %s is unreadable (%v): move it aside to start afresh (its run history and lock are lost) or restore it from a backup", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error        { return e.Err }
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Store is a stack's state file. It holds no open file between calls.
type Store struct {
	path string
	log  *slog.Logger
	// poll is how long one attempt to open the file waits for another
	// process's flock before it tries again.
	poll time.Duration
}

// Options tune a Store.
type Options struct {
	Logger *slog.Logger
}

// New returns the store at path; nothing is opened or created yet.
func New(path string, opts Options) *Store {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{path: path, log: log, poll: 50 * time.Millisecond}
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Exists reports whether the store's file has been created.
func (s *Store) Exists() (bool, error) {
	_, err := os.Stat(s.path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// open opens the file, creating it (and its directory, 0700) when
// writable, retrying while another process holds it.
func (s *Store) open(ctx context.Context, readOnly bool) (*bolt.DB, error) {
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
			return nil, fmt.Errorf("state store: %w", err)
		}
	}
	for {
		db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.poll, ReadOnly: readOnly})
		if err == nil {
			return db, nil
		}
		if !errors.Is(err, berrors.ErrTimeout) {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil, fmt.Errorf("state store: %w", err)
			}
			return nil, &CorruptError{Path: s.path, Err: err}
		}
		s.log.Debug("state store busy, retrying", "path", s.path)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("state store %s stayed busy: %w", s.path, context.Cause(ctx))
		}
	}
}

// update runs fn in one read-write transaction, creating the store and
// its buckets as needed.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) (err error) {
	db, err := s.open(ctx, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("state store %s: %w", s.path, cerr)
		}
	}()
	defer s.recoverCorrupt(&err)
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketLock, bucketRuns, bucketMembers, bucketReleases, bucketDeploys, bucketWatch} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get([]byte("schema")); v == nil {
			if err := meta.Put([]byte("schema"), []byte(schemaVersion)); err != nil {
				return err
			}
		} else if string(v) != schemaVersion {
			return fmt.Errorf("state store %s has schema %s; this opsrun knows schema %s", s.path, v, schemaVersion)
		}
		return fn(tx)
	})
}

// view runs fn in one read-only transaction. A store not created yet
// reads as empty: fn sees a nil tx.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) (err error) {
	ok, err := s.Exists()
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	if !ok {
		return fn(nil)
	}
	db, err := s.open(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	defer s.recoverCorrupt(&err)
	return db.View(fn)
}

// recoverCorrupt turns bbolt's panic on a damaged page into an error.
func (s *Store) recoverCorrupt(err *error) {
	if p := recover(); p != nil {
		*err = &CorruptError{Path: s.path, Err: fmt.Errorf("%v", p)}
	}
}

// bucket is tx's bucket name, or nil when tx or the bucket is absent.
func bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	if tx == nil {
		return nil
	}
	return tx.Bucket(name)
}
