package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Config is what a Watcher works with.
type Config struct {
	Stack  *stack.Stack
	Store  *state.Store
	Dialer transport.Dialer
	// Resolve lists the stack's instances now (the inventory, EC2's
	// included); it is called every round, so instances that come and go
	// are seen.
	Resolve func(ctx context.Context) ([]*inventory.Host, error)
	// Cloud heals EC2 instances; nil when the stack has none (its
	// instances are healed as static hosts).
	Cloud Cloud
	// Converge runs opsrun up with Reset (setup and the apps' last
	// releases on those instances, configure everywhere) the way any run
	// goes: under the stack's lock, recorded in the history. It returns
	// the run's id, and an error when the run did not complete.
	Converge func(ctx context.Context, reset []string, note string) (runID string, err error)
	// Record writes a history entry for an alert, changing nothing.
	Record func(ctx context.Context, note string) (runID string, err error)
	// Metrics receives each round's samples; nil sends them nowhere. Its
	// error is logged: a metrics outage does not stop the health checks.
	Metrics func(ctx context.Context, results []Result, layers []LayerMetrics, at time.Time) error

	// Interval and UnhealthyAfter of 0, and a negative MaxHealing, take
	// the stack's watch block (MaxHealing 0 heals nothing).
	Interval       time.Duration
	UnhealthyAfter time.Duration
	MaxHealing     int
	Forks          int
	// AnswerWait bounds the wait for a healed instance to answer over SSH
	// before it is converged; 0 means 10 minutes.
	AnswerWait time.Duration
	// Me is this watcher's identity in the lease (state.Me).
	Me     state.Lock
	Logger *slog.Logger
	Now    func() time.Time
}

// Round is what one round saw and did.
type Round struct {
	At time.Time
	// Leader is false when another watcher holds the lease; then nothing
	// else was done and Holder names it.
	Leader bool
	Holder string
	// Checked are the instances judged; Unhealthy those failing now, with
	// why.
	Checked   int
	Unhealthy map[string]string
	// Healing are the instances whose heal this round started.
	Healing []string
	// HeldBack says why due heals were not started, "" when none were.
	HeldBack string
}

// Watcher judges a stack's instances every interval and heals those of
// auto-healing layers that stay unhealthy. Only the lease holder acts.
type Watcher struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	recs    map[string]*state.Health // by host, loaded from the store
	loaded  bool
	healing map[string]bool // heals in flight
	wg      sync.WaitGroup

	// healCtx outlives a round: a heal under way is given time to finish
	// when the watcher is asked to stop.
	healCtx    context.Context
	cancelHeal context.CancelFunc
}

// New makes a watcher.
func New(cfg Config) *Watcher {
	ws := cfg.Stack.Settings.Watch
	if cfg.Interval <= 0 {
		cfg.Interval = ws.Interval
	}
	if cfg.UnhealthyAfter <= 0 {
		cfg.UnhealthyAfter = ws.UnhealthyAfter
	}
	if cfg.MaxHealing < 0 {
		cfg.MaxHealing = ws.MaxHealing
	}
	if cfg.AnswerWait <= 0 {
		cfg.AnswerWait = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Watcher{cfg: cfg, log: log, recs: map[string]*state.Health{}, healing: map[string]bool{}, healCtx: ctx, cancelHeal: cancel}
}

// Run rounds every interval until ctx ends, then gives a heal under way
// up to half an interval to finish before cancelling it, and hands the
// lease over. So a stopped watcher is gone within one interval.
func (w *Watcher) Run(ctx context.Context) error {
	defer func() {
		if err := w.cfg.Store.ReleaseLease(ctx, w.cfg.Me.RunID); err != nil {
			w.log.Error("could not release the watcher lease", "err", err)
		}
	}()
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		r, err := w.Round(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			w.log.Error("watch round failed", "err", err)
		default:
			w.logRound(r)
		}
		select {
		case <-ctx.Done():
			w.stop(w.cfg.Interval / 2)
			return nil
		case <-t.C:
		}
	}
}

// Wait blocks until every heal under way has ended.
func (w *Watcher) Wait() { w.wg.Wait() }

// stop lets heals under way run for grace, then cancels them and waits.
func (w *Watcher) stop(grace time.Duration) {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		w.log.Warn("stopping: cancelling the heal under way; the next watcher finishes it")
		w.cancelHeal()
		<-done
	}
	w.cancelHeal()
}

func (w *Watcher) logRound(r *Round) {
	if !r.Leader {
		w.log.Info("standby: another watcher leads this stack", "leader", r.Holder)
		return
	}
	attrs := []any{"checked", r.Checked, "unhealthy", len(r.Unhealthy)}
	if len(r.Healing) > 0 {
		attrs = append(attrs, "healing", strings.Join(r.Healing, ","))
	}
	w.log.Info("watch round", attrs...)
}

// Round takes or renews the lease and, as leader, checks every instance
// (an SSH round trip with the metrics sample and the layers' health
// checks), sends the metrics, updates each instance's record and starts
// the heals that are due.
func (w *Watcher) Round(ctx context.Context) (*Round, error) {
	cfg := w.cfg
	now := cfg.Now()
	r := &Round{At: now, Unhealthy: map[string]string{}}
	if _, err := cfg.Store.AcquireLease(ctx, cfg.Me, 3*cfg.Interval, now); err != nil {
		var le *state.LeasedError
		if errors.As(err, &le) {
			r.Holder = le.Lease.Holder.String()
			return r, nil
		}
		return nil, err
	}
	r.Leader = true
	if err := w.load(ctx); err != nil {
		return nil, err
	}
	hosts, err := cfg.Resolve(ctx)
	if err != nil {
		// Without the inventory nothing can be judged fairly.
		return nil, fmt.Errorf("list the stack's instances: %w", err)
	}
	members, err := cfg.Store.Members(ctx)
	if err != nil {
		return nil, err
	}
	// Collect logs nothing: what failed is logged below, once, as the
	// instance's health.
	results := Collect(ctx, cfg.Dialer, hosts, Options{Forks: cfg.Forks, Checks: w.checks()})
	if cfg.Metrics != nil {
		if err := cfg.Metrics(ctx, results, Aggregate(results), now); err != nil {
			w.log.Error("metrics not sent", "err", err)
		}
	}
	byName := map[string]Result{}
	for _, res := range results {
		byName[res.Host.Name] = res
	}

	// Instances going through a deploy or an up fail checks on purpose
	// (a service restarting, a target draining): while another run holds
	// the stack, nobody is judged.
	holder, err := cfg.Store.Holder(ctx)
	if err != nil {
		return nil, err
	}
	// EC2 is asked about the members its inventory no longer lists before
	// the records are locked: a heal under way saves to them meanwhile.
	unlisted := map[string]string{}
	if cfg.Cloud != nil && holder == nil {
		for _, m := range members {
			if _, listed := byName[m.Name]; !listed && !m.SetupAt.IsZero() && m.Host.InstanceID() != "" {
				unlisted[m.Name] = w.cloudProblem(ctx, m.Host.InstanceID())
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if holder != nil && len(w.healing) == 0 {
		r.HeldBack = fmt.Sprintf("run %s (%s) holds the stack: instances are not judged while it runs", holder.RunID, holder.Command)
		w.log.Info("not judging: "+r.HeldBack, "holder", holder.Who())
		return r, nil
	}
	var changed []*state.Health
	var judged []*state.Member
	resume := map[string]string{}
	current := map[string]bool{}
	for _, m := range members {
		current[m.Name] = true
		if m.SetupAt.IsZero() || w.healing[m.Name] {
			continue // not set up yet (opsrun up's business), or being healed
		}
		rec := w.recs[m.Name]
		if rec == nil {
			rec = &state.Health{Host: m.Name}
			w.recs[m.Name] = rec
		}
		res, inInventory := byName[m.Name]
		problem := ""
		switch {
		case inInventory:
			problem = res.Problem()
		case m.Host.InstanceID() != "" && cfg.Cloud != nil:
			problem = unlisted[m.Name]
			if problem == "" {
				continue // running but no longer selected: it left the stack
			}
		default:
			continue // a static host taken out of the inventory: it left
		}
		judged = append(judged, m)
		rec.LastCheck = now
		if rec.Healing != "" {
			// A heal a stopped watcher left part way is finished first.
			resume[m.Name] = rec.Healing
		}
		if problem == "" {
			if rec.Failures > 0 {
				w.log.Info("instance healthy again", "host", m.Name, "after_failures", rec.Failures)
			}
			rec.Failures, rec.FailingSince, rec.LastError = 0, time.Time{}, ""
			if !rec.LastHeal.IsZero() {
				rec.HealFailures, rec.BackoffUntil = 0, time.Time{}
			}
		} else {
			if rec.Failures == 0 {
				rec.FailingSince = now
			}
			rec.Failures++
			rec.LastError = problem
			r.Unhealthy[m.Name] = problem
			w.log.Warn("instance unhealthy", "host", m.Name, "failures", rec.Failures, "since", rec.FailingSince.Format(time.RFC3339), "problem", problem)
		}
		changed = append(changed, rec)
	}
	r.Checked = len(judged)
	var gone []string
	for name := range w.recs {
		if !current[name] && !w.healing[name] {
			gone = append(gone, name)
			delete(w.recs, name)
		}
	}
	if err := cfg.Store.SaveHealths(ctx, changed, gone); err != nil {
		return nil, err
	}

	due := w.due(judged, resume, now)
	if len(due) == 0 {
		return r, nil
	}
	if len(judged) > 1 && 2*len(r.Unhealthy) > len(judged) {
		// Most of the stack failing at once is likelier the watcher's own
		// network than the instances: healing would replace healthy
		// machines.
		r.HeldBack = fmt.Sprintf("%d of %d instances failed their checks at once: more than half, so this watcher assumes it is the one cut off and heals nothing", len(r.Unhealthy), len(judged))
		w.log.Error("NOT HEALING: "+r.HeldBack, "unhealthy", strings.Join(slices.Sorted(maps.Keys(r.Unhealthy)), ","))
		return r, nil
	}
	if len(w.healing) > 0 {
		r.HeldBack = "a heal is under way"
		return r, nil
	}
	if cfg.MaxHealing == 0 {
		r.HeldBack = "max_healing is 0"
		return r, nil
	}
	if len(due) > cfg.MaxHealing {
		r.HeldBack = fmt.Sprintf("%d due, max_healing is %d: the others wait for the next round", len(due), cfg.MaxHealing)
		due = due[:cfg.MaxHealing]
	}
	for _, t := range due {
		w.healing[t.member.Name] = true
		r.Healing = append(r.Healing, t.member.Name)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.heal(w.healCtx, due)
	}()
	return r, nil
}

// load reads the instances' records from the store once, so that a
// restarted watcher goes on counting where the last one stopped.
func (w *Watcher) load(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.loaded {
		return nil
	}
	recs, err := w.cfg.Store.Healths(ctx)
	if err != nil {
		return err
	}
	for k, v := range recs {
		w.recs[k] = v
	}
	w.loaded = true
	return nil
}

// checks are the layers' health check commands.
func (w *Watcher) checks() map[string]string {
	out := map[string]string{}
	for _, ly := range w.cfg.Stack.Layers {
		if ly.HealthCheck != nil {
			out[ly.Name] = lifecycle.CheckScript(ly.HealthCheck, nil, "")
		}
	}
	return out
}

// cloudProblem says why an EC2 member missing from the inventory is
// unhealthy, "" when EC2 says it runs (it was deselected: it left).
func (w *Watcher) cloudProblem(ctx context.Context, id string) string {
	st, err := w.cfg.Cloud.State(ctx, id)
	switch {
	case errors.Is(err, ErrNoInstance):
		return "EC2 no longer knows instance " + id
	case err != nil:
		return fmt.Sprintf("not in the inventory, and EC2 could not say why: %v", err)
	case st == "running":
		return ""
	}
	return fmt.Sprintf("instance %s is %s", id, st)
}

// target is one instance to heal and how.
type target struct {
	member *state.Member
	mode   string // stack.HealRestart, HealReplace, HealSetup or HealAlert
	resume bool   // finishing a heal a stopped watcher left
}

// due are the judged instances of auto-healing layers that failed for
// unhealthy_after and are not backing off, plus heals to resume, sorted
// by name.
func (w *Watcher) due(judged []*state.Member, resume map[string]string, now time.Time) []target {
	need := int((w.cfg.UnhealthyAfter + w.cfg.Interval - 1) / w.cfg.Interval)
	var out []target
	for _, m := range judged {
		rec := w.recs[m.Name]
		if mode, ok := resume[m.Name]; ok {
			out = append(out, target{member: m, mode: mode, resume: true})
			continue
		}
		mode := w.mode(m)
		if mode == "" || rec.Failures < max(need, 1) || now.Before(rec.BackoffUntil) {
			continue
		}
		out = append(out, target{member: m, mode: mode})
	}
	slices.SortFunc(out, func(a, b target) int { return strings.Compare(a.member.Name, b.member.Name) })
	return out
}

// modeRank orders heal modes when an instance's layers disagree: the
// strongest wins.
var modeRank = []string{stack.HealAlert, stack.HealSetup, stack.HealAuto, stack.HealRestart, stack.HealReplace}

// mode is how m is healed: its layers' strongest auto_healing, made
// concrete for what it is (an EC2 instance, or a static host that can
// only be set up again). "" means its layers do not heal.
func (w *Watcher) mode(m *state.Member) string {
	best := -1
	for _, name := range m.Layers {
		if ly := w.cfg.Stack.Layer(name); ly != nil && ly.AutoHealing != "" {
			best = max(best, slices.Index(modeRank, ly.AutoHealing))
		}
	}
	if best < 0 {
		return ""
	}
	mode := modeRank[best]
	ec2 := m.Host.InstanceID() != "" && w.cfg.Cloud != nil
	switch {
	case mode == stack.HealAlert || mode == stack.HealSetup:
		return mode
	case !ec2:
		return stack.HealSetup
	case mode == stack.HealAuto:
		return stack.HealRestart
	}
	return mode
}

// Config is the watcher's configuration, the stack's watch block filled in.
func (w *Watcher) Config() Config { return w.cfg }

// ID is this watcher's run id, which its lease carries.
func (w *Watcher) ID() string { return w.cfg.Me.RunID }
