package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/adhoc"
	"github.com/opsrun/opsrun/engine/diag"
	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/sshconn"
	"github.com/opsrun/opsrun/inventory"
)

// ExecOptions are `opsrun exec`'s inputs.
type ExecOptions struct {
	IO          IO
	Inventories []string
	Hosts       string
	Forks       int
	Become      bool
	BecomeUser  string
	Timeout     time.Duration
	Output      string
	SSHConfig   string
	Command     string

	// Dialer connects to hosts; nil means the real SSH dialer.
	Dialer adhoc.Dialer
	f      *Factory
}

// NewCmdExec builds `opsrun exec`. runF replaces execRun in tests of flag
// parsing.
func NewCmdExec(f *Factory, runF func(*ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{f: f}
	cmd := &cobra.Command{
		Use:   "exec -i INVENTORY [flags] -- COMMAND [ARG...]",
		Short: "Run a shell command on many hosts in parallel",
		Long: `Run a shell command on every host the pattern selects, in parallel over SSH.

Each host's output is printed as one block as soon as it is done, then a
recap row per host. The command's words are joined with spaces and run by
the login user's shell (sh -c), as ssh does.

` + exitCodesHelp,
		Example: `  opsrun exec -i .opsrun/testenv/demo/inventory.hcl -- hostname
  opsrun exec -i inv.hcl --hosts 'app-*,!app-3' --become -- systemctl restart nginx
  opsrun exec -i inv.hcl --output json -- uptime | jq .`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = f.IO
			opts.Command = strings.Join(args, " ")
			if len(opts.Inventories) == 0 {
				return usageError("exec needs an inventory: -i FILE (e.g. the inventory.hcl written by `opsrun testenv up`)")
			}
			switch opts.Output {
			case "text", "json":
			default:
				return usageError(fmt.Sprintf("--output must be text or json, not %q", opts.Output))
			}
			if opts.Forks < 1 {
				return usageError(fmt.Sprintf("--forks must be at least 1, not %d", opts.Forks))
			}
			if opts.Timeout < 0 {
				return usageError("--timeout must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return execRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Inventories, "inventory", "i", nil, "inventory file (repeatable)")
	fl.StringVar(&opts.Hosts, "hosts", "all", "host pattern: names or layers, globs, !exclude, &intersect, comma-separated")
	fl.IntVar(&opts.Forks, "forks", 100, "hosts to run on at once")
	fl.BoolVar(&opts.Become, "become", false, "run the command through sudo")
	fl.StringVar(&opts.BecomeUser, "become-user", "root", "user to become with --become")
	fl.DurationVar(&opts.Timeout, "timeout", 0, "stop the command on a host after this long (e.g. 30s); 0 means no limit")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output format: text or json (one object per host)")
	fl.StringVar(&opts.SSHConfig, "ssh-config", "", "ssh_config file to read instead of ~/.ssh/config (\"none\" for none)")
	return cmd
}

func usageError(msg string) error {
	return &exitError{code: ExitError, err: errors.New(msg)}
}

func execRun(ctx context.Context, opts *ExecOptions) error {
	parser := hclparse.NewParser()
	inv, diags := inventory.LoadFiles(parser, opts.Inventories...)
	if diags.HasErrors() {
		diag.Write(opts.IO.ErrOut, diags, parser.Files())
		return &exitError{code: ExitError}
	}
	hosts, err := inv.Select(opts.Hosts)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}

	dialer, done, err := checkedDialer(opts.Dialer, opts.SSHConfig, opts.f, hosts)
	if err != nil {
		return err
	}
	defer done()

	var printer report.AdhocPrinter
	if opts.Output == "json" {
		printer = report.NewAdhocJSON(opts.IO.Out)
	} else {
		printer = report.NewAdhocText(opts.IO.Out, opts.IO.ErrOut, opts.IO.IsTTY, len(hosts))
	}
	start := time.Now()
	results := adhoc.Run(ctx, dialer, hosts, adhoc.Options{
		Command:    opts.Command,
		Become:     opts.Become,
		BecomeUser: opts.BecomeUser,
		Forks:      opts.Forks,
		Timeout:    opts.Timeout,
		Logger:     opts.f.Logger,
	}, printer.HostDone)
	printer.Finish(results, time.Since(start))
	return exitFor(adhoc.Count(results))
}

// exitFor maps outcomes to the documented exit statuses.
func exitFor(t adhoc.Totals) error {
	switch {
	case t.Unreachable > 0:
		return &exitError{code: ExitUnreachable}
	case t.Failed > 0:
		return &exitError{code: ExitFailed}
	}
	return nil
}

// checkedDialer returns the dialer to use (given, or SSH reading
// sshConfig) after checking every host's connection settings, so a bad key
// or ProxyJump stops the command before it touches any host. done closes it.
func checkedDialer(given transport.Dialer, sshConfig string, f *Factory, hosts []*inventory.Host) (transport.Dialer, func(), error) {
	done := func() {}
	if given == nil {
		d, err := sshconn.NewDialer(sshconn.Options{SSHConfigFile: sshConfig, Logger: f.Logger})
		if err != nil {
			return nil, nil, &exitError{code: ExitError, err: err}
		}
		given, done = d, func() { _ = d.Close() }
	}
	if err := transport.CheckAll(given, hosts); err != nil {
		done()
		return nil, nil, &exitError{code: ExitError, err: err}
	}
	return given, done, nil
}
