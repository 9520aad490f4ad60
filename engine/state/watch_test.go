package state

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	a := Me("watch-a", "opsrun watch")
	b := Me("watch-b", "opsrun watch")

	if _, err := s.AcquireLease(ctx, a, time.Minute, now); err != nil {
		t.Fatal(err)
	}
	// Another live watcher is refused while the lease runs, and told who
	// leads.
	_, err := s.AcquireLease(ctx, b, time.Minute, now.Add(30*time.Second))
	var le *LeasedError
	if !errors.Is(err, ErrLeased) || !errors.As(err, &le) || le.Lease.Holder.RunID != "watch-a" {
		t.Fatalf("second watcher: %v, want ErrLeased naming watch-a", err)
	}
	// The leader renews.
	got, err := s.AcquireLease(ctx, a, time.Minute, now.Add(50*time.Second))
	if err != nil || !got.Expires.Equal(now.Add(110*time.Second)) {
		t.Fatalf("renew: %+v, %v", got, err)
	}
	// A lapsed lease is taken over.
	if _, err := s.AcquireLease(ctx, b, time.Minute, now.Add(3*time.Minute)); err != nil {
		t.Fatalf("take over a lapsed lease: %v", err)
	}
	if l, err := s.Leader(ctx); err != nil || l.Holder.RunID != "watch-b" {
		t.Fatalf("leader = %+v, %v", l, err)
	}
	// Release by a non-holder leaves it; by the holder frees it.
	if err := s.ReleaseLease(ctx, "watch-a"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leader(ctx); l == nil {
		t.Fatal("a former leader's release dropped the current lease")
	}
	if err := s.ReleaseLease(ctx, "watch-b"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leader(ctx); l != nil {
		t.Fatalf("lease after release = %+v", l)
	}
}

func TestLeaseOfDeadWatcher(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now()
	dead := Me("watch-dead", "opsrun watch")
	dead.PID = deadPID(t)
	if _, err := s.AcquireLease(ctx, dead, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, Me("watch-new", "opsrun watch"), time.Minute, now); err != nil {
		t.Fatalf("a dead local watcher's lease must not block: %v", err)
	}
}

func TestHealths(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if got, err := s.Healths(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	since := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	err := s.SaveHealths(ctx, []*Health{
		{Host: "app-1", Machine: "i-1", Failures: 3, FailingSince: since, LastError: "connect: refused"},
		{Host: "app-2", Machine: "i-2"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Healths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := got["app-1"]; h == nil || h.Failures != 3 || !h.FailingSince.Equal(since) || h.Machine != "i-1" {
		t.Fatalf("app-1 = %+v", h)
	}
	if err := s.SaveHealths(ctx, nil, []string{"app-1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Healths(ctx); len(got) != 1 || got["app-2"] == nil {
		t.Fatalf("after remove: %v", got)
	}
	// Members are another bucket: the watcher's records never show up
	// as members.
	if ms, _ := s.Members(ctx); len(ms) != 0 {
		t.Fatalf("members = %v", ms)
	}
}
