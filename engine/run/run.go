// Package run is the scheduler: it connects to the target hosts, gathers
// their facts in one round trip each, compiles the event, then runs the
// layers in depends_on order — hosts in parallel up to Forks, each host's
// resources in order — and reports every step as an Event.
//
// Within a host, the probes of all remaining resources are gathered in one
// round trip; after a resource changes the host they are gathered again,
// because what it changed may change what the next resources find. So a
// run that changes nothing costs one connection and two round trips per
// host, however many resources it checks.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/compile"
	"github.com/opsrun/opsrun/engine/facts"
	"github.com/opsrun/opsrun/engine/probe"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// Input is what a run works on.
type Input struct {
	Stack    *stack.Stack
	Registry modules.Registry
	Dialer   transport.Dialer
	// Hosts are all of the stack's hosts (the topology recipes see);
	// Targets are the ones this run acts on.
	Hosts, Targets []*inventory.Host
}

// Options say how to run.
type Options struct {
	Event string
	Layer string // only this layer when not empty
	Check bool   // plan only: probe and plan, change nothing
	Forks int    // hosts at work at once; <=0 means all
	RunID string
	// Emit receives every event, from one goroutine at a time.
	Emit func(Event)
	// OnPlan, when set, is told the compiled plan before anything runs.
	OnPlan func(*compile.Plan)
	// Stop, when closed, stops the run gently: no host and no resource
	// starts after it, while the commands already running finish (the
	// first SIGINT). Cancelling the context stops those too (the second).
	Stop   <-chan struct{}
	Logger *slog.Logger
}

// HostRecap is one host's outcome.
type HostRecap struct {
	Host string
	Counts
	Err error // why it was unreachable or failed, if it was
}

// Result is a finished run.
type Result struct {
	Hosts  []*HostRecap // in target order
	Totals Counts
}

// ErrInterrupted marks a run stopped before its end, by Options.Stop or
// by its context (SIGINT).
var ErrInterrupted = errors.New("run interrupted")

// errStopped is why a run stopped by Options.Stop stopped.
var errStopped = errors.New("stopped: no new work was started, running commands finished")

type runner struct {
	in   Input
	opts Options
	log  *slog.Logger
	sem  chan struct{}

	emitMu sync.Mutex

	mu      sync.Mutex
	recaps  map[string]*HostRecap
	conns   map[string]transport.Conn
	facts   map[string]*facts.Facts
	failed  map[string]bool        // hosts that failed: later layers skip them
	hostMus map[string]*sync.Mutex // one layer at a time on a host
}

// Run runs an event. The returned error is for the run as a whole (the
// event could not be compiled); per-host failures are in the Result.
func Run(ctx context.Context, in Input, opts Options) (*Result, error) {
	r := &runner{
		in: in, opts: opts, log: opts.Logger,
		recaps:  map[string]*HostRecap{},
		conns:   map[string]transport.Conn{},
		facts:   map[string]*facts.Facts{},
		failed:  map[string]bool{},
		hostMus: map[string]*sync.Mutex{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	forks := opts.Forks
	if forks <= 0 || forks > len(in.Targets) {
		forks = max(len(in.Targets), 1)
	}
	r.sem = make(chan struct{}, forks)
	for _, h := range in.Targets {
		r.recaps[h.Name] = &HostRecap{Host: h.Name}
		r.hostMus[h.Name] = &sync.Mutex{}
	}
	start := time.Now()
	r.emit(Event{Type: TypeRunStart, RunID: opts.RunID, Stack: in.Stack.Name, Event: opts.Event, Check: opts.Check, Hosts: len(in.Targets)})
	defer r.closeAll()

	reachable := r.connectAll(ctx)
	factVals := map[string]cty.Value{}
	for name, f := range r.facts {
		factVals[name] = f.Value()
	}
	plan, err := compile.Compile(compile.Input{
		Stack: in.Stack, Event: opts.Event, Registry: in.Registry,
		Hosts: in.Hosts, Targets: reachable, Layer: opts.Layer, Facts: factVals,
	})
	if err != nil {
		return nil, err
	}
	if opts.OnPlan != nil {
		opts.OnPlan(plan)
	}
	for _, level := range plan.Levels {
		var wg sync.WaitGroup
		for _, lp := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runLayer(ctx, lp)
			}()
		}
		wg.Wait()
	}

	res := &Result{}
	for _, h := range in.Targets {
		rc := r.recaps[h.Name]
		res.Hosts = append(res.Hosts, rc)
		res.Totals.Add(rc.Counts)
		ev := Event{Type: TypeHostRecap, Host: h.Name, Counts: &rc.Counts}
		if rc.Err != nil {
			ev.Error = rc.Err.Error()
		}
		r.emit(ev)
	}
	totals := res.Totals
	r.emit(Event{Type: TypeRunEnd, RunID: opts.RunID, Event: opts.Event, Check: opts.Check, Counts: &totals, DurationMS: time.Since(start).Milliseconds()})
	if ctx.Err() != nil {
		return res, fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
	}
	if r.stopped() {
		return res, fmt.Errorf("%w: %w", ErrInterrupted, errStopped)
	}
	return res, nil
}

// stopped reports whether Options.Stop was closed.
func (r *runner) stopped() bool {
	select {
	case <-r.opts.Stop:
		return true
	default:
		return false
	}
}

// halted reports whether no new work may start: stopped or cancelled.
func (r *runner) halted(ctx context.Context) bool {
	return ctx.Err() != nil || r.stopped()
}

func (r *runner) emit(e Event) {
	if r.opts.Emit == nil {
		return
	}
	e.Time = time.Now()
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.Emit(e)
}

// connectAll dials every target and gathers its facts, in parallel. It
// returns the hosts that answered; the others are recorded unreachable.
func (r *runner) connectAll(ctx context.Context) []*inventory.Host {
	var wg sync.WaitGroup
	ok := make([]bool, len(r.in.Targets))
	for i, h := range r.in.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !r.acquire(ctx) {
				why := context.Cause(ctx)
				if why == nil {
					why = ErrInterrupted
				}
				r.hostErr(h.Name, fmt.Errorf("%s: not started: %w", h.Name, why), false)
				return
			}
			defer r.release()
			conn, err := r.in.Dialer.Dial(ctx, h)
			if err != nil {
				r.hostErr(h.Name, err, unreachable(err))
				return
			}
			f, err := facts.Gather(ctx, conn)
			if err != nil {
				conn.Close()
				r.hostErr(h.Name, err, unreachable(err))
				return
			}
			r.mu.Lock()
			r.conns[h.Name] = conn
			r.facts[h.Name] = f
			r.mu.Unlock()
			ok[i] = true
		}()
	}
	wg.Wait()
	var out []*inventory.Host
	for i, h := range r.in.Targets {
		if ok[i] {
			out = append(out, h)
		}
	}
	return out
}

// unreachable: as in Ansible, a host we cannot log in to counts as
// unreachable: nothing ran there.
func unreachable(err error) bool {
	return errors.Is(err, transport.ErrUnreachable) || errors.Is(err, transport.ErrAuthFailed) ||
		errors.Is(err, transport.ErrHostKeyMismatch) || errors.Is(err, transport.ErrHostKeyUnknown)
}

func (r *runner) hostErr(host string, err error, unreach bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.recaps[host]
	if rc.Err == nil {
		rc.Err = err
	}
	if unreach {
		rc.Unreachable = 1
	}
	r.failed[host] = true
}

// acquire takes a fork slot; false when the run was stopped or
// cancelled first.
func (r *runner) acquire(ctx context.Context) bool {
	select {
	case r.sem <- struct{}{}:
		if r.halted(ctx) {
			r.release()
			return false
		}
		return true
	case <-ctx.Done():
		return false
	case <-r.opts.Stop:
		return false
	}
}

func (r *runner) release() { <-r.sem }

func (r *runner) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// layerState tracks max_fail_percentage for one layer's event.
type layerState struct {
	mu      sync.Mutex
	total   int
	failed  int
	aborted bool
}

func (ls *layerState) fail(pct int) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.failed++
	if pct >= 0 && ls.failed*100 > pct*ls.total {
		ls.aborted = true
	}
}

func (ls *layerState) isAborted() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.aborted
}

func (r *runner) runLayer(ctx context.Context, lp *compile.LayerPlan) {
	ls := &layerState{total: len(lp.Hosts)}
	// Hosts start in inventory order: a worker takes a fork slot first and
	// only then the next host, so with few forks the order is the
	// author's, and max_fail_percentage stops the hosts that come last.
	var next int
	var nextMu sync.Mutex
	var wg sync.WaitGroup
	for range lp.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acquired := r.acquire(ctx)
			nextMu.Lock()
			hp := lp.Hosts[next]
			next++
			nextMu.Unlock()
			if acquired {
				defer r.release()
			}
			r.runLayerHost(ctx, lp, hp, ls, acquired)
		}()
	}
	wg.Wait()
}

func (r *runner) runLayerHost(ctx context.Context, lp *compile.LayerPlan, hp *compile.HostPlan, ls *layerState, acquired bool) {
	name := hp.Host.Name
	skipAll := func(reason string) {
		for _, t := range hp.Tasks {
			r.skip(name, lp.Layer.Name, t.Res.Addr, reason)
		}
	}
	r.mu.Lock()
	alreadyFailed := r.failed[name]
	r.mu.Unlock()
	switch {
	case alreadyFailed:
		skipAll("the host failed earlier in this run")
		return
	case !acquired:
		skipAll("the run was interrupted")
		return
	case ls.isAborted():
		skipAll(fmt.Sprintf("layer %s aborted: more than %d%% of its hosts failed", lp.Layer.Name, lp.Layer.MaxFailPercentage))
		return
	}
	hm := r.hostMus[name]
	hm.Lock()
	defer hm.Unlock()
	if err := r.runHost(ctx, lp, hp, ls); err != nil {
		r.hostErr(name, err, unreachable(err))
		ls.fail(lp.Layer.MaxFailPercentage)
	}
}

// hostRun is the state of one host working through one layer's tasks.
type hostRun struct {
	r     *runner
	ctx   context.Context
	conn  transport.Conn
	mh    *modules.Host
	layer string
	host  string
	facts modules.Facts
	stale bool
	// pending is set in check mode once a change was reported but not
	// made: later resources may look for what it would have created.
	pending bool
}

func (r *runner) runHost(ctx context.Context, lp *compile.LayerPlan, hp *compile.HostPlan, ls *layerState) error {
	name := hp.Host.Name
	if hp.Err != nil {
		for _, t := range hp.Tasks {
			r.skip(name, lp.Layer.Name, t.Res.Addr, "the host's resources could not be evaluated")
		}
		r.count(name, StatusFailed)
		r.emit(Event{Type: TypeTask, Host: name, Layer: lp.Layer.Name, Status: StatusFailed, Error: hp.Err.Error()})
		return hp.Err
	}
	r.mu.Lock()
	conn, f := r.conns[name], r.facts[name]
	r.mu.Unlock()
	h := &hostRun{r: r, ctx: ctx, conn: conn, mh: f.Module(name, r.opts.RunID), layer: lp.Layer.Name, host: name, stale: true}
	byAddr := map[string]*compile.Task{}
	for _, t := range hp.Tasks {
		byAddr[t.Res.Addr] = t
	}
	// pending are the delayed notifications; ran the handlers that ran in
	// the delayed phase, where each runs at most once.
	pending := map[string]bool{}
	for i, t := range hp.Tasks {
		if t.Skip != "" {
			r.skip(name, h.layer, t.Res.Addr, t.Skip)
			continue
		}
		if r.halted(ctx) || ls.isAborted() {
			h.skipRest(hp.Tasks[i:], "the run stopped before this resource")
			return nil
		}
		changed, err := h.apply(t, hp.Tasks[i:], false)
		if err != nil {
			h.skipRest(hp.Tasks[i+1:], "an earlier resource failed on this host")
			return err
		}
		if !changed {
			continue
		}
		for _, n := range t.Res.Notify {
			pending[n] = true
		}
		// notify_now: the handler acts at once, before the next resource
		// (which may need it restarted), and that settles the delayed
		// notifications it had so far. A later change notifies it again.
		for _, n := range t.Res.NotifyNow {
			ht := byAddr[n]
			delete(pending, n)
			if ht == nil || ht.Skip != "" || ht.Module == nil {
				continue
			}
			hchanged, err := h.apply(ht, append([]*compile.Task{ht}, hp.Tasks[i+1:]...), true)
			if err != nil {
				h.skipRest(hp.Tasks[i+1:], "a handler failed on this host")
				return err
			}
			if hchanged {
				for _, n := range ht.Res.Notify {
					pending[n] = true
				}
			}
		}
	}
	// Delayed notifications: each notified resource acts once, in the
	// order the resources were declared, and only if a notifier changed.
	// A handler that changes notifies in turn (the loader refuses cycles).
	ran := map[string]bool{}
	for len(pending) > 0 {
		var next *compile.Task
		var rest []*compile.Task
		for _, t := range hp.Tasks {
			if pending[t.Res.Addr] {
				if next == nil {
					next = t
				}
				rest = append(rest, t)
			}
		}
		if next == nil {
			break // notified resources this event does not run
		}
		delete(pending, next.Res.Addr)
		if ran[next.Res.Addr] || next.Skip != "" || next.Module == nil {
			continue
		}
		ran[next.Res.Addr] = true
		if r.halted(ctx) {
			return nil
		}
		changed, err := h.apply(next, rest, true)
		if err != nil {
			return err
		}
		if changed {
			for _, n := range append(slices.Clone(next.Res.Notify), next.Res.NotifyNow...) {
				if !ran[n] {
					pending[n] = true
				}
			}
		}
	}
	return nil
}

func (h *hostRun) skipRest(tasks []*compile.Task, reason string) {
	for _, t := range tasks {
		h.r.skip(h.host, h.layer, t.Res.Addr, reason)
	}
}

// ErrTimeout marks a resource whose actions ran longer than its timeout;
// the remote commands were killed.
var ErrTimeout = errors.New("timed out")

// outcome is one attempt at a task.
type outcome struct {
	status  string // StatusOK, StatusChanged or StatusSkipped; failures are err
	actions []modules.Action
	output  string // the end of the output of actions that show it
	reason  string
	err     error
}

// apply plans one task (or, as a handler, its notified actions) and runs
// the actions unless in check mode, trying again as its retries allow,
// and reports it. remaining are the tasks whose probes to refresh if the
// facts are stale. A failure with ignore_errors is reported and dropped.
func (h *hostRun) apply(t *compile.Task, remaining []*compile.Task, handler bool) (bool, error) {
	start := time.Now()
	opts := t.Options
	var out outcome
	attempts := 0
	for {
		attempts++
		out = h.attempt(t, remaining, handler)
		// Check mode changes nothing, so trying again cannot help there.
		if out.err == nil || attempts > opts.Retries || h.r.opts.Check || unreachable(out.err) || h.r.halted(h.ctx) {
			break
		}
		h.r.log.Info("retrying", "host", h.host, "resource", t.Res.Addr, "attempt", attempts, "error", out.err)
		// What the failed attempt did is unknown: probe again.
		h.stale = true
		select {
		case <-time.After(opts.RetryDelay):
		case <-h.ctx.Done():
		case <-h.r.opts.Stop:
		}
		if h.r.halted(h.ctx) {
			break // the failed attempt stands
		}
	}
	ev := Event{Type: TypeTask, Host: h.host, Layer: h.layer, Resource: t.Res.Addr, Handler: handler,
		Status: out.status, Reason: out.reason, DurationMS: time.Since(start).Milliseconds()}
	if attempts > 1 {
		ev.Attempts = attempts
	}
	ev.Output = out.output
	hide := t.Sensitive
	for _, a := range out.actions {
		ev.Actions = append(ev.Actions, a.Summary)
		switch {
		case a.Diff == "":
		case hide || a.Sensitive:
			// A secret may be anywhere in a diff.
			ev.Diffs = append(ev.Diffs, "(diff hidden: the resource uses a sensitive value)")
		default:
			ev.Diffs = append(ev.Diffs, a.Diff)
		}
	}
	err := out.err
	if err != nil {
		ev.Status = StatusFailed
		ev.Error = err.Error()
		if opts.IgnoreErrors && !unreachable(err) {
			ev.Status = StatusIgnored
			err = nil
		}
	}
	if handler && ev.Status == StatusOK {
		return false, nil // a handler with nothing to do is not news
	}
	h.r.count(h.host, ev.Status)
	h.r.log.Debug("task", "host", h.host, "layer", h.layer, "resource", t.Res.Addr, "status", ev.Status, "attempts", attempts)
	h.r.emit(ev)
	return out.status == StatusChanged && out.err == nil, err
}

// attempt probes (when stale), plans and runs one task once.
func (h *hostRun) attempt(t *compile.Task, remaining []*compile.Task, handler bool) outcome {
	if h.stale {
		var probes []modules.Probe
		for _, rt := range remaining {
			if rt.Skip == "" && rt.Module != nil {
				probes = append(probes, rt.Module.Probes(h.mh)...)
			}
		}
		f, err := probe.Run(h.ctx, h.conn, probes, h.r.in.Stack.Settings.Become)
		if err != nil {
			return outcome{err: err}
		}
		h.facts, h.stale = f, false
	}
	var actions []modules.Action
	var err error
	if handler {
		nm, ok := t.Module.(modules.Notifiable)
		if !ok {
			return outcome{err: fmt.Errorf("%s: %s cannot be notified: its type has no notify action", h.host, t.Res.Addr)}
		}
		actions, err = nm.Notified(h.mh, h.facts)
	} else {
		actions, err = t.Module.Plan(h.mh, h.facts)
	}
	if err != nil && h.pending && errors.Is(err, modules.ErrMissingOnHost) {
		// Check mode: what is missing would have been made by an earlier
		// change that was only reported. Not a failure of the stack.
		return outcome{status: StatusSkipped, reason: fmt.Sprintf("cannot be planned before the earlier changes are made (%v)", err)}
	}
	if err != nil {
		return outcome{err: fmt.Errorf("%s: %s: %w", h.host, t.Res.Addr, err)}
	}
	if len(actions) == 0 {
		return outcome{status: StatusOK}
	}
	if h.r.opts.Check {
		h.pending = true
		return outcome{status: StatusChanged, actions: actions}
	}
	h.stale = true
	ctx := h.ctx
	if d := t.Options.Timeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var output []string
	for i, a := range actions {
		sensitive := t.Sensitive || a.Sensitive
		res, err := h.run(ctx, a, sensitive)
		if err != nil {
			if ctx.Err() != nil && h.ctx.Err() == nil {
				err = fmt.Errorf("%w after %s (timeout); its commands were stopped", ErrTimeout, t.Options.Timeout)
			}
			return outcome{actions: actions[:i+1], err: fmt.Errorf("%s: %s: %s: %w", h.host, t.Res.Addr, a.Summary, err)}
		}
		if a.Output {
			switch out := lastLines(string(res.Stdout)+string(res.Stderr), maxOutputLines); {
			case out == "":
			case sensitive:
				output = append(output, "(output hidden: the resource is sensitive)")
			default:
				output = append(output, out)
			}
		}
	}
	return outcome{status: StatusChanged, actions: actions, output: strings.Join(output, "\n")}
}

// maxOutputLines is how much of a command's output a run keeps: the end
// says how it went; a full build log belongs in the host's own logs.
const maxOutputLines = 20

// lastLines keeps the last n lines of s, at most 4 KiB of them, trimmed.
func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s = strings.Join(lines, "\n")
	if len(s) > 4096 {
		s = strings.ToValidUTF8(s[len(s)-4096:], "")
	}
	return s
}

// run executes one action on the host.
func (h *hostRun) run(ctx context.Context, a modules.Action, sensitive bool) (transport.Result, error) {
	return Exec(ctx, h.conn, a, h.r.in.Stack.Settings.Become, sensitive)
}

// Exec executes one action on conn: its upload, then its command, through
// sudo when become. A sensitive action's command is sent on stdin, off
// the host's process list, and its failure does not repeat its output,
// which may hold the secret.
func Exec(ctx context.Context, conn transport.Conn, a modules.Action, become, sensitive bool) (transport.Result, error) {
	if u := a.Upload; u != nil {
		spec := transport.FileSpec{Path: u.Path, Mode: u.Mode, Owner: u.Owner, Group: u.Group, Become: become}
		if u.Source != "" {
			f, err := os.Open(u.Source)
			if err != nil {
				return transport.Result{}, err
			}
			defer f.Close()
			if err := conn.Upload(ctx, f, spec); err != nil {
				return transport.Result{}, err
			}
		} else if err := conn.Upload(ctx, strings.NewReader(string(u.Content)), spec); err != nil {
			return transport.Result{}, err
		}
	}
	if a.Command == "" {
		return transport.Result{}, nil
	}
	cmd := transport.Cmd{Command: a.Command, Become: become}
	if sensitive {
		// Off the command line, which any user of the host can read in
		// ps: the shell reads the command from stdin, whole, before it
		// runs it, so the command itself sees an empty stdin.
		cmd.Command, cmd.Stdin = stdinShell, strings.NewReader(a.Command)
	}
	res, err := conn.Run(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.ExitStatus != 0 {
		out := tail(res.Stderr, res.Stdout)
		if sensitive && out != "" {
			out = "(output hidden: the resource is sensitive)"
		}
		return res, &CommandError{ExitStatus: res.ExitStatus, Stderr: out}
	}
	return res, nil
}

// stdinShell runs the shell command it is fed on stdin.
const stdinShell = `sh -c 'eval "$(cat)"'`

// CommandError is an action's command exiting non-zero.
type CommandError struct {
	ExitStatus int
	Stderr     string // the last lines of its output
}

func (e *CommandError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("exit status %d", e.ExitStatus)
	}
	return fmt.Sprintf("exit status %d: %s", e.ExitStatus, e.Stderr)
}

// tail keeps the end of a failed command's output: the error is usually
// there, and a whole apt log would drown the recap.
func tail(stderr, stdout []byte) string {
	out := strings.TrimSpace(string(stderr))
	if out == "" {
		out = strings.TrimSpace(string(stdout))
	}
	lines := strings.Split(out, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

func (r *runner) count(host, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recaps[host].count(status)
}

// skip reports a resource that did not run, and why. Resources that ran
// are reported by apply, which alone sees their actions.
func (r *runner) skip(host, layer, addr, reason string) {
	r.count(host, StatusSkipped)
	r.log.Debug("task", "host", host, "layer", layer, "resource", addr, "status", StatusSkipped, "reason", reason)
	r.emit(Event{Type: TypeTask, Host: host, Layer: layer, Resource: addr, Status: StatusSkipped, Reason: reason})
}
