package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/watch"
)

// WatchOptions are `opsrun watch`'s inputs.
type WatchOptions struct {
	StackOptions
	Once        bool
	MetricsSink string
	Forks       int
	SSHConfig   string

	Dialer transport.Dialer // nil means SSH
}

// NewCmdWatch builds `opsrun watch`. runF replaces watchRun in tests of
// flag parsing.
func NewCmdWatch(f *Factory, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{StackOptions: StackOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "watch [DIR] --once [--metrics-sink cloudwatch|stdout]",
		Short: "Collect the stack's per-instance metrics (OpsWorks' set) once, for CloudWatch or stdout",
		Long: `Sample every instance of the stack in DIR (default: the current directory)
over one SSH round trip each, all in parallel: OpsWorks' 15 per-host metrics
(cpu_idle, cpu_nice, cpu_system, cpu_user, cpu_waitio as percent of a one
second interval; load_1, load_5, load_15; memory_buffers, memory_cached,
memory_free, memory_swap, memory_total, memory_used in KiB; procs), then
each layer's average.

With --metrics-sink cloudwatch (the default) the datums go to CloudWatch
with PutMetricData, namespace OpsRun, in requests of at most 1000 datums:
per instance with dimensions stack, layer and instance (the EC2 instance id,
else the host name), per layer with dimensions stack and layer. The AWS
SDK's standard configuration applies (environment, profiles, SSO, IMDS;
AWS_ENDPOINT_URL too). A CloudWatch failure exits 1, naming the cause.

With --metrics-sink stdout each datum is one line, INSTANCE METRIC VALUE,
then layer:NAME METRIC VALUE for the layers, for users without CloudWatch.

An instance that does not answer is named on stderr and the others are
still reported.

Only --once exists so far (run it from cron); the long-running watcher
(health checks, auto-healing) is not built yet.

` + exitCodesHelp,
		Example: `  opsrun watch examples/ec2 --once
  opsrun watch examples/hello -i .opsrun/testenv/demo/inventory.hcl --once --metrics-sink stdout
  opsrun watch --once --metrics-sink stdout | awk '$2 == "memory_used"'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			if !opts.Once {
				return usageError("opsrun watch needs --once: the long-running watcher (health checks, auto-healing) is not built yet; run `opsrun watch --once` from cron instead")
			}
			switch opts.MetricsSink {
			case "stdout", "cloudwatch":
			default:
				return usageError(fmt.Sprintf("--metrics-sink must be stdout or cloudwatch, not %q", opts.MetricsSink))
			}
			if opts.Forks < 1 {
				return usageError(fmt.Sprintf("--forks must be at least 1, not %d", opts.Forks))
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&opts.Once, "once", false, "collect one round of metrics and exit (the only mode so far)")
	fl.StringVar(&opts.MetricsSink, "metrics-sink", "cloudwatch", "where metrics go: cloudwatch (namespace OpsRun), or stdout")
	fl.IntVar(&opts.Forks, "forks", 100, "instances to sample at once")
	fl.StringVar(&opts.SSHConfig, "ssh-config", "", "ssh_config file to read instead of ~/.ssh/config (\"none\" for none)")
	return cmd
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	l, err := opts.loadAll(ctx)
	if err != nil {
		return err
	}
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
	at := time.Now()
	results := watch.Collect(ctx, dialer, l.hosts, watch.Options{Forks: opts.Forks, Logger: opts.f.Logger})
	layers := watch.Aggregate(results)
	var unreachable, failed int
	for _, r := range results {
		switch {
		case r.Err == nil:
			if cw == nil {
				printDatums(opts.IO.Out, r.Host.Name, r.Metrics)
			}
			continue
		case unreachableErr(r.Err):
			unreachable++
			fmt.Fprintf(opts.IO.ErrOut, "%v (unreachable: no metrics from it; check it is up and reachable over SSH)\n", r.Err)
		default:
			failed++
			fmt.Fprintf(opts.IO.ErrOut, "%v (no metrics from it)\n", r.Err)
		}
	}
	if cw == nil {
		for _, lm := range layers {
			printDatums(opts.IO.Out, "layer:"+lm.Layer, lm.Metrics)
		}
	} else {
		datums := watch.CloudWatchDatums(l.stack.Name, results, layers, at)
		n, err := watch.Push(ctx, cw, datums)
		if err != nil {
			return &exitError{code: ExitError, err: err}
		}
		fmt.Fprintf(opts.IO.ErrOut, "Pushed %s to CloudWatch (namespace %s) in %s.\n", report.Plural(len(datums), "datum"), watch.Namespace, report.Plural(n, "request"))
	}
	switch {
	case unreachable > 0:
		return &exitError{code: ExitUnreachable}
	case failed > 0:
		return &exitError{code: ExitFailed}
	}
	return nil
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
