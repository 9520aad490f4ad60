package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/engine/state"
)

// HistoryOptions are `opsrun history`'s and `opsrun history show`'s inputs.
type HistoryOptions struct {
	IO     IO
	Dir    string
	State  string
	Limit  int
	Output string
	RunID  string // history show
	f      *Factory
}

func (o *HistoryOptions) store() *state.Store {
	return state.New(statePath(o.State, o.Dir), state.Options{Logger: o.f.Logger})
}

func (o *HistoryOptions) checkOutput() error {
	switch o.Output {
	case "text", "json":
		return nil
	}
	return usageError(fmt.Sprintf("--output must be text or json, not %q", o.Output))
}

// NewCmdHistory builds `opsrun history` and `opsrun history show`.
func NewCmdHistory(f *Factory, runF func(*HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{f: f}
	cmd := &cobra.Command{
		Use:   "history [DIR]",
		Short: "List the stack's recorded runs, newest first",
		Long: `List the runs of the stack in DIR (default: the current directory), newest
first: id, event, who, when, how long, outcome (ok, failed, unreachable,
interrupted, or running: in progress, or its process died), and how many
resources changed and failed. Every opsrun run is recorded, check mode
too; plan is not. The last 1000 runs are kept.

--output json prints one object per run per line, with id, event, check,
outcome, started (RFC 3339), finished, duration (seconds), who, totals,
recap (per host) and changes (resource and action summaries).

The history keeps counts, errors and the summaries of the changes — never
diffs and never command output.`,
		Example: `  opsrun history examples/hello --limit 5
  opsrun history -o json | jq 'select(.outcome != "ok")'
  opsrun history show 20261125T101500Z-1a2b3c4d`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			if err := opts.checkOutput(); err != nil {
				return err
			}
			if opts.Limit < 0 {
				return usageError("--limit must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return historyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output: text, or json")
	cmd.Flags().IntVarP(&opts.Limit, "limit", "n", 20, "show this many runs (0: all)")

	show := &cobra.Command{
		Use:   "show RUN_ID [DIR]",
		Short: "Show one recorded run: recap per host and the resources that changed",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.RunID, opts.Dir = f.IO, args[0], stackDir(args[1:])
			if err := opts.checkOutput(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return historyShowRun(cmd.Context(), opts)
		},
	}
	cmd.AddCommand(show)
	return cmd
}

func historyRun(ctx context.Context, opts *HistoryOptions) error {
	runs, err := opts.store().History(ctx, opts.Limit)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(runs) == 0 {
		fmt.Fprintf(opts.IO.Out, "No run recorded in %s.\n", statePath(opts.State, opts.Dir))
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tEVENT\tWHO\tSTARTED\tDURATION\tOUTCOME\tCHANGED/FAILED")
	for _, r := range runs {
		ev := r.Event
		if r.App != "" {
			ev += " " + r.App
		}
		if r.Check {
			ev += " (check)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", r.ID, ev, r.Who, r.Started.Local().Format("2006-01-02 15:04:05"),
			duration(r), r.OutcomeText(), r.Totals.Changed, r.Totals.Failed)
	}
	return tw.Flush()
}

func duration(r *state.RunRecord) string {
	if r.Finished.IsZero() {
		return "-"
	}
	d := r.Duration()
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func historyShowRun(ctx context.Context, opts *HistoryOptions) error {
	r, err := opts.store().Show(ctx, opts.RunID)
	if err != nil {
		var ue *state.UnknownRunError
		if errors.As(err, &ue) {
			return &exitError{code: ExitError, err: fmt.Errorf("%w (in %s)", err, statePath(opts.State, opts.Dir))}
		}
		return &exitError{code: ExitError, err: err}
	}
	if opts.Output == "json" {
		return json.NewEncoder(opts.IO.Out).Encode(r)
	}
	printRun(opts.IO.Out, r)
	return nil
}

// printRun shows one run: what, who, when, outcome, recap, changes.
func printRun(w io.Writer, r *state.RunRecord) {
	mode := ""
	if r.Check {
		mode = " (check mode: nothing was changed)"
	}
	what := r.Event
	if r.App != "" {
		what += " " + r.App
	}
	fmt.Fprintf(w, "Run %s: %s%s", r.ID, what, mode)
	if r.Stack != "" {
		fmt.Fprintf(w, " on stack %s", r.Stack)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  command:  %s\n", r.Command)
	fmt.Fprintf(w, "  who:      %s (pid %d)\n", r.Who, r.PID)
	fmt.Fprintf(w, "  started:  %s\n", r.Started.Local().Format(time.RFC3339))
	if !r.Finished.IsZero() {
		fmt.Fprintf(w, "  finished: %s (%s)\n", r.Finished.Local().Format(time.RFC3339), duration(r))
	}
	if r.Release != "" {
		fmt.Fprintf(w, "  release:  %s\n", r.Release)
	}
	fmt.Fprintf(w, "  outcome:  %s\n", r.OutcomeText())
	switch {
	case r.Note == "" || r.Outcome == state.OutcomeInterrupted:
	case r.Outcome == state.OutcomeOK:
		fmt.Fprintf(w, "  note:     %s\n", r.Note)
	default:
		fmt.Fprintf(w, "  error:    %s\n", r.Note)
	}
	if len(r.Recap) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tOK\tCHANGED\tFAILED\tSKIPPED\tUNREACHABLE")
		var errs []string
		for _, h := range r.Recap {
			un := "no"
			if h.Unreachable > 0 {
				un = "yes"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", h.Host, h.OK, h.Changed, h.Failed, h.Skipped, un)
			if h.Error != "" {
				errs = append(errs, h.Error)
			}
		}
		_ = tw.Flush()
		for _, e := range errs {
			fmt.Fprintf(w, "error: %s\n", e)
		}
	}
	if len(r.Changes) > 0 {
		verb := "Changed"
		if r.Check {
			verb = "Would change"
		}
		fmt.Fprintf(w, "\n%s:\n", verb)
		for _, c := range r.Changes {
			what := c.Resource
			if c.Handler {
				what += " (notified)"
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", c.Host, what, strings.Join(c.Actions, "; "))
		}
	} else if !r.Finished.IsZero() {
		fmt.Fprintln(w, "\nNothing changed.")
	}
}

// UnlockOptions are `opsrun unlock`'s inputs.
type UnlockOptions struct {
	IO    IO
	Dir   string
	State string
	Force bool
	f     *Factory
}

// NewCmdUnlock builds `opsrun unlock`.
func NewCmdUnlock(f *Factory, runF func(*UnlockOptions) error) *cobra.Command {
	opts := &UnlockOptions{f: f}
	cmd := &cobra.Command{
		Use:   "unlock [DIR] --force",
		Short: "Remove the stack's run lock left by a run that died",
		Long: `Remove the lock of the stack in DIR (default: the current directory). A run
holds it while it runs; a run whose process died on this machine has its
lock broken by the next run on its own. Use this for a run that died on
another machine. Without --force it only says who holds the lock: removing
the lock of a run that is still going lets a second run overlap it.
The removed run, if recorded as running, is recorded as interrupted.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			if runF != nil {
				return runF(opts)
			}
			return unlockRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.State, "state", "", "state store file (default DIR/.opsrun/state.db)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove the lock, whoever holds it")
	return cmd
}

func unlockRun(ctx context.Context, opts *UnlockOptions) error {
	store := state.New(statePath(opts.State, opts.Dir), state.Options{Logger: opts.f.Logger})
	if !opts.Force {
		held, err := store.Holder(ctx)
		if err != nil {
			return &exitError{code: ExitError, err: err}
		}
		if held == nil {
			fmt.Fprintf(opts.IO.Out, "The stack is not locked (%s).\n", store.Path())
			return nil
		}
		return &exitError{code: ExitError, err: fmt.Errorf("stack locked by %s; refusing to remove the lock without --force: if that run is still going, a second run would overlap it. Check that it is dead, then run opsrun unlock --force", held)}
	}
	removed, err := store.Unlock(ctx)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if removed == nil {
		fmt.Fprintf(opts.IO.Out, "The stack is not locked (%s).\n", store.Path())
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "Removed the lock of %s; that run is recorded as interrupted.\n", removed)
	return nil
}
