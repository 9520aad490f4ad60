package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/elb"
	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/inventory"
)

// LifecycleOptions are the inputs of opsrun up, deploy, rollback and
// undeploy: a run's, plus the app and its release.
type LifecycleOptions struct {
	RunOptions
	App string
	Ref string // deploy --ref
	To  string // rollback --to
}

// lifecycleCmd builds one of the lifecycle commands: the flags every run
// takes, the checks, and the lock and history around do.
func lifecycleCmd(f *Factory, cmd *cobra.Command, withApp bool, runF func(*LifecycleOptions) error,
	do func(context.Context, *LifecycleOptions) error) (*cobra.Command, *LifecycleOptions) {
	opts := &LifecycleOptions{RunOptions: RunOptions{StackOptions: StackOptions{f: f}}}
	if withApp {
		cmd.Args = cobra.RangeArgs(1, 2)
	} else {
		cmd.Args = cobra.MaximumNArgs(1)
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		opts.IO = f.IO
		if withApp {
			opts.App, args = args[0], args[1:]
		}
		opts.Dir = stackDir(args)
		if err := opts.checkFlags(); err != nil {
			return err
		}
		if runF != nil {
			return runF(opts)
		}
		return do(c.Context(), opts)
	}
	opts.flags(cmd)
	fl := cmd.Flags()
	fl.IntVar(&opts.Forks, "forks", 0, "hosts at work at once (default: the stack's forks setting)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output: text, or json (one event object per line)")
	fl.StringVar(&opts.SSHConfig, "ssh-config", "", "ssh_config file to read instead of ~/.ssh/config (\"none\" for none)")
	fl.StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	fl.BoolVar(&opts.Check, "check", false, "probe and plan only; change nothing, record no release (takes no lock)")
	fl.DurationVar(&opts.LockTimeout, "lock-timeout", 0, "when another run holds the stack, wait this long for it (e.g. 5m) instead of exiting with status 4")
	return cmd, opts
}

// lifecycle runs op with the lock held and the history recording.
func (o *LifecycleOptions) lifecycle(ctx context.Context, event, command string, op func(context.Context, lifecycle.Input, lifecycle.Options) (*lifecycle.Outcome, error)) error {
	l, err := o.loadAll(ctx)
	if err != nil {
		return err
	}
	balancer, err := o.balancer(ctx, l.stack)
	if err != nil {
		return err
	}
	o.Event, o.Command = event, command
	if o.Check {
		o.Command += " --check"
	}
	rec := state.RunRecord{Event: event, App: o.App}
	return o.execute(ctx, l, l.hosts, rec, func(ctx context.Context, w *work) (*run.Result, string, error) {
		in := lifecycle.Input{Stack: l.stack, Registry: l.reg, Dialer: w.dialer, Hosts: l.hosts, Store: w.store, Balancer: balancer}
		out, err := op(ctx, in, lifecycle.Options{Check: o.Check, Forks: w.forks, RunID: w.runID, Emit: w.emit, OnPlan: w.onPlan, Stop: w.stop, Logger: o.f.Logger})
		if out == nil {
			return nil, "", err
		}
		w.release = out.Release
		return out.Result, out.Note, err
	})
}

// balancer is the ELBv2 client that takes instances out of their layers'
// target groups and puts them back, when any layer names one; nil when
// none does. Built before any host is touched, so missing credentials stop
// the command at once.
func (o *LifecycleOptions) balancer(ctx context.Context, st *stack.Stack) (lifecycle.Balancer, error) {
	var groups []string
	for _, ly := range st.Layers {
		groups = append(groups, ly.TargetGroups...)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	b, err := elb.New(ctx, groups, elb.Options{Logger: o.f.Logger})
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return b, nil
}

// NewCmdUp builds `opsrun up`.
func NewCmdUp(f *Factory, runF func(*LifecycleOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up [DIR]",
		Short: "Converge the stack to its inventory: setup what joined, shutdown what left, configure everywhere",
		Long: `Compare the stack's instances (its inventory, with -i files) with the ones
opsrun up last saw (kept in the state store), and act as OpsWorks does when
instances start and stop:

  1. an instance that joined (or another machine under a known name): its
     layers' setup recipes, then every app already deployed on the stack
     is deployed to it (its last release);
  2. when membership changed: configure runs on EVERY instance of the
     stack, with layer.NAME.instances listing the new membership;
  3. an instance that left, once configure has completed without it (so
     load balancers no longer send it requests) and it is out of its
     layers' ELBv2 target_groups, draining waited: its layers' shutdown
     recipes run on it if it still answers, then it is forgotten.

An instance that joined and serves no app is put in its layers' ELBv2
target groups after its setup; an app's instances go in after their
deploy's health check.

When nothing changed, nothing runs but a check that every instance answers.
A run killed part way is taken up by the next one: an instance whose setup
did not complete gets setup again, and configure runs until it has
completed everywhere for the current membership.

` + exitCodesHelp,
		Example: `  opsrun up examples/shop -i .opsrun/testenv/shop/inventory.hcl
  opsrun up --check`,
	}
	cmd, _ = lifecycleCmd(f, cmd, false, runF, upRun)
	return cmd
}

func upRun(ctx context.Context, o *LifecycleOptions) error {
	return o.lifecycle(ctx, "up", "opsrun up", lifecycle.Up)
}

// NewCmdDeploy builds `opsrun deploy`.
func NewCmdDeploy(f *Factory, runF func(*LifecycleOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy APP [DIR]",
		Short: "Deploy a new release of an app to the instances of its layers",
		Long: `Deploy APP (an app block of the stack in DIR) to every instance of its
layers, batch by batch when the app sets serial:

  1. prepare: ROOT/releases/ID with the source (git, archive or a local
     directory uploaded), the shared directories linked in, .env (mode
     0600) and the build command;
  2. migrate: the migrate command, once per deploy, on one instance of the
     first batch, before any instance switches;
  3. switch: ROOT/current is pointed at the new release by renaming a new
     symbolic link over it (atomic: readers see the old release or the new
     one), then the layers' deploy recipes run (a restart, say);
  4. the health check (HTTP or command, with retries);
  5. old releases are pruned to keep_releases, never the current one.

A batch with more failed instances than max_fail_percentage stops the
rollout; with rollback_on_failure = true that batch is switched back to the
releases it had. Releases are recorded per instance (opsrun releases APP).

An instance of a layer with target_groups is taken out of those ELBv2
target groups, draining waited, before its switch, and put back once its
health check passes; one that fails stays out. Rollback and undeploy do the
same around their changes (credentials: the AWS SDK's standard chain).

` + exitCodesHelp,
		Example: `  opsrun deploy shop examples/shop -i .opsrun/testenv/shop/inventory.hcl
  opsrun deploy shop --ref v1.4.1
  opsrun deploy shop --check`,
	}
	var opts *LifecycleOptions
	cmd, opts = lifecycleCmd(f, cmd, true, runF, deployRun)
	cmd.Flags().StringVar(&opts.Ref, "ref", "", "git branch, tag or commit to deploy instead of the app's ref")
	return cmd
}

func deployRun(ctx context.Context, o *LifecycleOptions) error {
	command := "opsrun deploy " + o.App
	if o.Ref != "" {
		command += " --ref " + o.Ref
	}
	return o.lifecycle(ctx, "deploy", command, func(ctx context.Context, in lifecycle.Input, lo lifecycle.Options) (*lifecycle.Outcome, error) {
		return lifecycle.Deploy(ctx, in, lo, lifecycle.DeployOptions{App: o.App, Ref: o.Ref})
	})
}

// NewCmdRollback builds `opsrun rollback`.
func NewCmdRollback(f *Factory, runF func(*LifecycleOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback APP [DIR]",
		Short: "Switch an app back to an earlier release on every instance",
		Long: `Switch APP's current link back, on every instance that has the app, to the
release it had before its current one (or to --to RELEASE), then run the
layers' deploy recipes and the health check. The release must be kept on
every instance (opsrun releases APP lists them); when it is not, nothing
is changed. The rollback is recorded in the history.

` + exitCodesHelp,
		Example: `  opsrun rollback shop
  opsrun rollback shop --to 20261126T010203Z`,
	}
	var opts *LifecycleOptions
	cmd, opts = lifecycleCmd(f, cmd, true, runF, rollbackRun)
	cmd.Flags().StringVar(&opts.To, "to", "", "the release to switch to (default: each instance's previous one)")
	return cmd
}

func rollbackRun(ctx context.Context, o *LifecycleOptions) error {
	command := "opsrun rollback " + o.App
	if o.To != "" {
		command += " --to " + o.To
	}
	return o.lifecycle(ctx, "rollback", command, func(ctx context.Context, in lifecycle.Input, lo lifecycle.Options) (*lifecycle.Outcome, error) {
		return lifecycle.Rollback(ctx, in, lo, lifecycle.RollbackOptions{App: o.App, To: o.To})
	})
}

// NewCmdUndeploy builds `opsrun undeploy`.
func NewCmdUndeploy(f *Factory, runF func(*LifecycleOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "undeploy APP [DIR]",
		Short: "Run an app's undeploy recipes and remove its releases",
		Long: `Run the undeploy recipes of APP's layers on their instances, then remove the
app's releases and its current link. Its shared directories (ROOT/shared),
which hold data, are kept. The app's releases are forgotten.

` + exitCodesHelp,
		Example: `  opsrun undeploy shop`,
	}
	cmd, _ = lifecycleCmd(f, cmd, true, runF, undeployRun)
	return cmd
}

func undeployRun(ctx context.Context, o *LifecycleOptions) error {
	return o.lifecycle(ctx, "undeploy", "opsrun undeploy "+o.App, func(ctx context.Context, in lifecycle.Input, lo lifecycle.Options) (*lifecycle.Outcome, error) {
		return lifecycle.Undeploy(ctx, in, lo, o.App)
	})
}

// ReleasesOptions are `opsrun releases`' inputs.
type ReleasesOptions struct {
	StackOptions
	App    string
	State  string
	Output string
}

// NewCmdReleases builds `opsrun releases`.
func NewCmdReleases(f *Factory, runF func(*ReleasesOptions) error) *cobra.Command {
	opts := &ReleasesOptions{StackOptions: StackOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "releases APP [DIR]",
		Short: "Show, per instance, an app's current release and the ones kept",
		Long: `Show, for each instance of APP's layers, which release is current and which
are kept on disk (newest first), from the state store: no host is contacted.
Then the releases themselves: id, source, when, and the run that made it.
--output json prints one object with placements and releases.`,
		Example: `  opsrun releases shop examples/shop -i .opsrun/testenv/shop/inventory.hcl`,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.App, opts.Dir = f.IO, args[0], stackDir(args[1:])
			if opts.Output != "text" && opts.Output != "json" {
				return usageError(fmt.Sprintf("--output must be text or json, not %q", opts.Output))
			}
			if runF != nil {
				return runF(opts)
			}
			return releasesRun(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	cmd.Flags().StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output: text, or json")
	return cmd
}

func releasesRun(ctx context.Context, opts *ReleasesOptions) error {
	l, err := opts.load()
	if err != nil {
		return err
	}
	a := l.stack.App(opts.App)
	if a == nil {
		var all []string
		for _, a := range l.stack.Apps {
			all = append(all, a.Name)
		}
		return &exitError{code: ExitError, err: fmt.Errorf("stack %s declares no app %q; its apps: %s", l.stack.Name, opts.App, orNone(all))}
	}
	store := state.New(statePath(opts.State, opts.Dir), state.Options{Logger: opts.f.Logger})
	placements, err := store.Placements(ctx, a.Name)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	releases, err := store.Releases(ctx, a.Name)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	byHost := map[string]*state.Placement{}
	for _, p := range placements {
		byHost[p.Host] = p
	}
	// Every instance of the app's layers, and any other host the store
	// still has the app on.
	var rows []*state.Placement
	for _, h := range l.hosts {
		if !inAny(h, a.Layers) {
			continue
		}
		p := byHost[h.Name]
		if p == nil {
			p = &state.Placement{App: a.Name, Host: h.Name}
		}
		delete(byHost, h.Name)
		rows = append(rows, p)
	}
	for _, p := range placements {
		if byHost[p.Host] != nil {
			rows = append(rows, p)
		}
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		return enc.Encode(struct {
			App        string             `json:"app"`
			Placements []*state.Placement `json:"placements"`
			Releases   []*state.Release   `json:"releases"`
		}{a.Name, rows, releases})
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tCURRENT\tKEPT")
	for _, p := range rows {
		cur := p.Current
		if cur == "" {
			cur = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Host, cur, orNone(p.Kept))
	}
	_ = tw.Flush()
	if len(releases) == 0 {
		fmt.Fprintf(opts.IO.Out, "\n%s has not been deployed; deploy it with opsrun deploy %s\n", a.Name, a.Name)
		return nil
	}
	fmt.Fprintln(opts.IO.Out)
	tw = tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tDEPLOYED\tSOURCE\tRUN")
	for _, r := range releases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Deployed.Local().Format("2006-01-02 15:04:05"), r.Source, r.RunID)
	}
	return tw.Flush()
}

func inAny(h *inventory.Host, layers []string) bool {
	for _, l := range layers {
		if h.InLayer(l) {
			return true
		}
	}
	return false
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}
