package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// ExitCode is the process exit status; its values are documented in
// `opsrun --help` and the README, and scripts depend on them.
type ExitCode int

// Exit statuses.
const (
	ExitOK          ExitCode = 0 // every host ok
	ExitError       ExitCode = 1 // bad input or usage; nothing ran
	ExitFailed      ExitCode = 2 // some host failed (and none unreachable)
	ExitUnreachable ExitCode = 3 // some host could not be reached
)

const exitCodesHelp = `Exit status:
  0  every host ok
  1  bad input or usage (nothing ran)
  2  some host failed
  3  some host was unreachable (takes precedence over 2)`

// IO is the process's streams; tests swap them for buffers.
type IO struct {
	In          io.Reader
	Out, ErrOut io.Writer
	// IsTTY reports whether ErrOut is a terminal (progress bars go there).
	IsTTY bool
}

// SystemIO returns the real standard streams.
func SystemIO() IO {
	return IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTTY: term.IsTerminal(int(os.Stderr.Fd()))}
}

// exitError carries a specific exit status out of a command's RunE; its
// message, when not empty, has already been printed or is printed by Main.
type exitError struct {
	code ExitCode
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Factory carries what commands share: streams and the logger.
type Factory struct {
	IO     IO
	Logger *slog.Logger
}

// Main runs opsrun with args and returns the exit status.
func Main(args []string, streams IO) ExitCode {
	f := &Factory{IO: streams}
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	// The first SIGINT/SIGTERM cancels the run's context: no new work starts
	// and remote commands are stopped; a second one kills opsrun at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(streams.ErrOut, "opsrun: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(streams.ErrOut, "opsrun: %v\n", err)
	return ExitError
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:   "opsrun",
		Short: "Agentless SSH push-mode stack orchestrator",
		Long: `opsrun runs commands, recipes and lifecycle events on fleets of hosts over
plain SSH, with nothing installed on the hosts but sshd and a POSIX shell.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			f.Logger = slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level}))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log connection and command details to stderr")
	root.AddCommand(NewCmdVersion(f))
	addCommands(root, f)
	return root
}
