package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/watch"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/inventory/awsconfig"
)

// WatchOptions are `opsrun watch`'s inputs.
type WatchOptions struct {
	StackOptions
	Once        bool
	MetricsSink string
	Forks       int
	SSHConfig   string
	State       string
	// Interval, UnhealthyAfter and MaxHealing override the stack's watch
	// block when set (MaxHealing -1: not set).
	Interval       time.Duration
	UnhealthyAfter time.Duration
	MaxHealing     int
	// HealLockTimeout is how long a heal waits for another run holding
	// the stack.
	HealLockTimeout time.Duration

	Dialer transport.Dialer // nil means SSH
}

// NewCmdWatch builds `opsrun watch`. runF replaces watchRun in tests of
// flag parsing.
func NewCmdWatch(f *Factory, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{StackOptions: StackOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "watch [DIR] [--once] [--metrics-sink cloudwatch|stdout]",
		Short: "Check the stack's instances every interval, heal those that stay unhealthy, send their metrics",
		Long: `The agentless stand-in for OpsWorks' agent. Every interval (the stack's
watch block, default 60s), over one SSH round trip per instance, all in
parallel:

Health: the round trip itself, and the health_check of each of the
instance's layers (an HTTP URL or a command, run as the login user). An
EC2 instance the stack set up that EC2 no longer lists as running counts
as failing too. An instance failing for unhealthy_after (default 5m) is
unhealthy.

Auto-healing, for layers with auto_healing: an EC2 instance is restarted
(stop and start) or, with auto_healing = "replace", terminated and
replaced by a like one (AMI, type, subnet, security groups, key, tags);
a static host is set up again once it answers; "alert" only records it.
Then opsrun up runs: setup and the apps' last releases on the healed
instances, configure on the whole stack; it takes the stack's lock and is
recorded in opsrun history like any run. At most max_healing instances are
healed at once; when more than half of the stack fails at the same moment
the watcher assumes it is the one cut off and heals nothing, saying so in
its log; an instance whose heal failed waits (2 intervals, doubling, at
most an hour) before the next.

Metrics: OpsWorks' 15 per-host metrics (cpu_idle, cpu_nice, cpu_system,
cpu_user, cpu_waitio as percent of a one second interval; load_1, load_5,
load_15; memory_buffers, memory_cached, memory_free, memory_swap,
memory_total, memory_used in KiB; procs), then each layer's average. With
--metrics-sink cloudwatch (the default) they go to CloudWatch with
PutMetricData, namespace OpsRun, in requests of at most 1000 datums: per
instance with dimensions stack, layer and instance (the EC2 instance id,
else the host name), per layer with dimensions stack and layer. The AWS
SDK's standard configuration applies (environment, profiles, SSO, IMDS;
AWS_ENDPOINT_URL too). With --metrics-sink stdout each datum is one line,
INSTANCE METRIC VALUE, then layer:NAME METRIC VALUE for the layers.

Only one watcher per stack acts: it holds a lease in the state store,
renewed every round; another watcher waits on standby and takes over when
the lease lapses (3 intervals). The instances' failure counts and any heal
under way are kept in the state store, so a restarted watcher carries on.
SIGTERM or SIGINT stops it within one interval: a heal under way gets half
an interval to finish, then is cancelled and finished by the next watcher.

Run it as a systemd service (docs/watch.md has a unit file), or from cron
with --once: one round, then exit (make the cron period the interval).

` + exitCodesHelp,
		Example: `  opsrun watch examples/ec2
  opsrun watch examples/shop -i inventory.hcl --metrics-sink stdout --interval 30s
  opsrun watch --once --metrics-sink stdout | awk '$2 == "memory_used"'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			switch opts.MetricsSink {
			case "stdout", "cloudwatch":
			default:
				return usageError(fmt.Sprintf("--metrics-sink must be stdout or cloudwatch, not %q", opts.MetricsSink))
			}
			if opts.Forks < 1 {
				return usageError(fmt.Sprintf("--forks must be at least 1, not %d", opts.Forks))
			}
			if opts.Interval < 0 || opts.UnhealthyAfter < 0 {
				return usageError("--interval and --unhealthy-after must be positive durations, like 30s or 5m")
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&opts.Once, "once", false, "one round (health, heals, metrics), then exit: for cron")
	fl.StringVar(&opts.MetricsSink, "metrics-sink", "cloudwatch", "where metrics go: cloudwatch (namespace OpsRun), or stdout")
	fl.IntVar(&opts.Forks, "forks", 100, "instances to check at once")
	fl.StringVar(&opts.SSHConfig, "ssh-config", "", "ssh_config file to read instead of ~/.ssh/config (\"none\" for none)")
	fl.StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	fl.DurationVar(&opts.Interval, "interval", 0, "time between rounds (default: the stack's watch block, else 60s)")
	fl.DurationVar(&opts.UnhealthyAfter, "unhealthy-after", 0, "failing this long makes an instance unhealthy (default: the watch block, else 5m)")
	fl.IntVar(&opts.MaxHealing, "max-healing", -1, "instances healed at once (default: the watch block, else 1)")
	fl.DurationVar(&opts.HealLockTimeout, "heal-lock-timeout", 10*time.Minute, "how long a heal waits for another run holding the stack")
	return cmd
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	l, err := opts.loadAll(ctx)
	if err != nil {
		return err
	}
	s := l.stack
	dialer, done, err := checkedDialer(opts.Dialer, opts.SSHConfig, opts.f, l.hosts)
	if err != nil {
		return err
	}
	defer done()
	var cw *cloudwatch.Client
	if opts.MetricsSink == "cloudwatch" {
		// Before any host is touched: a missing region or bad profile
		// is the usual failure, and it is the user's to fix.
		if cw, err = watch.NewCloudWatchClient(ctx); err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	cloud, err := ec2Cloud(ctx, s)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	// A watcher says what it does (rounds, heals) at info level, which
	// other commands keep quiet unless -v.
	log := opts.f.Logger
	if log == nil || !log.Enabled(ctx, slog.LevelInfo) {
		log = slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	store := state.New(statePath(opts.State, opts.Dir), state.Options{Logger: opts.f.Logger})
	// Heals stop gently when the watcher is asked to stop.
	healStop := make(chan struct{})
	go func() { <-ctx.Done(); close(healStop) }()
	sink := &metricsSink{opts: opts, cw: cw, stack: s.Name}
	w := watch.New(watch.Config{
		Stack: s, Store: store, Dialer: dialer, Cloud: cloud,
		Resolve: func(ctx context.Context) ([]*inventory.Host, error) {
			return run.DynamicHosts(ctx, s, l.static, log)
		},
		Converge: func(ctx context.Context, reset []string, note string) (string, error) {
			return opts.heal(ctx, healStop, reset, note)
		},
		Record: func(ctx context.Context, note string) (string, error) {
			return recordAlert(ctx, store, s.Name, note)
		},
		Metrics:        sink.send,
		Interval:       opts.Interval,
		UnhealthyAfter: opts.UnhealthyAfter,
		MaxHealing:     opts.MaxHealing,
		Forks:          opts.Forks,
		Me:             state.Me(newRunID(), "opsrun watch"),
		Logger:         log,
	})
	c := w.Config()
	if c.UnhealthyAfter < c.Interval {
		return usageError(fmt.Sprintf("unhealthy_after (%s) is shorter than the interval (%s): an instance is judged once per interval; make it at least the interval", c.UnhealthyAfter, c.Interval))
	}
	if !opts.Once {
		log.Info("watching", "stack", s.Name, "interval", c.Interval, "unhealthy_after", c.UnhealthyAfter, "max_healing", c.MaxHealing, "instances", len(l.hosts))
		return w.Run(ctx)
	}
	r, err := w.Round(ctx)
	w.Wait()
	if rerr := store.ReleaseLease(ctx, w.ID()); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if !r.Leader {
		fmt.Fprintf(opts.IO.ErrOut, "Standby: another watcher leads stack %s (%s); nothing checked.\n", s.Name, r.Holder)
		return nil
	}
	if sink.err != nil {
		// One round from cron: a CloudWatch failure is the command's.
		return &exitError{code: ExitError, err: sink.err}
	}
	printRound(opts.IO.ErrOut, r)
	switch {
	case sink.unreachable > 0:
		return &exitError{code: ExitUnreachable}
	case sink.failed > 0:
		return &exitError{code: ExitFailed}
	}
	return nil
}

// metricsSink sends each round's metrics to CloudWatch (cw) or prints
// them, and keeps the last round's counts for --once's exit status.
type metricsSink struct {
	opts                *WatchOptions
	cw                  *cloudwatch.Client // nil: print on stdout
	stack               string
	unreachable, failed int
	err                 error // the last push's
}

func (k *metricsSink) send(ctx context.Context, results []watch.Result, layers []watch.LayerMetrics, at time.Time) error {
	opts := k.opts
	k.unreachable, k.failed = 0, 0
	for _, r := range results {
		switch {
		case r.Err == nil:
			if k.cw == nil {
				printDatums(opts.IO.Out, r.Host.Name, r.Metrics)
			}
		case unreachableErr(r.Err):
			k.unreachable++
			if opts.Once {
				fmt.Fprintf(opts.IO.ErrOut, "%v (unreachable: no metrics from it; check it is up and reachable over SSH)\n", r.Err)
			}
		default:
			k.failed++
			if opts.Once {
				fmt.Fprintf(opts.IO.ErrOut, "%v (no metrics from it)\n", r.Err)
			}
		}
	}
	if k.cw == nil {
		for _, lm := range layers {
			printDatums(opts.IO.Out, "layer:"+lm.Layer, lm.Metrics)
		}
		return nil
	}
	datums := watch.CloudWatchDatums(k.stack, results, layers, at)
	n, err := watch.Push(ctx, k.cw, datums)
	if k.err = err; err != nil {
		return err
	}
	if opts.Once {
		fmt.Fprintf(opts.IO.ErrOut, "Pushed %s to CloudWatch (namespace %s) in %s.\n", report.Plural(len(datums), "datum"), watch.Namespace, report.Plural(n, "request"))
	}
	return nil
}

// printRound says what a --once round found and did.
func printRound(w io.Writer, r *watch.Round) {
	switch {
	case r.Checked == 0 && r.HeldBack == "":
		fmt.Fprintln(w, "Health: no instance to judge yet (only those opsrun up has set up are).")
	case len(r.Unhealthy) == 0 && r.Checked > 0:
		fmt.Fprintf(w, "Health: %s, all healthy.\n", report.Plural(r.Checked, "instance"))
	case len(r.Unhealthy) > 0:
		fmt.Fprintf(w, "Health: %d of %s failing:\n", len(r.Unhealthy), report.Plural(r.Checked, "instance"))
		for _, name := range slices.Sorted(maps.Keys(r.Unhealthy)) {
			fmt.Fprintf(w, "  %s: %s\n", name, r.Unhealthy[name])
		}
	}
	if len(r.Healing) > 0 {
		fmt.Fprintf(w, "Healed: %s (see opsrun history).\n", strings.Join(r.Healing, ", "))
	}
	if r.HeldBack != "" {
		fmt.Fprintf(w, "Not healing: %s.\n", r.HeldBack)
	}
}

// heal runs opsrun up with reset, the way opsrun up runs (lock, history,
// report on stdout), and returns its run id.
func (opts *WatchOptions) heal(ctx context.Context, stop <-chan struct{}, reset []string, note string) (string, error) {
	lo := &LifecycleOptions{RunOptions: RunOptions{StackOptions: opts.StackOptions, Output: "text", SSHConfig: opts.SSHConfig,
		State: opts.State, LockTimeout: opts.HealLockTimeout, Dialer: opts.Dialer, stop: stop}}
	var runID string
	err := lo.lifecycle(ctx, "up", "opsrun watch: heal", func(ctx context.Context, in lifecycle.Input, o lifecycle.Options) (*lifecycle.Outcome, error) {
		runID = o.RunID
		o.Reset = reset
		out, err := lifecycle.Up(ctx, in, o)
		if out != nil {
			out.Note = note + "; " + out.Note
		}
		return out, err
	})
	return runID, err
}

// recordAlert writes an alert in the history: a finished, failed entry
// that changed nothing.
func recordAlert(ctx context.Context, store *state.Store, stackName, note string) (string, error) {
	me := state.Me(newRunID(), "opsrun watch")
	rec := &state.RunRecord{ID: me.RunID, Stack: stackName, Event: "watch", Command: me.Command, Who: me.Who(), PID: me.PID, Started: me.Started, Note: note}
	if err := store.Begin(ctx, rec); err != nil {
		return "", err
	}
	rec.Finished, rec.Outcome = time.Now().UTC(), state.OutcomeFailed
	return rec.ID, store.Finish(ctx, rec)
}

// ec2Cloud is EC2 for healing, one client per EC2 inventory; nil when the
// stack has none.
func ec2Cloud(ctx context.Context, s *stack.Stack) (watch.Cloud, error) {
	if len(s.EC2Inventories) == 0 {
		return nil, nil
	}
	c := &watch.EC2Cloud{}
	for _, inv := range s.EC2Inventories {
		cfg, err := awsconfig.Load(ctx, inv.Region, inv.Profile)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: inventory \"ec2\": %w", inv.DeclRange.Filename, inv.DeclRange.Start.Line, err)
		}
		c.Clients = append(c.Clients, ec2.NewFromConfig(cfg))
	}
	return c, nil
}

// unreachableErr tells an instance nothing ran on (no connection, or no
// login) from one that answered badly, as opsrun exec counts them.
func unreachableErr(err error) bool {
	return errors.Is(err, transport.ErrUnreachable) || errors.Is(err, transport.ErrAuthFailed) ||
		errors.Is(err, transport.ErrHostKeyMismatch) || errors.Is(err, transport.ErrHostKeyUnknown)
}

// printDatums writes one "NAME METRIC VALUE" line per metric. Values are
// rounded to two decimals: averages would otherwise print 15 digits of
// noise.
func printDatums(w io.Writer, name string, m watch.Metrics) {
	for _, d := range m.Datums() {
		fmt.Fprintf(w, "%s %s %s\n", name, d.Name, strconv.FormatFloat(math.Round(d.Value*100)/100, 'f', -1, 64))
	}
}
