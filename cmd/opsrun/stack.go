package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/diag"
	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/registry"
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
	reg   modules.Registry
}

// load reads the stack and the extra inventories, printing every
// diagnostic (file:line:col, source line, caret) before failing.
func (o *StackOptions) load() (*loaded, error) {
	reg := registry.Builtin()
	s, diags := stack.LoadDir(o.Dir, stack.Inputs{Vars: o.Vars, VarFiles: o.VarFiles, Env: os.Environ()}, reg)
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
			fmt.Fprintf(opts.IO.Out, "Stack %s is valid: %s, %s.\n", l.stack.Name, plural(len(l.stack.Layers), "layer"), plural(len(l.hosts), "host"))
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

	Dialer transport.Dialer // nil means SSH
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
install, service state). Nothing is changed.

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
		switch opts.Output {
		case "text", "json":
		default:
			return usageError(fmt.Sprintf("--output must be text or json, not %q", opts.Output))
		}
		if opts.Forks < 0 {
			return usageError("--forks must not be negative")
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
	if !plan {
		fl.BoolVar(&opts.Check, "check", false, "probe and plan only; change nothing")
	}
	return cmd
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
	l, err := opts.load()
	if err != nil {
		return err
	}
	targets, err := run.Targets(l.stack, l.hosts, opts.Layer, opts.Hosts)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	dialer, done, err := checkedDialer(opts.Dialer, opts.SSHConfig, opts.f, targets)
	if err != nil {
		return err
	}
	defer done()
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
	res, err := run.Run(ctx, run.Input{Stack: l.stack, Registry: l.reg, Dialer: dialer, Hosts: l.hosts, Targets: targets}, run.Options{
		Event: opts.Event, Layer: opts.Layer, Check: opts.Check, Forks: forks, RunID: newRunID(),
		Emit: printer.Emit, OnPlan: printer.Planned, Logger: opts.f.Logger,
	})
	if err != nil && !errors.Is(err, run.ErrInterrupted) {
		return &exitError{code: ExitError, err: err}
	}
	switch {
	case res.Totals.Unreachable > 0:
		return &exitError{code: ExitUnreachable}
	case res.Totals.Failed > 0 || err != nil:
		return &exitError{code: ExitFailed, err: err}
	}
	return nil
}

// newRunID is a sortable, unique run id: time then randomness.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// plural is "1 layer", "2 layers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
