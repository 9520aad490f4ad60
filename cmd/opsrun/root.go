package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
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
	ExitLocked      ExitCode = 4 // another run holds the stack's lock; nothing ran
)

const exitCodesHelp = `Exit status:
  0  every host ok
  1  bad input or usage (nothing ran)
  2  some host failed
  3  some host was unreachable (takes precedence over 2)
  4  the stack is locked by another run (nothing ran)`

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

// Factory carries what commands share: streams, the logger and the
// interrupts.
type Factory struct {
	IO     IO
	Logger *slog.Logger
	// interrupts is nil when no signal is watched (tests that build a
	// command directly).
	interrupts *interrupts
}

// stopSignal asks for gentle interrupts: the returned channel closes on
// the first SIGINT/SIGTERM, and only the second cancels the context.
func (f *Factory) stopSignal() <-chan struct{} {
	if f.interrupts == nil {
		return nil
	}
	return f.interrupts.gentle()
}

// errCancelled is the context's cause when interrupts cancel a command.
var errCancelled = errors.New("interrupted: running commands cancelled")

// interrupts turns SIGINT/SIGTERM into, by default, a cancel of the
// command's context, then an exit at once. A command that asked for
// gentle interrupts (opsrun run) gets a stop first: no new work starts,
// running commands finish; then the cancel; then the exit.
type interrupts struct {
	mu         sync.Mutex
	n          int
	gentleMode bool
	stop       chan struct{}
	cancel     context.CancelCauseFunc
	errOut     io.Writer
}

func newInterrupts(cancel context.CancelCauseFunc, errOut io.Writer) *interrupts {
	return &interrupts{stop: make(chan struct{}), cancel: cancel, errOut: errOut}
}

func (i *interrupts) gentle() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.gentleMode = true
	return i.stop
}

// signal handles one interrupt and reports whether opsrun must exit now.
func (i *interrupts) signal() (exitNow bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	switch {
	case i.gentleMode && i.n == 1:
		close(i.stop)
		fmt.Fprintln(i.errOut, "\nopsrun: interrupted: no new host or resource will start; running commands are let finish. Interrupt again to cancel them.")
	case i.gentleMode && i.n == 2:
		i.cancel(errCancelled)
		fmt.Fprintln(i.errOut, "\nopsrun: interrupted again: cancelling running commands. Interrupt again to exit at once.")
	case !i.gentleMode && i.n == 1:
		i.cancel(errCancelled)
	default:
		return true
	}
	return false
}

// Main runs opsrun with args and returns the exit status.
func Main(args []string, streams IO) ExitCode {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	intr := newInterrupts(cancel, streams.ErrOut)
	f := &Factory{IO: streams, interrupts: intr}
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sigs:
				if intr.signal() {
					fmt.Fprintln(streams.ErrOut, "opsrun: interrupted three times: exiting now")
					os.Exit(130)
				}
			case <-done:
				return
			}
		}
	}()
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
