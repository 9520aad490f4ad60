package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Up converges the stack to its inventory, as OpsWorks does when
// instances start and stop. Instances that joined get setup, then every
// app already deployed on the stack (as does any set-up instance still
// without one: a deploy that failed or was cut short in an earlier up).
// When membership changed, configure runs on every instance, so that
// recipes reading layer.NAME.instances (a load balancer's backends, a
// database's allowed clients) see the new membership. Instances that left
// are drained first that way — configure runs without them — and only then
// get their shutdown recipes (when they still answer) and are forgotten,
// so a load balancer stops sending them requests before they stop. When
// nothing changed, Up only checks that every instance answers.
func Up(ctx context.Context, in Input, opts Options) (*Outcome, error) {
	members, err := in.Store.Members(ctx)
	if err != nil {
		return nil, err
	}
	configured, err := in.Store.Configured(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]*state.Member{}
	for _, m := range members {
		known[m.Name] = m
	}
	var joined, replaced, reset []*inventory.Host
	current := membership(in.Hosts)
	for _, h := range in.Hosts {
		m := known[h.Name]
		switch {
		case m != nil && m.Host != nil && Machine(m.Host) != Machine(h):
			replaced = append(replaced, h)
			joined = append(joined, h)
		case m != nil && slices.Contains(opts.Reset, h.Name):
			reset = append(reset, h)
			replaced = append(replaced, h)
			joined = append(joined, h)
		case m == nil || m.SetupAt.IsZero() || !sameSet(m.Layers, h.Layers):
			joined = append(joined, h)
		}
	}
	var departed []*inventory.Host
	for _, m := range members {
		if _, ok := current[m.Name]; !ok && m.Host != nil {
			h := *m.Host
			h.Layers = m.Layers
			departed = append(departed, &h)
		}
	}
	digest := state.Digest(current)
	s := newSession(in, opts)
	s.begin("up", len(in.Hosts)+len(departed))
	out := &Outcome{}
	behind, err := s.behind(ctx, known, nil)
	if err != nil {
		return nil, err
	}
	if len(joined) == 0 && len(departed) == 0 && digest == configured && len(behind) == 0 {
		down := s.reach(ctx, in.Hosts)
		out.Note = fmt.Sprintf("nothing changed: %s, all reachable", report.Plural(len(in.Hosts), "instance"))
		if len(down) > 0 {
			out.Note = fmt.Sprintf("nothing changed, but %d of %s did not answer: %s", len(down), report.Plural(len(in.Hosts), "instance"), names(down))
		}
		out.Result = s.finish("up", out.Note)
		return out, nil
	}
	var notes []string
	if len(replaced) > 0 {
		// Another machine under a known name starts afresh: no setup
		// done, no release on it.
		if other := slices.DeleteFunc(slices.Clone(replaced), func(h *inventory.Host) bool { return slices.Contains(reset, h) }); len(other) > 0 {
			notes = append(notes, names(other)+": a new machine under a known name, set up as a new instance")
		}
		if len(reset) > 0 {
			notes = append(notes, names(reset)+": set up again from scratch, as asked")
		}
		if !s.opts.Check {
			var gone []string
			for _, h := range replaced {
				gone = append(gone, h.Name)
				delete(known, h.Name)
			}
			if err := in.Store.SaveMembers(ctx, nil, gone); err != nil {
				return nil, err
			}
		}
	}
	more, err := s.up(ctx, joined, departed, known, digest, configured)
	notes = append(notes, more...)
	out.Note = s.withELBNote(strings.Join(notes, "; "))
	out.Result = s.finish("up", out.Note)
	return out, err
}

// up runs the phases of a membership change and returns what each did.
func (s *session) up(ctx context.Context, joined, departed []*inventory.Host, known map[string]*state.Member, digest, configured string) ([]string, error) {
	var notes []string
	in := s.in
	var ready, failedSetup []*inventory.Host
	if len(joined) > 0 && !s.stopped(ctx) {
		now := s.opts.Now().UTC()
		var fresh []*state.Member
		for _, h := range joined {
			m := &state.Member{Name: h.Name, Layers: h.Layers, Host: h, Joined: now}
			if k := known[h.Name]; k != nil {
				m.Joined = k.Joined
			}
			fresh = append(fresh, m)
		}
		if !s.opts.Check {
			// Joined before setup: a run killed during setup leaves them
			// known but not set up, and the next up sets them up.
			if err := in.Store.SaveMembers(ctx, fresh, nil); err != nil {
				return notes, err
			}
		}
		if _, err := s.phase(ctx, fmt.Sprintf("setup on %s that joined: %s", report.Plural(len(joined), "instance"), names(joined)), in.Stack, "setup", joined, nil); err != nil {
			return notes, err
		}
		ready, failedSetup = s.healthy(joined)
		if len(failedSetup) > 0 {
			notes = append(notes, "setup failed on "+names(failedSetup)+": the next opsrun up tries again")
		}
		if !s.opts.Check && len(ready) > 0 {
			var done []*state.Member
			for _, m := range fresh {
				if slices.ContainsFunc(ready, func(h *inventory.Host) bool { return h.Name == m.Name }) {
					m.SetupAt = s.opts.Now().UTC()
					done = append(done, m)
				}
			}
			if err := in.Store.SaveMembers(ctx, done, nil); err != nil {
				return notes, err
			}
			notes = append(notes, "set up "+names(ready))
		}
	}
	// Every app already deployed goes to the set-up instances of its
	// layers that do not have it: those that just joined, and those whose
	// deploy failed or was cut short in an earlier up.
	behind, err := s.behind(ctx, known, ready)
	if err != nil {
		return notes, err
	}
	var deployErr error
	for _, b := range behind {
		if s.stopped(ctx) {
			break
		}
		dep, err := s.deploy(ctx, b.app, b.src, b.release, b.hosts, false)
		notes = append(notes, dep.Note)
		switch {
		case errors.Is(err, ErrStopped):
			// The instance stays without the app (the next up deploys it
			// again); the membership is still configured.
			deployErr = err
		case err != nil:
			return notes, err
		}
	}
	if !s.stopped(ctx) {
		// Instances that joined and serve no app go into their target
		// groups now; an app's went in after its deploy's health check.
		s.putBack(ctx, "setup", s.servingNoApp(ready))
	}
	if s.stopped(ctx) {
		return append(notes, "interrupted before configure"), run.ErrInterrupted
	}
	if len(joined) == 0 && len(departed) == 0 && digest == configured {
		return notes, deployErr
	}
	targets := slices.DeleteFunc(slices.Clone(in.Hosts), func(h *inventory.Host) bool { return slices.Contains(failedSetup, h) })
	msg := fmt.Sprintf("configure on every instance (%s) for the new membership", report.Plural(len(targets), "instance"))
	res, err := s.phase(ctx, msg, in.Stack, "configure", targets, nil)
	if err != nil {
		return notes, err
	}
	// Configure's own outcome decides: an instance whose deploy failed
	// earlier in this run is configured all the same.
	if res.Totals.Failed+res.Totals.Unreachable > 0 || len(failedSetup) > 0 {
		notes = append(notes, "configure did not complete everywhere: the next opsrun up runs it again")
		if len(departed) > 0 {
			// Still in some instance's configuration (a load balancer's,
			// say): stopping them now would fail requests.
			notes = append(notes, "left running until configure completes: "+names(departed))
		}
		return notes, deployErr
	}
	if !s.opts.Check {
		if err := in.Store.SetConfigured(ctx, digest); err != nil {
			return notes, err
		}
	}
	notes = append(notes, fmt.Sprintf("configured %s", report.Plural(len(targets), "instance")))
	// Drained: no remaining instance refers to the ones that left any
	// more, so their shutdown recipes can stop them.
	if len(departed) > 0 && !s.stopped(ctx) {
		more, err := s.leave(ctx, departed)
		notes = append(notes, more...)
		if err != nil {
			return notes, err
		}
	}
	return notes, deployErr
}

// leave runs shutdown on the instances that left (when they answer) and
// forgets those whose shutdown completed or that are gone.
func (s *session) leave(ctx context.Context, departed []*inventory.Host) ([]string, error) {
	var notes []string
	in := s.in
	// Out of the load balancers, drained, before the shutdown recipes stop
	// what serves; an instance that could not be taken out is left running.
	drained := s.deregister(ctx, "shutdown", departed)
	if len(drained) < len(departed) {
		held := slices.DeleteFunc(slices.Clone(departed), func(h *inventory.Host) bool { return slices.Contains(drained, h) })
		notes = append(notes, "could not take "+names(held)+" out of their target groups: not shut down, still remembered, the next opsrun up tries again")
		if departed = drained; len(departed) == 0 {
			return notes, nil
		}
	}
	quiet := map[string]bool{}
	for _, h := range departed {
		quiet[h.Name] = true
	}
	res, err := s.phase(ctx, fmt.Sprintf("shutdown on %s that left the inventory: %s", report.Plural(len(departed), "instance"), names(departed)), in.Stack, "shutdown", departed, quiet)
	if err != nil {
		return notes, err
	}
	var gone, kept []string
	for _, h := range res.Hosts {
		switch {
		case h.Unreachable > 0:
			gone = append(gone, h.Host)
			notes = append(notes, h.Host+" did not answer: forgotten without its shutdown recipes")
		case h.Failed == 0 && h.Err == nil:
			gone = append(gone, h.Host)
		default:
			kept = append(kept, h.Host)
		}
	}
	if len(kept) > 0 {
		notes = append(notes, "shutdown failed on "+strings.Join(kept, ", ")+": still remembered, the next opsrun up tries again")
	}
	if !s.opts.Check && len(gone) > 0 {
		if err := in.Store.SaveMembers(ctx, nil, gone); err != nil {
			return notes, err
		}
		notes = append(notes, "forgot "+strings.Join(gone, ", "))
	}
	return notes, nil
}

// catchUp is an app's last release and the instances that lack it.
type catchUp struct {
	app     *stack.App
	src     stack.AppSource
	release *state.Release
	hosts   []*inventory.Host
}

// behind finds, for each app already deployed, the instances of its layers
// whose setup completed (before this run, or in it: ready) that have no
// current release of it and have not failed in this run.
func (s *session) behind(ctx context.Context, known map[string]*state.Member, ready []*inventory.Host) ([]catchUp, error) {
	setUp := map[string]bool{}
	for name, m := range known {
		if !m.SetupAt.IsZero() {
			setUp[name] = true
		}
	}
	for _, h := range ready {
		setUp[h.Name] = true
	}
	var out []catchUp
	for _, a := range s.in.Stack.Apps {
		last, err := s.in.Store.LastRelease(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		if last == nil {
			continue // never deployed: opsrun deploy does the first
		}
		placed, err := s.currents(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		var hosts []*inventory.Host
		for _, h := range inLayers(s.in.Hosts, a.Layers) {
			if p := placed[h.Name]; setUp[h.Name] && (p == nil || p.Current == "") {
				hosts = append(hosts, h)
			}
		}
		if hosts, _ = s.healthy(hosts); len(hosts) == 0 {
			continue
		}
		// The same code as the instances that have the release: its
		// commit, or its tarball kept beside the store.
		src := a.Source
		if last.Ref != "" {
			src.Ref = last.Ref
		}
		if last.Commit != "" {
			src.Ref = last.Commit
		}
		out = append(out, catchUp{app: a, src: src, release: last, hosts: hosts})
	}
	return out, nil
}

// reach checks that every host answers a bare command, in parallel, and
// returns those that did not.
func (s *session) reach(ctx context.Context, hosts []*inventory.Host) []*inventory.Host {
	s.emit(run.Event{Type: run.TypePhase, Hosts: len(hosts), Message: fmt.Sprintf("membership unchanged: checking that %s answer", report.Plural(len(hosts), "instance"))})
	forks := s.opts.Forks
	if forks <= 0 {
		forks = len(hosts)
	}
	sem := make(chan struct{}, max(forks, 1))
	var mu sync.Mutex
	var down []*inventory.Host
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rc := &run.HostRecap{Host: h.Name}
			conn, err := s.dialer.Dial(ctx, h)
			if err == nil {
				_, err = conn.Run(ctx, transport.Cmd{Command: "true"})
			}
			if err != nil {
				rc.Unreachable, rc.Err = 1, err
				mu.Lock()
				down = append(down, h)
				mu.Unlock()
			}
			s.add(&run.Result{Hosts: []*run.HostRecap{rc}}, nil)
		}()
	}
	wg.Wait()
	// In inventory order, for a stable message.
	slices.SortFunc(down, func(a, b *inventory.Host) int {
		return slices.Index(hosts, a) - slices.Index(hosts, b)
	})
	return down
}

// membership is what configure is for: each instance's layers and
// machine. The machine is part of it: a replaced instance under the same
// name has another address the others must learn.
func membership(hosts []*inventory.Host) map[string][]string {
	out := map[string][]string{}
	for _, h := range hosts {
		out[h.Name] = append(slices.Clone(h.Layers), "@"+Machine(h))
	}
	return out
}

// Machine tells one machine from another under the same name: its EC2
// instance id when the inventory gives one, else where it is reached.
func Machine(h *inventory.Host) string {
	if id := h.InstanceID(); id != "" {
		return "id " + id
	}
	return fmt.Sprintf("ssh %s:%d", h.Addr(), h.Port)
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
