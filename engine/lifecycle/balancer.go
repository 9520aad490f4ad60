package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
)

// Balancer takes instances out of the ELBv2 target groups their layers
// name (stack.Layer.TargetGroups) and puts them back: package elb over
// the real API, or a test's recording. Operations call it around what
// they change on an instance: a deploy's or rollback's switch, undeploy,
// shutdown; and after an instance passes its health check.
type Balancer interface {
	// Deregister takes h out of targetGroups and returns once they have
	// drained it.
	Deregister(ctx context.Context, h *inventory.Host, targetGroups []string) error
	// Register puts h in targetGroups and returns once it passes their
	// health checks.
	Register(ctx context.Context, h *inventory.Host, targetGroups []string) error
}

// The report's addresses of the balancer's steps, one task per host.
const (
	elbDeregister = "elb.deregister"
	elbRegister   = "elb.register"
)

// targetGroups are the target groups of h's layers, each once, and the
// first of those layers, for the report.
func (s *session) targetGroups(h *inventory.Host) (groups []string, layer string) {
	for _, name := range h.Layers {
		ly := s.in.Stack.Layer(name)
		if ly == nil || len(ly.TargetGroups) == 0 {
			continue
		}
		if layer == "" {
			layer = name
		}
		for _, tg := range ly.TargetGroups {
			if !slices.Contains(groups, tg) {
				groups = append(groups, tg)
			}
		}
	}
	return groups, layer
}

// deregister takes hosts out of their target groups, in parallel, each
// waiting for draining, and reports an elb.deregister task per host that
// has target groups. It returns hosts less those whose deregistration
// failed: a load balancer may still send those requests, so they must
// not be touched.
func (s *session) deregister(ctx context.Context, event string, hosts []*inventory.Host) []*inventory.Host {
	failed := s.balance(ctx, event, hosts, false)
	return slices.DeleteFunc(slices.Clone(hosts), func(h *inventory.Host) bool { return slices.Contains(failed, h) })
}

// putBack registers those of hosts that have nothing against them in
// this operation (a failed task: the switch, the health check) in their
// target groups, and reports each of the others as staying out.
func (s *session) putBack(ctx context.Context, event string, hosts []*inventory.Host) {
	ok, failed := s.healthy(hosts)
	s.balance(ctx, event, ok, true)
	if s.in.Balancer == nil {
		return
	}
	for _, h := range failed {
		if groups, layer := s.targetGroups(h); len(groups) > 0 {
			s.task(run.Event{Host: h.Name, Layer: layer, Resource: elbRegister, Status: run.StatusSkipped,
				Reason: "stays out of its target groups: it failed in this operation"})
		}
	}
}

// balance deregisters (or registers) those of hosts that have target
// groups, in parallel, and returns those for which it failed. In check
// mode it reports what it would do and calls nothing.
func (s *session) balance(ctx context.Context, event string, hosts []*inventory.Host, register bool) (failed []*inventory.Host) {
	if s.in.Balancer == nil {
		return nil
	}
	hosts = slices.DeleteFunc(slices.Clone(hosts), func(h *inventory.Host) bool {
		groups, _ := s.targetGroups(h)
		return len(groups) == 0
	})
	if len(hosts) == 0 {
		return nil
	}
	addr, verb, call, msg := elbDeregister, "deregister from", s.in.Balancer.Deregister, "target groups: deregister %s and wait for draining"
	if register {
		addr, verb, call, msg = elbRegister, "register in", s.in.Balancer.Register, "target groups: register %s and wait until healthy there"
	}
	s.emit(run.Event{Type: run.TypePhase, Event: event, Hosts: len(hosts), Message: fmt.Sprintf(msg, names(hosts))})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range hosts {
		groups, layer := s.targetGroups(h)
		actions := make([]string, len(groups))
		for i, tg := range groups {
			actions[i] = verb + " " + tg
		}
		e := run.Event{Host: h.Name, Layer: layer, Resource: addr, Status: run.StatusChanged, Actions: actions}
		if s.opts.Check {
			s.task(e)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := call(ctx, h, groups)
			if err != nil {
				e.Status, e.Error = run.StatusFailed, err.Error()
				mu.Lock()
				failed = append(failed, h)
				mu.Unlock()
			}
			s.mu.Lock()
			switch {
			case err == nil:
				s.outOfService[h.Name] = !register
			case register:
				// Not serving; a failed deregistration leaves it as it was.
				s.outOfService[h.Name] = true
			}
			s.mu.Unlock()
			s.task(e)
		}()
	}
	wg.Wait()
	return failed
}

// servingNoApp are those of hosts in none of the apps' layers: their
// deploys do not put them in their target groups.
func (s *session) servingNoApp(hosts []*inventory.Host) []*inventory.Host {
	var out []*inventory.Host
	for _, h := range hosts {
		if !slices.ContainsFunc(s.in.Stack.Apps, func(a *stack.App) bool { return slices.ContainsFunc(a.Layers, h.InLayer) }) {
			out = append(out, h)
		}
	}
	return out
}

// withELBNote adds to note which hosts the operation left out of their
// target groups, when any.
func (s *session) withELBNote(note string) string {
	s.mu.Lock()
	var out []string
	for h, o := range s.outOfService {
		if o {
			out = append(out, h)
		}
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return note
	}
	slices.Sort(out)
	if note != "" {
		note += "; "
	}
	return note + "out of their load balancers' target groups: " + strings.Join(out, ", ")
}
