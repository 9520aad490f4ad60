package awsapi

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Backend runs the machines behind a Server's instances. The server keeps
// EC2's bookkeeping (ids, states and their reasons, tags, image, type,
// network, key) and calls the backend, in the background, for the work a
// transition needs; the instance stays in the transitional state (pending,
// stopping, shutting-down) until the call returns. A backend's methods
// block until the work is done or ctx ends. Calls for one instance never
// overlap; calls for different instances may.
type Backend interface {
	// Launch makes and starts a machine for inst, which RunInstances has
	// filled in (id, image, type, subnet, key, tags), and returns once it
	// runs, with what only the machine knows set: addresses, and
	// TagSSHPort where that is how it is reached. On failure it leaves no
	// machine behind.
	Launch(ctx context.Context, inst Instance) (Instance, error)
	// Stop stops inst's machine, keeping it for Start.
	Stop(ctx context.Context, inst Instance) error
	// Start starts inst's stopped machine and returns once it runs, with
	// its addresses (and TagSSHPort) as they are now.
	Start(ctx context.Context, inst Instance) (Instance, error)
	// Terminate removes inst's machine. An instance whose launch failed
	// has none, which is not an error.
	Terminate(ctx context.Context, inst Instance) error
	// Observe reports, by instance id, what the machines of insts (all
	// running or stopped as far as the server knows) are doing now. An
	// instance left out keeps its recorded state.
	Observe(ctx context.Context, insts []Instance) (map[string]Observation, error)
}

// Observation is the live state of one instance's machine.
type Observation struct {
	// State is "running", "stopped" (the machine is down) or "terminated"
	// (it is gone).
	State string
	// Reason says what happened when the machine is not running, e.g.
	// "container opsrun-demo-web-1 is exited: Exited (137) 2 seconds ago".
	Reason string
}

// EC2's instance states.
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
)

// State reason codes, as EC2 reports them.
const (
	reasonUserShutdown = "Client.UserInitiatedShutdown"
	reasonServerError  = "Server.InternalError"
)

// lifecycle is the part of a Server that changes instances. Its fields
// are guarded by Server.mu, except backend, log and bg, which are set
// once, before the server is shared.
type lifecycle struct {
	backend Backend
	log     *slog.Logger
	// bg is the context of background operations; Close cancels it.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool

	index map[string]int // instance id -> position in Server.instances
	// ops holds the last operation scheduled for an instance until it ends.
	ops map[string]*operation
	// revs counts every state change of an instance, so an observation
	// made before a change is not applied after it.
	revs   map[string]int
	tokens map[string]runRecord // RunInstances ClientToken -> what it made
	// ipSeq numbers the private IPs handed to launched instances.
	ipSeq int
}

// operation is one backend call in flight; done closes when it ends.
type operation struct{ done chan struct{} }

// NewWithBackend returns a server reporting instances, in order, whose
// instance operations run machines through b (see Backend): RunInstances
// answers with the new instances pending and launches them in the
// background, DescribeInstances reports each instance's state as its
// transition goes and, for settled instances, as b observes their
// machines (a machine that died is reported stopped, with its reason).
// Terminated instances stay listed for the life of the server, as EC2
// keeps them for a while. Close stops the background work.
func NewWithBackend(instances []Instance, b Backend, log *slog.Logger) *Server {
	s := New(instances)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.life.backend, s.life.log = b, log
	s.life.bg, s.life.cancel = context.WithCancel(context.Background())
	return s
}

// Close cancels the backend work in flight and waits for it to end;
// instance operations then answer Unavailable. It does not stop or remove
// any machine. A server without a backend has nothing to close.
func (s *Server) Close() {
	s.mu.Lock()
	s.life.closed = true
	cancel := s.life.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.life.wg.Wait()
}

// initLifecycle makes the lifecycle's maps on first use (s.mu held): New builds
// servers without them.
func (s *Server) initLifecycle() {
	l := &s.life
	if l.index != nil {
		return
	}
	l.index = make(map[string]int, len(s.instances))
	for i, inst := range s.instances {
		l.index[inst.ID] = i
	}
	l.ops = map[string]*operation{}
	l.revs = map[string]int{}
	l.tokens = map[string]runRecord{}
}

// find returns the instance with id (s.mu held, init done), nil if none.
func (s *Server) find(id string) *Instance {
	i, ok := s.life.index[id]
	if !ok {
		return nil
	}
	return &s.instances[i]
}

func cloneInstance(inst Instance) Instance { return cloneInstances([]Instance{inst})[0] }

// begin moves instance id to state via (s.mu held) and has work done for
// it: at once without a backend (work is not called and finish gets the
// instance itself and no error), else in the background once any
// operation still in flight for the instance has ended. finish records the
// outcome, with s.mu held; latest is false when another operation was
// scheduled for the instance meanwhile, whose own outcome then decides the
// state.
func (s *Server) begin(id, via string, work func(context.Context, Instance) (Instance, error), finish func(inst *Instance, res Instance, err error, latest bool)) {
	l := &s.life
	inst := s.find(id)
	inst.State = via
	l.revs[id]++
	if l.backend == nil {
		finish(inst, cloneInstance(*inst), nil, true)
		l.revs[id]++
		return
	}
	op := &operation{done: make(chan struct{})}
	prev := l.ops[id]
	l.ops[id] = op
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(op.done)
		if prev != nil {
			select {
			case <-prev.done:
			case <-l.bg.Done():
			}
		}
		s.mu.Lock()
		cur := cloneInstance(*s.find(id))
		s.mu.Unlock()
		res, err := work(l.bg, cur)
		if err != nil {
			l.log.Warn("instance operation failed", "instance", id, "state", via, "err", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		latest := l.ops[id] == op
		if latest {
			delete(l.ops, id)
		}
		finish(s.find(id), res, err, latest)
		l.revs[id]++
	}()
}

// takeMachine copies into inst what a backend reports of its machine.
func takeMachine(inst *Instance, res Instance) {
	inst.PrivateIP, inst.PrivateDNS = res.PrivateIP, res.PrivateDNS
	inst.PublicIP, inst.PublicDNS = res.PublicIP, res.PublicDNS
	inst.Tags = cloneInstance(res).Tags
}

// launch starts instance id's machine (s.mu held); if that fails, the
// instance is terminated, as EC2 does with a launch it cannot complete.
func (s *Server) launch(id string) {
	s.bringUp(id, func(ctx context.Context, inst Instance) (Instance, error) {
		return s.life.backend.Launch(ctx, inst)
	}, stateTerminated, "Internal error on launch: ")
}

func (s *Server) stop(id string, at time.Time) {
	s.begin(id, stateRules["StopInstances"].via, func(ctx context.Context, inst Instance) (Instance, error) {
		return inst, s.life.backend.Stop(ctx, inst)
	}, func(inst *Instance, _ Instance, err error, latest bool) {
		if !latest {
			return
		}
		if err != nil {
			// The machine was not stopped; Observe corrects this if it is
			// down after all.
			inst.State = stateRunning
			return
		}
		inst.State = stateStopped
		inst.StateReason = userShutdown()
		inst.StateTransitionReason = userInitiated(at)
	})
}

// start starts instance id's stopped machine (s.mu held); if that fails,
// the instance stays stopped, with the reason.
func (s *Server) start(id string) {
	s.bringUp(id, func(ctx context.Context, inst Instance) (Instance, error) {
		return s.life.backend.Start(ctx, inst)
	}, stateStopped, "the instance failed to start: ")
}

// bringUp takes instance id through pending to running by work (Launch
// or Start), recording its machine's addresses, or to failState with a
// server reason starting with failWhy.
func (s *Server) bringUp(id string, work func(context.Context, Instance) (Instance, error), failState, failWhy string) {
	s.begin(id, statePending, work, func(inst *Instance, res Instance, err error, latest bool) {
		if err == nil {
			takeMachine(inst, res)
		}
		if !latest {
			return
		}
		if err != nil {
			inst.State = failState
			inst.StateReason = serverReason(failWhy + err.Error())
			inst.StateTransitionReason = serverInitiated(time.Now())
			return
		}
		inst.State = stateRunning
		inst.StateReason = StateReason{}
		inst.StateTransitionReason = ""
	})
}

func (s *Server) terminate(id string, at time.Time) {
	// What the instance is if its machine cannot be removed: the state it
	// was heading for.
	fallback := map[string]string{statePending: stateRunning, stateStopping: stateStopped}[s.find(id).State]
	if fallback == "" {
		fallback = s.find(id).State
	}
	s.begin(id, stateRules["TerminateInstances"].via, func(ctx context.Context, inst Instance) (Instance, error) {
		return inst, s.life.backend.Terminate(ctx, inst)
	}, func(inst *Instance, _ Instance, err error, latest bool) {
		if !latest {
			return
		}
		if err != nil {
			inst.State = fallback
			inst.StateReason = serverReason("the instance could not be terminated: " + err.Error())
			return
		}
		inst.State = stateTerminated
		inst.StateReason = userShutdown()
		inst.StateTransitionReason = userInitiated(at)
	})
}

func userShutdown() StateReason {
	return StateReason{Code: reasonUserShutdown, Message: reasonUserShutdown + ": User initiated shutdown"}
}

func serverReason(msg string) StateReason {
	return StateReason{Code: reasonServerError, Message: reasonServerError + ": " + msg}
}

// gmt is the time format of EC2's transition reasons.
func gmt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " GMT" }

func userInitiated(t time.Time) string   { return "User initiated (" + gmt(t) + ")" }
func serverInitiated(t time.Time) string { return "Server initiated (" + gmt(t) + ")" }

// refresh asks the backend what the machines of the settled (running or
// stopped, no operation in flight) instances among ids, or all when ids
// is empty, are doing, and records what changed behind the server's back:
// a machine that stopped, or vanished.
func (s *Server) refresh(ctx context.Context, ids []string) *apiError {
	l := &s.life
	if l.backend == nil {
		return nil
	}
	wanted := map[string]bool{}
	for _, id := range ids {
		wanted[id] = true
	}
	s.mu.Lock()
	s.initLifecycle()
	var settled []Instance
	revs := map[string]int{}
	for _, inst := range s.instances {
		if len(wanted) > 0 && !wanted[inst.ID] || l.ops[inst.ID] != nil {
			continue
		}
		if inst.State == stateRunning || inst.State == stateStopped {
			settled = append(settled, cloneInstance(inst))
			revs[inst.ID] = l.revs[inst.ID]
		}
	}
	s.mu.Unlock()
	if len(settled) == 0 {
		return nil
	}
	seen, err := l.backend.Observe(ctx, settled)
	if err != nil {
		return &apiError{Code: "InternalError", Message: "An internal error has occurred: cannot observe the instances' machines: " + err.Error(), Status: http.StatusInternalServerError}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, rev := range revs {
		o, ok := seen[id]
		if !ok || l.revs[id] != rev || l.ops[id] != nil {
			continue // changed since: the observation is stale
		}
		inst := s.find(id)
		if o.State == stateTerminated || o.State == stateStopped && inst.State == stateRunning {
			inst.State = o.State
			inst.StateReason = serverReason(o.Reason)
			inst.StateTransitionReason = serverInitiated(now)
			l.revs[id]++
		}
	}
	return nil
}

// stateChangeResponse answers StopInstances, StartInstances and
// TerminateInstances.
type stateChangeResponse struct {
	XMLName   xml.Name
	Xmlns     string           `xml:"xmlns,attr"`
	RequestID string           `xml:"requestId"`
	Instances []stateChangeXML `xml:"instancesSet>item"`
}

type stateChangeXML struct {
	InstanceID string   `xml:"instanceId"`
	Current    stateXML `xml:"currentState"`
	Previous   stateXML `xml:"previousState"`
}

// stateRule is how one action treats each state: from moves to via, stay
// leaves as it is (answering it), any other is refused with
// IncorrectInstanceState.
type stateRule struct {
	from, stay map[string]bool
	via        string
	refusal    string // format with the instance id
}

var stateRules = map[string]stateRule{
	"StopInstances": {
		from:    map[string]bool{stateRunning: true},
		stay:    map[string]bool{stateStopping: true, stateStopped: true},
		via:     stateStopping,
		refusal: "This instance '%s' is not in a state from which it can be stopped.",
	},
	"StartInstances": {
		from:    map[string]bool{stateStopped: true},
		stay:    map[string]bool{statePending: true, stateRunning: true},
		via:     statePending, // see bringUp
		refusal: "The instance '%s' is not in a state from which it can be started.",
	},
	"TerminateInstances": {
		from: map[string]bool{statePending: true, stateRunning: true, stateStopping: true, stateStopped: true},
		stay: map[string]bool{stateShuttingDown: true, stateTerminated: true},
		via:  stateShuttingDown,
	},
}

// changeInstanceStates implements StopInstances, StartInstances and
// TerminateInstances: InstanceId.N, all checked before any is changed.
func (s *Server) changeInstanceStates(ctx context.Context, action string, form url.Values, reqID string) (any, *apiError) {
	var ids []string
	seen := map[string]bool{}
	for _, id := range indexedList(form, "InstanceId.") {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, missingParameter("InstanceId")
	}
	for _, id := range ids {
		if !validID(id, "i-") {
			return nil, &apiError{Code: "InvalidInstanceID.Malformed", Message: fmt.Sprintf("Invalid id: %q", id)}
		}
	}
	if aerr := s.refresh(ctx, ids); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLifecycle()
	if s.life.closed {
		return nil, errShuttingDown()
	}
	if aerr := s.checkIDs(ids); aerr != nil {
		return nil, aerr
	}
	rule := stateRules[action]
	for _, id := range ids {
		st := s.find(id).State
		if !rule.from[st] && !rule.stay[st] {
			return nil, &apiError{Code: "IncorrectInstanceState", Message: fmt.Sprintf(rule.refusal, id)}
		}
	}
	if aerr := dryRun(form); aerr != nil {
		return nil, aerr
	}
	now := time.Now()
	out := stateChangeResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: ec2Namespace, RequestID: reqID}
	for _, id := range ids {
		prev := s.find(id).State
		current := prev
		if rule.from[prev] {
			switch action {
			case "StopInstances":
				s.stop(id, now)
			case "StartInstances":
				s.start(id)
			case "TerminateInstances":
				s.terminate(id, now)
			}
			// Without a backend the instance is already in its final
			// state; EC2 answers with the transitional one.
			current = rule.via
		}
		out.Instances = append(out.Instances, stateChangeXML{InstanceID: id, Current: stateOf(current), Previous: stateOf(prev)})
	}
	return out, nil
}

// checkIDs reports the ids no instance has (s.mu held, init done).
func (s *Server) checkIDs(ids []string) *apiError {
	var missing []string
	for _, id := range ids {
		if s.find(id) == nil {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", missing[0])}
	}
	return &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
}

func missingParameter(name string) *apiError {
	return &apiError{Code: "MissingParameter", Message: "The request must contain the parameter " + name}
}

func errShuttingDown() *apiError {
	return &apiError{Code: "Unavailable", Message: "The local endpoint is shutting down.", Status: http.StatusServiceUnavailable}
}

// dryRun answers a request with DryRun=true, once it has been checked, as
// EC2 does: with the DryRunOperation error.
func dryRun(form url.Values) *apiError {
	if form.Get("DryRun") != "true" {
		return nil
	}
	return &apiError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Status: http.StatusPreconditionFailed}
}
