package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
)

// switchDialer runs on this machine for hosts that are up and refuses the
// others, as a dead instance would.
type switchDialer struct {
	local.Dialer
	mu   sync.Mutex
	down map[string]bool
}

func (d *switchDialer) set(name string, down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down[name] = down
}

func (d *switchDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	d.mu.Lock()
	down := d.down[h.Name]
	d.mu.Unlock()
	if down {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("dial tcp: connection refused: %w", transport.ErrUnreachable)}
	}
	return d.Dialer.Dial(ctx, h)
}

// fakeCloud is EC2 for the watcher: instances by id, each with a state;
// restart and replace bring the host back up.
type fakeCloud struct {
	mu       sync.Mutex
	states   map[string]string
	dialer   *switchDialer
	hosts    *[]*inventory.Host
	restarts []string
	replaces []string
}

func (c *fakeCloud) State(_ context.Context, id string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.states[id]
	if !ok {
		return "", ErrNoInstance
	}
	return st, nil
}

func (c *fakeCloud) Restart(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restarts = append(c.restarts, id)
	c.states[id] = "running"
	for _, h := range *c.hosts {
		if h.InstanceID() == id {
			c.dialer.set(h.Name, false)
		}
	}
	return nil
}

func (c *fakeCloud) Replace(_ context.Context, id, token string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replaces = append(c.replaces, id+" "+token)
	c.states[id] = "terminated"
	newID := id + "-new"
	c.states[newID] = "running"
	for _, h := range *c.hosts {
		if h.InstanceID() == id {
			h.Vars["instance_id"] = cty.StringVal(newID)
			c.dialer.set(h.Name, false)
		}
	}
	return newID, nil
}

// rig is a watcher over a stack of static or EC2 hosts on this machine.
type rig struct {
	t        *testing.T
	store    *state.Store
	dialer   *switchDialer
	cloud    *fakeCloud
	stack    *stack.Stack
	mu       sync.Mutex
	hosts    []*inventory.Host
	now      time.Time
	converge [][]string
	notes    []string
	alerts   []string
	failNext error
}

func newRig(t *testing.T, healing string, names ...string) *rig {
	t.Helper()
	r := &rig{t: t, store: state.New(state.DefaultPath(t.TempDir()), state.Options{}),
		dialer: &switchDialer{down: map[string]bool{}}, now: time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)}
	r.stack = &stack.Stack{Name: "s", Layers: []*stack.Layer{{Name: "app", AutoHealing: healing}, {Name: "db"}}}
	r.stack.Settings.Watch = stack.Watch{Interval: 10 * time.Second, UnhealthyAfter: 30 * time.Second, MaxHealing: 1}
	r.cloud = &fakeCloud{states: map[string]string{}, dialer: r.dialer, hosts: &r.hosts}
	var members []*state.Member
	for _, n := range names {
		name, layer, _ := strings.Cut(n, ":")
		h := &inventory.Host{Name: name, Address: "127.0.0.1", Port: 22, Layers: []string{layer}, Vars: map[string]cty.Value{}}
		if strings.HasPrefix(name, "ec2-") {
			id := "i-" + name
			h.Vars["instance_id"] = cty.StringVal(id)
			r.cloud.states[id] = "running"
		}
		r.hosts = append(r.hosts, h)
		c := *h
		members = append(members, &state.Member{Name: name, Layers: h.Layers, Host: &c, Joined: r.now, SetupAt: r.now})
	}
	if err := r.store.SaveMembers(context.Background(), members, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) watcher(runID string) *Watcher {
	return New(Config{
		Stack: r.stack, Store: r.store, Dialer: r.dialer, Cloud: r.cloud,
		Resolve: func(context.Context) ([]*inventory.Host, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			var out []*inventory.Host
			for _, h := range r.hosts {
				// EC2's inventory lists running instances only.
				if id := h.InstanceID(); id != "" && r.cloud.states[id] != "running" {
					continue
				}
				out = append(out, h)
			}
			return out, nil
		},
		Converge: func(_ context.Context, reset []string, note string) (string, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.converge = append(r.converge, slices.Clone(reset))
			r.notes = append(r.notes, note)
			err := r.failNext
			r.failNext = nil
			return fmt.Sprintf("run-%d", len(r.converge)), err
		},
		Record: func(_ context.Context, note string) (string, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.alerts = append(r.alerts, note)
			return "alert-run", nil
		},
		MaxHealing: -1,
		AnswerWait: 20 * time.Second,
		Me:         state.Me(runID, "opsrun watch"),
		Now:        func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now },
	})
}

// round advances the clock by one interval and runs a round, waiting for
// any heal it starts.
func (r *rig) round(w *Watcher) *Round {
	r.t.Helper()
	r.mu.Lock()
	r.now = r.now.Add(10 * time.Second)
	r.mu.Unlock()
	got, err := w.Round(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	w.Wait()
	return got
}

func (r *rig) converged() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.converge)
}

func TestWatcherHealsAStaticHostAfterUnhealthyAfter(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "db-1:db")
	w := r.watcher("w1")
	r.dialer.set("app-2", true)
	// unhealthy_after 30s over a 10s interval: three failed rounds.
	for i := 1; i <= 2; i++ {
		got := r.round(w)
		if !got.Leader || got.Checked != 3 || got.Unhealthy["app-2"] == "" || len(got.Healing) > 0 {
			t.Fatalf("round %d: %+v", i, got)
		}
	}
	// The host comes back by itself before the third round? No: it stays
	// down, so the third round heals it; a static host is set up again
	// once it answers.
	go func() {
		time.Sleep(500 * time.Millisecond)
		r.dialer.set("app-2", false)
	}()
	got := r.round(w)
	if !slices.Equal(got.Healing, []string{"app-2"}) {
		t.Fatalf("third round healing %v, want app-2 (%+v)", got.Healing, got)
	}
	if c := r.converged(); len(c) != 1 || !slices.Equal(c[0], []string{"app-2"}) {
		t.Fatalf("converge calls %v, want [[app-2]]", c)
	}
	if !strings.Contains(r.notes[0], "app-2: set up again") || !strings.Contains(r.notes[0], "connection refused") {
		t.Errorf("history note %q", r.notes[0])
	}
	recs, err := r.store.Healths(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec := recs["app-2"]; rec == nil || rec.Failures != 0 || rec.LastHealRun != "run-1" || rec.Healing != "" {
		t.Fatalf("app-2 record after the heal: %+v", rec)
	}
	// Healthy now: nothing more.
	if got := r.round(w); len(got.Unhealthy) != 0 || len(got.Healing) != 0 {
		t.Fatalf("after the heal: %+v", got)
	}
}

func TestWatcherLeavesLayersWithoutAutoHealing(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "db-1:db", "db-2:db")
	w := r.watcher("w1")
	r.dialer.set("db-2", true)
	for range 5 {
		if got := r.round(w); got.Unhealthy["db-2"] == "" {
			t.Fatalf("db-2 not seen unhealthy: %+v", got)
		}
	}
	if c := r.converged(); len(c) != 0 {
		t.Fatalf("a layer without auto_healing was healed: %v", c)
	}
}

func TestWatcherRestartsAnEC2Instance(t *testing.T) {
	r := newRig(t, stack.HealAuto, "ec2-a:app", "ec2-b:app", "ec2-c:app")
	w := r.watcher("w1")
	// The instance stopped: EC2's inventory no longer lists it, and the
	// watcher asks EC2 why.
	r.cloud.mu.Lock()
	r.cloud.states["i-ec2-b"] = "stopped"
	r.cloud.mu.Unlock()
	r.dialer.set("ec2-b", true)
	var got *Round
	for range 3 {
		got = r.round(w)
	}
	if !strings.Contains(got.Unhealthy["ec2-b"], "stopped") && len(got.Healing) == 0 {
		t.Fatalf("round: %+v", got)
	}
	if !slices.Equal(got.Healing, []string{"ec2-b"}) || !slices.Equal(r.cloud.restarts, []string{"i-ec2-b"}) {
		t.Fatalf("healing %v, restarts %v", got.Healing, r.cloud.restarts)
	}
	if c := r.converged(); len(c) != 1 || !slices.Equal(c[0], []string{"ec2-b"}) {
		t.Fatalf("converge %v", c)
	}
}

func TestWatcherReplacesAnEC2Instance(t *testing.T) {
	r := newRig(t, stack.HealReplace, "ec2-a:app", "ec2-b:app")
	w := r.watcher("w1")
	r.cloud.mu.Lock()
	r.cloud.states["i-ec2-a"] = "stopped"
	r.cloud.mu.Unlock()
	r.dialer.set("ec2-a", true)
	for range 3 {
		r.round(w)
	}
	if len(r.cloud.replaces) != 1 || !strings.HasPrefix(r.cloud.replaces[0], "i-ec2-a opsrun-heal-") {
		t.Fatalf("replaces %v", r.cloud.replaces)
	}
	if !strings.Contains(r.notes[0], "replaced EC2 instance i-ec2-a with i-ec2-a-new") {
		t.Errorf("note %q", r.notes[0])
	}
}

func TestWatcherHealsNothingWhenMostOfTheStackFails(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "app-3:app")
	w := r.watcher("w1")
	r.dialer.set("app-1", true)
	r.dialer.set("app-2", true)
	var got *Round
	for range 6 {
		got = r.round(w)
	}
	if len(got.Unhealthy) != 2 || !strings.Contains(got.HeldBack, "2 of 3 instances failed") || !strings.Contains(got.HeldBack, "heals nothing") {
		t.Fatalf("round: %+v", got)
	}
	if c := r.converged(); len(c) != 0 {
		t.Fatalf("healed while cut off: %v", c)
	}
	// One comes back: one of three failing is no longer most, and the
	// other, long due, is healed.
	r.dialer.set("app-1", false)
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.dialer.set("app-2", false)
	}()
	got = r.round(w)
	if !slices.Equal(got.Healing, []string{"app-2"}) {
		t.Fatalf("after recovery: %+v", got)
	}
}

func TestWatcherBacksOffAfterAFailedHeal(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "app-3:app")
	w := r.watcher("w1")
	r.mu.Lock()
	r.failNext = errors.New("setup failed on app-2")
	r.mu.Unlock()
	for range 3 {
		r.round(w) // all healthy: nothing due
	}
	r.dialer.set("app-2", true)
	for range 2 {
		r.round(w)
	}
	// Due, but setup needs it to answer: it answers, and the converge
	// fails.
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.dialer.set("app-2", false)
	}()
	if got := r.round(w); len(got.Healing) != 1 {
		t.Fatalf("third failing round: %+v", got)
	}
	recs, _ := r.store.Healths(context.Background())
	rec := recs["app-2"]
	if rec.HealFailures != 1 || !rec.BackoffUntil.Equal(r.now.Add(20*time.Second)) || !strings.Contains(rec.LastError, "setup failed on app-2") {
		t.Fatalf("record after a failed heal: %+v", rec)
	}
	if got := backoff(10*time.Second, 3); got != 80*time.Second {
		t.Errorf("backoff after 3 failures = %s, want 80s", got)
	}
	if got := backoff(time.Minute, 20); got != time.Hour {
		t.Errorf("backoff is not capped: %s", got)
	}
}

func TestWatcherOnlyTheLeaderActs(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app")
	first, second := r.watcher("w1"), r.watcher("w2")
	if got := r.round(first); !got.Leader {
		t.Fatalf("first watcher: %+v", got)
	}
	got := r.round(second)
	if got.Leader || got.Checked != 0 || !strings.Contains(got.Holder, "w1") {
		t.Fatalf("second watcher: %+v", got)
	}
}

func TestWatcherResumesAHealFromTheStore(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "app-3:app")
	// A watcher died after it had started setting app-2 up again.
	err := r.store.SaveHealths(context.Background(), []*state.Health{{Host: "app-2", Failures: 3, Healing: stack.HealSetup, LastError: "connect: refused"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.round(r.watcher("w2"))
	if !slices.Equal(got.Healing, []string{"app-2"}) {
		t.Fatalf("round: %+v", got)
	}
	if c := r.converged(); len(c) != 1 || !slices.Equal(c[0], []string{"app-2"}) {
		t.Fatalf("converge %v", c)
	}
}

func TestWatcherAlertOnly(t *testing.T) {
	r := newRig(t, stack.HealAlert, "app-1:app", "app-2:app", "app-3:app")
	w := r.watcher("w1")
	r.dialer.set("app-3", true)
	for range 3 {
		r.round(w)
	}
	if len(r.alerts) != 1 || !strings.Contains(r.alerts[0], "alert: app-3 unhealthy since") {
		t.Fatalf("alerts %q", r.alerts)
	}
	if c := r.converged(); len(c) != 0 {
		t.Fatalf("alert mode changed something: %v", c)
	}
	// Not again until another unhealthy_after has passed.
	r.round(w)
	if len(r.alerts) != 1 {
		t.Fatalf("alerted again at once: %q", r.alerts)
	}
}

func TestWatcherLayerHealthCheck(t *testing.T) {
	r := newRig(t, "", "app-1:app", "db-1:db")
	r.stack.Layers[0].HealthCheck = &stack.HealthCheck{Command: "echo 'port 8000 refused' >&2; exit 3", Timeout: 5 * time.Second}
	got := r.round(r.watcher("w1"))
	if p := got.Unhealthy["app-1"]; !strings.Contains(p, "layer app health check failed: port 8000 refused") {
		t.Fatalf("app-1 problem %q (%+v)", p, got)
	}
	if _, ok := got.Unhealthy["db-1"]; ok {
		t.Fatalf("db-1 has no check but is unhealthy: %+v", got)
	}
}

func TestWatcherMaxHealing(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "app-3:app", "app-4:app", "app-5:app")
	w := r.watcher("w1")
	r.dialer.set("app-1", true)
	r.dialer.set("app-2", true)
	r.round(w)
	r.round(w)
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.dialer.set("app-1", false)
	}()
	got := r.round(w)
	if !slices.Equal(got.Healing, []string{"app-1"}) || !strings.Contains(got.HeldBack, "max_healing is 1") {
		t.Fatalf("round: %+v", got)
	}
}

func TestWatcherDoesNotJudgeWhileARunHoldsTheStack(t *testing.T) {
	r := newRig(t, stack.HealAuto, "app-1:app", "app-2:app", "app-3:app")
	w := r.watcher("w1")
	held, err := r.store.Acquire(context.Background(), state.Me("deploy-1", "opsrun deploy shop"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r.dialer.set("app-2", true)
	for range 5 {
		got := r.round(w)
		if len(got.Unhealthy) != 0 || !strings.Contains(got.HeldBack, "run deploy-1 (opsrun deploy shop) holds the stack") {
			t.Fatalf("round during a deploy: %+v", got)
		}
	}
	if c := r.converged(); len(c) != 0 {
		t.Fatalf("healed during a deploy: %v", c)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Counting starts when the run is over.
	if got := r.round(w); got.Unhealthy["app-2"] == "" {
		t.Fatalf("after the deploy: %+v", got)
	}
	recs, _ := r.store.Healths(context.Background())
	if recs["app-2"].Failures != 1 {
		t.Fatalf("failures %d, want 1: rounds during the run must not count", recs["app-2"].Failures)
	}
}

// A replacement a stopped watcher left part way: when the old instance no
// longer runs, the new machine under the name is only converged; when it
// still runs, the replacement was never begun and is made now.
func TestWatcherResumesAReplacement(t *testing.T) {
	for _, c := range []struct {
		oldState string
		replaces int
	}{{"terminated", 0}, {"running", 1}} {
		t.Run(c.oldState, func(t *testing.T) {
			r := newRig(t, stack.HealReplace, "ec2-a:app", "ec2-b:app", "ec2-c:app")
			r.cloud.mu.Lock()
			r.cloud.states["i-ec2-a"] = c.oldState
			r.cloud.mu.Unlock()
			if c.oldState != "running" {
				// The replacement runs under the name, another machine.
				r.hosts[0].Vars["instance_id"] = cty.StringVal("i-ec2-a-new")
				r.cloud.mu.Lock()
				r.cloud.states["i-ec2-a-new"] = "running"
				r.cloud.mu.Unlock()
			}
			err := r.store.SaveHealths(context.Background(), []*state.Health{{Host: "ec2-a", Failures: 2, Healing: stack.HealReplace}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := r.round(r.watcher("w2"))
			if !slices.Equal(got.Healing, []string{"ec2-a"}) {
				t.Fatalf("round: %+v", got)
			}
			if len(r.cloud.replaces) != c.replaces {
				t.Errorf("replaces %v, want %d", r.cloud.replaces, c.replaces)
			}
			if cv := r.converged(); len(cv) != 1 || !slices.Equal(cv[0], []string{"ec2-a"}) {
				t.Errorf("converge %v", cv)
			}
		})
	}
}
