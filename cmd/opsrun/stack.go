package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/compile"
	"github.com/opsrun/opsrun/engine/diag"
	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	rdsinv "github.com/opsrun/opsrun/inventory/rds"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/registry"
	"github.com/opsrun/opsrun/playbooks"
)

// StackOptions are what every stack command takes.
type StackOptions struct {
	IO          IO
	Dir         string
	Inventories []string
	Vars        []string
	VarFiles    []string
	f           *Factory
}

func (o *StackOptions) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Inventories, "inventory", "i", nil, "add an inventory file's hosts to the stack's own (repeatable)")
	fl.StringArrayVar(&o.Vars, "var", nil, "set a variable: -var name=value (repeatable)")
	fl.StringArrayVar(&o.VarFiles, "var-file", nil, "read variables from an HCL file (repeatable)")
}

// loaded is a stack with its hosts, ready to compile or run.
type loaded struct {
	stack *stack.Stack
	hosts []*inventory.Host
	// static are the hosts declared in files, before loadAll adds the
	// dynamic inventories' (what the watcher resolves again each round).
	static []*inventory.Host
	reg    modules.Registry
	// rds are the DB instances of the stack's rds layers (loadAll), also
	// in stack.External for recipes; they are not hosts.
	rds []*rdsinv.Instance
}

// load reads the stack and the extra inventories, printing every
// diagnostic (file:line:col, source line, caret) before failing.
func (o *StackOptions) load() (*loaded, error) {
	reg := registry.Builtin()
	builtins, err := builtinLayers(reg)
	if err != nil {
		return nil, err
	}
	s, diags := stack.LoadDir(o.Dir, stack.Inputs{Vars: o.Vars, VarFiles: o.VarFiles, Env: os.Environ(), Builtins: builtins}, reg)
	files := map[string]*hcl.File{}
	if s != nil {
		for k, v := range s.Files {
			files[k] = v
		}
	}
	if !diags.HasErrors() {
		diags = append(diags, s.Validate()...)
	}
	parser := hclparse.NewParser()
	var extra *inventory.Inventory
	if len(o.Inventories) > 0 {
		var ds hcl.Diagnostics
		extra, ds = inventory.LoadFiles(parser, o.Inventories...)
		diags = append(diags, ds...)
		for k, v := range parser.Files() {
			files[k] = v
		}
	}
	var hosts []*inventory.Host
	if !diags.HasErrors() {
		var ds hcl.Diagnostics
		hosts, ds = run.Hosts(s, extra)
		diags = append(diags, ds...)
	}
	if diags.HasErrors() {
		diag.Write(o.IO.ErrOut, diags, files)
		return nil, &exitError{code: ExitError, err: fmt.Errorf("%d error(s) in the stack at %s", countErrors(diags), o.Dir)}
	}
	if len(diags) > 0 {
		diag.Write(o.IO.ErrOut, diags, files)
	}
	return &loaded{stack: s, hosts: hosts, reg: reg}, nil
}

// builtinLayers loads the layers of playbooks/. They are part of the
// binary, so an error is opsrun's own, which its tests catch.
func builtinLayers(reg modules.Registry) (*playbooks.Set, error) {
	set, diags := playbooks.Load(reg)
	if diags.HasErrors() {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("opsrun's built-in layers do not load (a bug in this build): %s", diags.Error())}
	}
	return set, nil
}

func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

func stackDir(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "."
}

// NewCmdValidate builds `opsrun validate`.
func NewCmdValidate(f *Factory, runF func(*StackOptions) error) *cobra.Command {
	opts := &StackOptions{f: f}
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a stack's files without connecting to any host",
		Long: `Load the stack in DIR (default: the current directory) and check everything
that can be checked without a host: syntax, blocks and attributes, types,
references to variables, locals, layers and resources, cycles, variable
validations. Exit 0 when clean, else print every problem and exit 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			if runF != nil {
				return runF(opts)
			}
			l, err := opts.load()
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.IO.Out, "Stack %s is valid: %s, %s.\n", l.stack.Name, report.Plural(len(l.stack.Layers), "layer"), report.Plural(len(l.hosts), "host"))
			return nil
		},
	}
	opts.flags(cmd)
	return cmd
}

// RunOptions are `opsrun run`'s and `opsrun plan`'s inputs.
type RunOptions struct {
	StackOptions
	Event     string
	Layer     string
	Hosts     string
	Check     bool
	Forks     int
	Output    string
	SSHConfig string
	Plan      bool // opsrun plan: check mode, grouped output with diffs
	// State is the state store's file; empty means DIR/.opsrun/state.db.
	State       string
	LockTimeout time.Duration

	Dialer transport.Dialer // nil means SSH

	// Command is what the lock and the history call the run, when it is
	// not opsrun run EVENT (opsrun up, deploy, ...).
	Command string
	// stop, when set, stops the run gently instead of the first interrupt
	// (the watcher's heals stop when the watcher does).
	stop <-chan struct{}
}

// NewCmdRun builds `opsrun run` (plan=false) or `opsrun plan` (plan=true).
func NewCmdRun(f *Factory, plan bool, runF func(*RunOptions) error) *cobra.Command {
	opts := &RunOptions{StackOptions: StackOptions{f: f}, Plan: plan}
	cmd := &cobra.Command{
		Use:   "run EVENT [DIR]",
		Short: "Run a lifecycle event's recipes on the stack's hosts",
		Long: `Run EVENT (setup, configure, deploy, undeploy or shutdown) on the hosts of the
stack in DIR (default: the current directory): layers in depends_on order,
hosts in parallel, each host's resources in order. --check probes and plans
without changing anything.

A run takes the stack's lock (in DIR/.opsrun/state.db, or --state): while
it runs, another opsrun run on the stack exits with status 4 naming the
holder, or waits with --lock-timeout. Check mode takes no lock. Every run,
check mode too, is recorded in the history (opsrun history).

The first SIGINT (Ctrl-C) or SIGTERM stops starting new work — no new host,
no new resource — and lets the commands already running finish; the run is
recorded as interrupted, the lock released and the recap printed. A second
one cancels the running commands (their remote processes are killed); a
third exits at once.

` + exitCodesHelp,
		Example: `  opsrun run setup examples/hello -i .opsrun/testenv/demo/inventory.hcl
  opsrun run configure --layer web --check
  opsrun run deploy --hosts 'app-*' --output json`,
	}
	if plan {
		cmd.Use = "plan EVENT [DIR]"
		cmd.Short = "Show what a lifecycle event would change, changing nothing"
		cmd.Long = `Connect to the hosts, gather their facts and print, per host, the resources
EVENT would change and how (unified diffs for file content, packages to
install, service state). Nothing is changed, no lock is taken and the
history records nothing; a plan made while a run holds the stack says so.

` + exitCodesHelp
		cmd.Example = `  opsrun plan setup examples/hello -i .opsrun/testenv/demo/inventory.hcl`
	}
	cmd.Args = cobra.RangeArgs(1, 2)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.IO = f.IO
		opts.Event = args[0]
		opts.Dir = stackDir(args[1:])
		if !validEvent(opts.Event) {
			return usageError(fmt.Sprintf("unknown event %q: it must be one of %v", opts.Event, stack.Events))
		}
		if err := opts.checkFlags(); err != nil {
			return err
		}
		if opts.Plan {
			opts.Check = true
		}
		if runF != nil {
			return runF(opts)
		}
		return runRun(cmd.Context(), opts)
	}
	opts.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.Layer, "layer", "", "only this layer")
	fl.StringVar(&opts.Hosts, "hosts", "all", "host pattern: names or layers, globs, !exclude, &intersect")
	fl.IntVar(&opts.Forks, "forks", 0, "hosts at work at once (default: the stack's forks setting)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output: text, or json (one event object per line)")
	fl.StringVar(&opts.SSHConfig, "ssh-config", "", "ssh_config file to read instead of ~/.ssh/config (\"none\" for none)")
	fl.StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	if !plan {
		fl.BoolVar(&opts.Check, "check", false, "probe and plan only; change nothing (takes no lock)")
		fl.DurationVar(&opts.LockTimeout, "lock-timeout", 0, "when another run holds the stack, wait this long for it (e.g. 5m) instead of exiting with status 4")
	}
	return cmd
}

// checkFlags refuses the run flags no value of which makes sense.
func (opts *RunOptions) checkFlags() error {
	switch opts.Output {
	case "text", "json":
	default:
		return usageError(fmt.Sprintf("--output must be text or json, not %q", opts.Output))
	}
	if opts.Forks < 0 {
		return usageError("--forks must not be negative")
	}
	if opts.LockTimeout < 0 {
		return usageError("--lock-timeout must not be negative")
	}
	return nil
}

func validEvent(e string) bool {
	for _, x := range stack.Events {
		if x == e {
			return true
		}
	}
	return false
}

func runRun(ctx context.Context, opts *RunOptions) error {
	l, err := opts.loadAll(ctx)
	if err != nil {
		return err
	}
	targets, err := run.Targets(l.stack, l.hosts, opts.Layer, opts.Hosts)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	rec := state.RunRecord{Event: opts.Event, Layer: opts.Layer, Hosts: opts.Hosts}
	return opts.execute(ctx, l, targets, rec, func(ctx context.Context, w *work) (*run.Result, string, error) {
		res, err := run.Run(ctx, run.Input{Stack: l.stack, Registry: l.reg, Dialer: w.dialer, Hosts: l.hosts, Targets: targets}, run.Options{
			Event: opts.Event, Layer: opts.Layer, Check: opts.Check, Forks: w.forks, RunID: w.runID,
			Emit: w.emit, OnPlan: w.onPlan, Stop: w.stop, Logger: opts.f.Logger,
		})
		return res, "", err
	})
}

// work is what a stack command's body is handed: the dialer, the event
// sink (printer and history), the stop signal.
type work struct {
	dialer transport.Dialer
	emit   func(run.Event)
	onPlan func(*compile.Plan)
	stop   <-chan struct{}
	forks  int
	runID  string
	store  *state.Store
	// release is set by the body to the release it deployed or switched
	// to, for the history.
	release string
}

// execute runs body the way every command that changes a stack runs:
// with the stack's lock held (not in check mode), recorded in the history
// from start to end (not for a plan), printing its events, and exiting
// with the run's status. checked are the hosts whose connection settings
// are checked before anything starts.
func (opts *RunOptions) execute(ctx context.Context, l *loaded, checked []*inventory.Host, rec state.RunRecord,
	body func(context.Context, *work) (*run.Result, string, error)) error {
	store := state.New(statePath(opts.State, opts.Dir), state.Options{Logger: opts.f.Logger})
	runID := newRunID()
	stop := opts.stop
	if stop == nil {
		// From here the first interrupt stops gently (see Main).
		stop = opts.f.stopSignal()
	}
	w, done, err := opts.newWork(l, checked, runID, stop, store)
	if err != nil {
		return err
	}
	defer done()
	if opts.Plan {
		warnIfLocked(ctx, store, opts.IO.ErrOut)
		res, _, err := body(ctx, w)
		return runExit(res, err)
	}
	// The lock (unless in check mode), then the history's start record, so
	// a run that dies shows as running with its lock.
	me := state.Me(runID, opts.commandLine())
	if !opts.Check {
		// Waiting for the lock is not work: the first interrupt ends it.
		lockCtx, cancelLock := context.WithCancelCause(ctx)
		go func() {
			select {
			case <-stop:
				cancelLock(errors.New("interrupted"))
			case <-lockCtx.Done():
			}
		}()
		held, err := store.Acquire(lockCtx, me, opts.LockTimeout)
		cancelLock(nil)
		if err != nil {
			return opts.lockError(err)
		}
		defer func() {
			if err := held.Release(ctx); err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "opsrun: could not release the stack's lock: %v; remove it with opsrun unlock --force\n", err)
			}
		}()
		me = held.Lock
		if b := held.Broken; b != nil {
			fmt.Fprintf(opts.IO.ErrOut, "opsrun: broke a stale lock: run %s (pid %d on %s, since %s) is dead; its run is recorded as interrupted (process died)\n",
				b.RunID, b.PID, b.Host, b.Started.Local().Format(time.RFC3339))
		}
	}
	rec.ID, rec.Stack, rec.Command, rec.Check = runID, l.stack.Name, me.Command, opts.Check
	rec.Who, rec.PID, rec.Started = me.Who(), me.PID, me.Started
	if err := store.Begin(ctx, &rec); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	rc := &state.Recorder{}
	print := w.emit
	w.emit = func(e run.Event) {
		rc.Emit(e)
		print(e)
	}
	res, note, runErr := body(ctx, w)
	rc.Finish(&rec, res, runErr)
	rec.Release = w.release
	if rec.Note == "" {
		rec.Note = note
	}
	if err := store.Finish(ctx, &rec); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "opsrun: could not record the run's end in the history: %v\n", err)
	}
	return runExit(res, runErr)
}

// newWork makes the dialer (checking checked's settings) and the printer.
func (opts *RunOptions) newWork(l *loaded, checked []*inventory.Host, runID string, stop <-chan struct{}, store *state.Store) (*work, func(), error) {
	dialer, done, err := checkedDialer(opts.Dialer, opts.SSHConfig, opts.f, checked)
	if err != nil {
		return nil, nil, err
	}
	var printer report.RunPrinter
	if opts.Output == "json" {
		printer = report.NewRunJSON(opts.IO.Out)
	} else {
		printer = report.NewRunText(opts.IO.Out, opts.IO.ErrOut, opts.IO.IsTTY, opts.Check, opts.Plan)
	}
	forks := opts.Forks
	if forks == 0 {
		forks = l.stack.Settings.Forks
	}
	return &work{dialer: dialer, emit: printer.Emit, onPlan: printer.Planned, stop: stop, forks: forks, runID: runID, store: store}, done, nil
}

// runExit is a run's exit status.
func runExit(res *run.Result, err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	if err != nil && !errors.Is(err, run.ErrInterrupted) && !errors.Is(err, lifecycle.ErrStopped) {
		return &exitError{code: ExitError, err: err}
	}
	stopped := errors.Is(err, lifecycle.ErrStopped)
	if stopped {
		// The run's last line already said where and why it stopped.
		err = nil
	}
	if res == nil {
		return &exitError{code: ExitError, err: err}
	}
	switch {
	case res.Totals.Unreachable > 0:
		return &exitError{code: ExitUnreachable}
	case res.Totals.Failed > 0 || err != nil || stopped:
		return &exitError{code: ExitFailed, err: err}
	}
	return nil
}

// commandLine is what the lock and the history say the run is.
func (opts *RunOptions) commandLine() string {
	if opts.Command != "" {
		return opts.Command
	}
	c := "opsrun run " + opts.Event
	if opts.Check {
		c += " --check"
	}
	if opts.Layer != "" {
		c += " --layer " + opts.Layer
	}
	if opts.Hosts != "" && opts.Hosts != "all" {
		c += " --hosts " + opts.Hosts
	}
	return c
}

// lockError is exit status 4 with what to do, or the store's error.
func (opts *RunOptions) lockError(err error) error {
	var le *state.LockedError
	if !errors.As(err, &le) {
		return &exitError{code: ExitError, err: err}
	}
	unlock := "opsrun unlock"
	if opts.Dir != "." {
		unlock += " " + opts.Dir
	}
	if opts.State != "" {
		unlock += " --state " + opts.State
	}
	hint := "wait with --lock-timeout 5m"
	if opts.LockTimeout > 0 {
		hint = fmt.Sprintf("waited %s; wait longer with --lock-timeout", opts.LockTimeout)
	}
	return &exitError{code: ExitLocked, err: fmt.Errorf("%w; %s or, if that run is dead, %s --force", err, hint, unlock)}
}

// warnIfLocked tells a plan that a run holds the stack: what it plans
// may be changing under it.
func warnIfLocked(ctx context.Context, store *state.Store, errOut io.Writer) {
	held, err := store.Holder(ctx)
	switch {
	case err != nil:
		fmt.Fprintf(errOut, "opsrun: warning: %v\n", err)
	case held != nil:
		fmt.Fprintf(errOut, "opsrun: note: stack locked by %s: a run is changing these hosts, so this plan may be out of date when it ends\n", held)
	}
}

// statePath is --state, or the stack's default store.
func statePath(flag, dir string) string {
	if flag != "" {
		return flag
	}
	return state.DefaultPath(dir)
}

// newRunID is a sortable, unique run id: time then randomness.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
