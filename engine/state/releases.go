package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxReleases is how many of an app's newest release records are kept
// whatever the placements; older ones go once no placement keeps them.
const MaxReleases = 20

// Release is one deploy of an app: the same id on every instance it reached.
type Release struct {
	App    string `json:"app"`
	ID     string `json:"id"`     // sortable: 20261126T010203Z (UTC), unique per app
	Source string `json:"source"` // described: "git https://…@main"
	Ref    string `json:"ref,omitempty"`
	// Commit is the git commit the ref resolved to, so an instance that
	// joins later gets the same code however the branch moved.
	Commit   string    `json:"commit,omitempty"`
	RunID    string    `json:"run_id"`
	Deployed time.Time `json:"deployed"`
}

// Placement is an app on one instance: its current release and the releases kept on disk.
type Placement struct {
	App     string   `json:"app"`
	Host    string   `json:"host"`
	Current string   `json:"current"` // release id; "" when none is current
	Kept    []string `json:"kept"`    // newest first (by id), includes Current
}

// ErrUnknownRelease marks a release that is not kept where it was asked
// for; the error is an *UnknownReleaseError.
var ErrUnknownRelease = errors.New("release not kept")

// UnknownReleaseError is a release asked to be current on a host that
// does not keep it.
type UnknownReleaseError struct {
	App, Host, ID string
	Kept          []string // what the host keeps, newest first
}

func (e *UnknownReleaseError) Error() string {
	if len(e.Kept) == 0 {
		return fmt.Sprintf("app %s has no release on %s, so release %q cannot be made current there: deploy the app to it first", e.App, e.Host, e.ID)
	}
	return fmt.Sprintf("app %s on %s does not keep release %q; it keeps: %s", e.App, e.Host, e.ID, strings.Join(e.Kept, ", "))
}

func (e *UnknownReleaseError) Is(target error) bool { return target == ErrUnknownRelease }

// appKey is the key of app's record named part (a host or a release id).
func appKey(app, part string) []byte {
	return []byte(app + "\x00" + part)
}

// appPrefix is what every key of app's records starts with.
func appPrefix(app string) []byte {
	return []byte(app + "\x00")
}

// RecordRelease stores rel and makes it current on hosts: its id goes
// into each host's Kept, which is then pruned to keep ids: the keep
// newest by id, plus Current if it is older (so rollbacks never lose the
// current one). Release records neither kept by a placement nor among the
// app's MaxReleases newest are deleted. One transaction.
func (s *Store) RecordRelease(ctx context.Context, rel *Release, hosts []string, keep int) error {
	if rel == nil {
		return errors.New("state store: no release to record")
	}
	if err := checkKeyPart("app name", rel.App); err != nil {
		return err
	}
	if err := checkKeyPart("release id", rel.ID); err != nil {
		return err
	}
	for _, h := range hosts {
		if err := checkKeyPart("host name", h); err != nil {
			return err
		}
	}
	v, err := json.Marshal(rel)
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketDeploys).Put(appKey(rel.App, rel.ID), v); err != nil {
			return err
		}
		b := tx.Bucket(bucketReleases)
		for _, h := range hosts {
			p, err := getPlacement(b, rel.App, h)
			if err != nil {
				return s.corrupt(err)
			}
			if p == nil {
				p = &Placement{App: rel.App, Host: h}
			}
			p.Current = rel.ID
			p.Kept = PruneKept(append(p.Kept, rel.ID), p.Current, keep)
			if err := putPlacement(b, p); err != nil {
				return err
			}
		}
		return s.corrupt(pruneDeploys(tx, rel.App))
	})
}

// SetCurrent makes current the given release per host (host -> id) for
// app, in one transaction; an id not in that host's Kept is an
// *UnknownReleaseError naming the host and the release, and nothing is
// written.
func (s *Store) SetCurrent(ctx context.Context, app string, current map[string]string) error {
	if err := checkKeyPart("app name", app); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReleases)
		// Sorted, so that of several unknown ids the same one is named
		// every time.
		hosts := slices.Sorted(maps.Keys(current))
		changed := make([]*Placement, 0, len(hosts))
		for _, h := range hosts {
			id := current[h]
			p, err := getPlacement(b, app, h)
			if err != nil {
				return s.corrupt(err)
			}
			if p == nil || !slices.Contains(p.Kept, id) {
				e := &UnknownReleaseError{App: app, Host: h, ID: id}
				if p != nil {
					e.Kept = p.Kept
				}
				return e
			}
			p.Current = id
			changed = append(changed, p)
		}
		// Nothing is written until every host has been checked; an error
		// above also rolls the transaction back.
		for _, p := range changed {
			if err := putPlacement(b, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// Placements are app's placements sorted by host (nil when none).
func (s *Store) Placements(ctx context.Context, app string) ([]*Placement, error) {
	raw, err := s.values(ctx, bucketReleases, appPrefix(app))
	if err != nil {
		return nil, err
	}
	var out []*Placement
	for _, v := range raw {
		p, err := decodePlacement(v)
		if err != nil {
			return nil, &CorruptError{Path: s.path, Err: err}
		}
		out = append(out, p)
	}
	return out, nil
}

// Releases are app's recorded releases, newest first.
func (s *Store) Releases(ctx context.Context, app string) ([]*Release, error) {
	raw, err := s.values(ctx, bucketDeploys, appPrefix(app))
	if err != nil {
		return nil, err
	}
	out := make([]*Release, 0, len(raw))
	// Keys run oldest id first.
	for _, v := range slices.Backward(raw) {
		var r Release
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, &CorruptError{Path: s.path, Err: fmt.Errorf("a release record: %w", err)}
		}
		out = append(out, &r)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// LastRelease is app's newest recorded release, or nil.
func (s *Store) LastRelease(ctx context.Context, app string) (*Release, error) {
	rels, err := s.Releases(ctx, app)
	if err != nil || len(rels) == 0 {
		return nil, err
	}
	return rels[0], nil
}

// ForgetApp removes app's placements on hosts (every host when hosts is
// nil); when no placement of the app is left, its releases go too. One
// transaction. A store not created yet is left uncreated.
func (s *Store) ForgetApp(ctx context.Context, app string, hosts []string) error {
	if err := checkKeyPart("app name", app); err != nil {
		return err
	}
	if ok, err := s.Exists(); err != nil || !ok {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReleases)
		if hosts == nil {
			if err := deletePrefix(b, appPrefix(app)); err != nil {
				return err
			}
		}
		for _, h := range hosts {
			if err := b.Delete(appKey(app, h)); err != nil {
				return err
			}
		}
		_, placed, err := kept(tx, app)
		if err != nil {
			return s.corrupt(err)
		}
		if !placed {
			return deletePrefix(tx.Bucket(bucketDeploys), appPrefix(app))
		}
		return s.corrupt(pruneDeploys(tx, app))
	})
}

// PruneKept is the pruning rule RecordRelease applies, exported so the
// code that deletes release directories on hosts applies the same rule:
// which of ids (any order) to keep given current and keep. The result is
// newest first: the keep newest ids, then current when it is older and
// among ids.
func PruneKept(ids []string, current string, keep int) (kept []string) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	slices.Reverse(sorted)
	kept = sorted[:min(max(keep, 0), len(sorted))]
	if current != "" && !slices.Contains(kept, current) && slices.Contains(sorted, current) {
		kept = append(kept, current)
	}
	return slices.Clip(kept)
}

func getPlacement(b *bolt.Bucket, app, host string) (*Placement, error) {
	v := b.Get(appKey(app, host))
	if v == nil {
		return nil, nil
	}
	return decodePlacement(v)
}

func decodePlacement(v []byte) (*Placement, error) {
	var p Placement
	if err := json.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("a placement record: %w", err)
	}
	return &p, nil
}

func putPlacement(b *bolt.Bucket, p *Placement) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(appKey(p.App, p.Host), v)
}

// deletePlacementsOn deletes every app's placement on host, then prunes
// the release records of the apps it had. An app left with no placement
// keeps its newest releases, so an instance that joins later can be given
// the last one.
func deletePlacementsOn(tx *bolt.Tx, host string) error {
	b := tx.Bucket(bucketReleases)
	var keys [][]byte
	_ = b.ForEach(func(k, _ []byte) error {
		if _, h, ok := bytes.Cut(k, []byte{0}); ok && string(h) == host {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
		app, _, _ := bytes.Cut(k, []byte{0})
		if err := pruneDeploys(tx, string(app)); err != nil {
			return err
		}
	}
	return nil
}

// kept is the set of app's release ids some placement keeps, and whether
// the app has a placement at all.
func kept(tx *bolt.Tx, app string) (ids map[string]bool, placed bool, err error) {
	prefix := appPrefix(app)
	ids = map[string]bool{}
	c := tx.Bucket(bucketReleases).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		p, err := decodePlacement(v)
		if err != nil {
			return nil, false, err
		}
		placed = true
		for _, id := range p.Kept {
			ids[id] = true
		}
	}
	return ids, placed, nil
}

// pruneDeploys deletes app's release records that no placement keeps and
// that are not among its MaxReleases newest.
func pruneDeploys(tx *bolt.Tx, app string) error {
	placed, _, err := kept(tx, app)
	if err != nil {
		return err
	}
	prefix := appPrefix(app)
	deploys := tx.Bucket(bucketDeploys)
	var ids []string
	dc := deploys.Cursor()
	for k, _ := dc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = dc.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	slices.Reverse(ids) // newest first
	for _, id := range ids[min(MaxReleases, len(ids)):] {
		if !placed[id] {
			if err := deploys.Delete(appKey(app, id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// deletePrefix deletes b's keys that start with prefix. The keys are
// collected first: deleting under a moving cursor can skip keys.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
