// Package lifecycle is the OpsWorks behaviour of a stack over time: opsrun
// up (setup on instances that joined, shutdown on those that left,
// configure everywhere when membership changed), and an app's deploy,
// rollback and undeploy with Capistrano-style releases and rolling
// batches.
//
// Each operation is a sequence of phases, and each phase is an ordinary
// run of the scheduler (package run) over a stack derived from the real
// one: the app's release steps are generated as resources of the built-in
// types (directory, git, archive, file, command) placed before the
// layers' own deploy recipes. So check mode, diffs, sensitive values,
// retries, the report and the history work for a deploy exactly as for
// any run, from the same actions. The phases of one operation share their
// SSH connections and report as one run: one run_start, a phase event
// before each step, every task, and one recap at the end.
//
// What the hosts hold is mirrored in the state store (package state):
// members and whether their setup completed, the membership configure last
// completed for, and each app's releases per instance. The store is
// written after each phase from what the phase reported, so a run killed
// between phases leaves a store that says what was done, and the next run
// does the rest.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsrun/opsrun/engine/compile"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// Input is what an operation works on.
type Input struct {
	Stack    *stack.Stack
	Registry modules.Registry
	Dialer   transport.Dialer
	// Hosts are the stack's inventory: its instances now.
	Hosts []*inventory.Host
	Store *state.Store
	// Balancer takes instances out of their layers' ELBv2 target groups
	// around changes and puts them back (balancer.go); nil leaves load
	// balancers alone.
	Balancer Balancer
}

// Options say how to run an operation.
type Options struct {
	Check bool // probe and plan only; change nothing, record nothing
	Forks int
	RunID string
	// Emit receives every event of the operation, one at a time.
	Emit func(run.Event)
	// OnPlan is told each phase's compiled plan (progress totals).
	OnPlan func(*compile.Plan)
	// Stop, when closed, stops the operation gently: no new phase, host
	// or resource starts (see run.Options.Stop).
	Stop   <-chan struct{}
	Logger *slog.Logger
	// Now is the clock release ids are made from; nil means time.Now.
	Now func() time.Time
	// Reset names instances Up sets up again as though another machine had
	// joined under their names: setup, every app's last release, then
	// configure everywhere. It is how the watcher heals an instance that
	// was restarted or that stopped answering.
	Reset []string
}

// Outcome is a finished operation: the merged recap of its phases and a
// sentence on how it ended, for the report and the history.
type Outcome struct {
	Result *run.Result
	// Note says how it ended: "release 20261126T010203Z is current on 3
	// instances", "rollout stopped at batch 2 of 2 ...".
	Note string
	// Release is the release deployed or switched to, "" when none.
	Release string
}

// ErrStopped means the operation did not run all its phases: a batch
// failed beyond max_fail_percentage, or setup failed, so what depends on
// it was not attempted. The Outcome says what ran.
var ErrStopped = errors.New("stopped")

// session is one operation: its phases share connections and one recap.
type session struct {
	in     Input
	opts   Options
	log    *slog.Logger
	dialer *sharedDialer
	start  time.Time

	emitMu sync.Mutex // Emit receives events one at a time
	mu     sync.Mutex
	recaps map[string]*run.HostRecap
	order  []string
	// tasks are the statuses of generated steps by host and address, for
	// telling which hosts switched release.
	tasks map[string]map[string]string
	// outOfService are the hosts this operation took out of their target
	// groups and has not put back.
	outOfService map[string]bool
}

func newSession(in Input, opts Options) *session {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &session{in: in, opts: opts, log: log, start: time.Now(),
		recaps: map[string]*run.HostRecap{}, tasks: map[string]map[string]string{}, outOfService: map[string]bool{}}
	s.dialer = &sharedDialer{Dialer: in.Dialer, conns: map[string]*sharedConn{}}
	return s
}

func (s *session) emit(e run.Event) {
	if s.opts.Emit != nil {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		// Health checks report from a goroutine per host; the printers
		// and the history are told one event at a time.
		s.emitMu.Lock()
		defer s.emitMu.Unlock()
		s.opts.Emit(e)
	}
}

// begin emits the operation's run_start.
func (s *session) begin(event string, hosts int) {
	s.emit(run.Event{Type: run.TypeRunStart, RunID: s.opts.RunID, Stack: s.in.Stack.Name, Event: event, Check: s.opts.Check, Hosts: hosts})
}

// stopped reports whether Stop was closed or ctx ended: no new phase.
func (s *session) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-s.opts.Stop:
		return true
	default:
		return false
	}
}

// phase is one step: event on targets with st's recipes, topology from
// s.in.Hosts. It reports a phase event, then the run's tasks, and adds
// the run's recap to the operation's. Hosts in quiet are not counted
// unreachable (a departed instance that is gone is not a failure).
func (s *session) phase(ctx context.Context, msg string, st *stack.Stack, event string, targets []*inventory.Host, quiet map[string]bool) (*run.Result, error) {
	s.emit(run.Event{Type: run.TypePhase, Event: event, Hosts: len(targets), Message: msg})
	hosts := s.in.Hosts
	for _, t := range targets {
		if !slices.ContainsFunc(hosts, func(h *inventory.Host) bool { return h.Name == t.Name }) {
			hosts = append(slices.Clip(hosts), t)
		}
	}
	res, err := run.Run(ctx, run.Input{Stack: st, Registry: s.in.Registry, Dialer: s.dialer, Hosts: hosts, Targets: targets}, run.Options{
		Event: event, Check: s.opts.Check, Forks: s.opts.Forks, RunID: s.opts.RunID,
		Emit: s.forward, OnPlan: s.opts.OnPlan, Stop: s.opts.Stop, Logger: s.log,
	})
	if res != nil {
		s.add(res, quiet)
	}
	return res, err
}

// forward passes a phase's task events on; its start, recaps and end are
// replaced by the operation's own.
func (s *session) forward(e run.Event) {
	if e.Type != run.TypeTask {
		return
	}
	if e.Resource != "" {
		s.mu.Lock()
		if s.tasks[e.Host] == nil {
			s.tasks[e.Host] = map[string]string{}
		}
		s.tasks[e.Host][e.Resource] = e.Status
		s.mu.Unlock()
	}
	s.emit(e)
}

// status is the last status the resource at addr reported on host.
func (s *session) status(host, addr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tasks[host][addr]
}

func (s *session) add(res *run.Result, quiet map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range res.Hosts {
		if h.Unreachable > 0 {
			// The next phase dials afresh rather than reuse a dead link.
			s.dialer.drop(h.Host)
		}
		if quiet[h.Host] && h.Unreachable > 0 {
			continue
		}
		rc := s.recaps[h.Host]
		if rc == nil {
			rc = &run.HostRecap{Host: h.Host}
			s.recaps[h.Host] = rc
			s.order = append(s.order, h.Host)
		}
		un := rc.Unreachable
		rc.Add(h.Counts)
		rc.Unreachable = max(un, h.Unreachable)
		if rc.Err == nil {
			rc.Err = h.Err
		}
	}
}

// task reports a step the session runs itself (a health check) and
// counts it.
func (s *session) task(e run.Event) {
	e.Type = run.TypeTask
	s.mu.Lock()
	rc := s.recaps[e.Host]
	if rc == nil {
		rc = &run.HostRecap{Host: e.Host}
		s.recaps[e.Host] = rc
		s.order = append(s.order, e.Host)
	}
	switch e.Status {
	case run.StatusOK:
		rc.OK++
	case run.StatusChanged:
		rc.Changed++
	case run.StatusSkipped:
		rc.Skipped++
	case run.StatusFailed:
		rc.Failed++
		if rc.Err == nil {
			rc.Err = fmt.Errorf("%s: %s: %s", e.Host, e.Resource, e.Error)
		}
	}
	s.mu.Unlock()
	s.forward(e)
}

// finish emits the recaps and run_end and returns the merged result.
func (s *session) finish(event, note string) *run.Result {
	s.dialer.closeAll()
	res := &run.Result{}
	s.mu.Lock()
	// The recap lists hosts in inventory order, then any others (instances
	// that left), in the order they were met.
	rank := func(name string) int {
		if i := slices.IndexFunc(s.in.Hosts, func(h *inventory.Host) bool { return h.Name == name }); i >= 0 {
			return i
		}
		return len(s.in.Hosts)
	}
	slices.SortStableFunc(s.order, func(a, b string) int { return rank(a) - rank(b) })
	for _, name := range s.order {
		rc := s.recaps[name]
		res.Hosts = append(res.Hosts, rc)
		res.Totals.Add(rc.Counts)
	}
	s.mu.Unlock()
	for _, rc := range res.Hosts {
		c := rc.Counts
		ev := run.Event{Type: run.TypeHostRecap, Host: rc.Host, Counts: &c}
		if rc.Err != nil {
			ev.Error = rc.Err.Error()
		}
		s.emit(ev)
	}
	totals := res.Totals
	s.emit(run.Event{Type: run.TypeRunEnd, RunID: s.opts.RunID, Event: event, Check: s.opts.Check, Counts: &totals,
		DurationMS: time.Since(s.start).Milliseconds(), Message: note})
	return res
}

// healthy splits hosts by whether the operation has nothing against them
// so far: no failed task, reachable.
func (s *session) healthy(hosts []*inventory.Host) (ok, failed []*inventory.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hosts {
		if rc := s.recaps[h.Name]; rc != nil && (rc.Failed > 0 || rc.Unreachable > 0 || rc.Err != nil) {
			failed = append(failed, h)
			continue
		}
		ok = append(ok, h)
	}
	return ok, failed
}

// sharedDialer hands the phases of one operation the same connection per
// host: one SSH handshake per host for the whole operation.
type sharedDialer struct {
	transport.Dialer
	mu    sync.Mutex
	conns map[string]*sharedConn
}

type sharedConn struct {
	transport.Conn
	mu sync.Mutex // held while dialing
}

// Close leaves the connection open for the next phase; closeAll ends it.
func (c *sharedConn) Close() error { return nil }

func (d *sharedDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	d.mu.Lock()
	c := d.conns[h.Name]
	if c == nil {
		c = &sharedConn{}
		d.conns[h.Name] = c
	}
	d.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Conn != nil {
		return c, nil
	}
	conn, err := d.Dialer.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	c.Conn = conn
	return c, nil
}

// drop forgets a host's connection (it failed), so the next phase dials
// afresh.
func (d *sharedDialer) drop(name string) {
	d.mu.Lock()
	c := d.conns[name]
	delete(d.conns, name)
	d.mu.Unlock()
	if c != nil && c.Conn != nil {
		c.Conn.Close()
	}
}

func (d *sharedDialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, c := range d.conns {
		if c.Conn != nil {
			c.Conn.Close()
		}
		delete(d.conns, name)
	}
}

// names lists hosts' names for messages: "app-1, app-2".
func names(hosts []*inventory.Host) string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return strings.Join(out, ", ")
}

// inLayers are the hosts in any of layers, in inventory order.
func inLayers(hosts []*inventory.Host, layers []string) []*inventory.Host {
	var out []*inventory.Host
	for _, h := range hosts {
		if slices.ContainsFunc(layers, h.InLayer) {
			out = append(out, h)
		}
	}
	return out
}
