package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// NewCmdTestenv builds `opsrun testenv`: disposable fleets of Docker hosts.
func NewCmdTestenv(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testenv",
		Short: "Bring up disposable fleets of real Linux hosts in Docker",
		Long: `Bring up a fleet of Debian hosts in Docker containers to try opsrun on, and
remove it afterwards. Each host runs sshd (and systemd, unless --init sshd)
with its own host key; the fleet's directory gets an inventory.hcl for opsrun,
an ssh_config for ssh -F, known_hosts and the client key.

The host image is built on first use with debootstrap (about a minute, needs
root and the Debian mirror); no image registry is used.`,
	}
	cmd.AddCommand(
		NewCmdTestenvUp(f, nil),
		NewCmdTestenvDown(f, nil),
		NewCmdTestenvStatus(f, nil),
		NewCmdTestenvImage(f, nil),
		NewCmdTestenvAWSEndpoint(f),
	)
	return cmd
}

// TestenvUpOptions are `opsrun testenv up`'s inputs.
type TestenvUpOptions struct {
	IO      IO
	Logger  *slog.Logger
	Name    string
	Hosts   int
	Layers  []testenv.LayerCount
	Bastion bool
	Init    string
	// AWS starts the local AWS endpoint over the fleet and writes aws.env.
	AWS bool
	// Dir is as the user gave it (or the default), relative paths kept, so
	// the printed commands read as the user would type them.
	Dir string
}

// NewCmdTestenvUp builds `opsrun testenv up`. runF replaces testenvUpRun in
// tests of flag parsing.
func NewCmdTestenvUp(f *Factory, runF func(*TestenvUpOptions) error) *cobra.Command {
	opts := &TestenvUpOptions{}
	var layers string
	cmd := &cobra.Command{
		Use:   "up --name NAME (--hosts N | --layers LAYER:N,...) [flags]",
		Short: "Bring up a fleet and write its inventory, ssh_config and keys",
		Example: `  opsrun testenv up --name demo --layers web:2,db:1
  opsrun testenv up --name scale --hosts 100 --init sshd
  opsrun testenv up --name vpc --layers app:3 --bastion`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Logger = f.IO, f.Logger
			if opts.Name == "" {
				return errors.New("testenv up needs a fleet name: --name NAME (e.g. --name demo)")
			}
			if err := testenv.ValidateName(opts.Name); err != nil {
				return err
			}
			var err error
			if opts.Layers, err = testenv.ParseLayers(layers); err != nil {
				return fmt.Errorf("--layers: %w", err)
			}
			if opts.Hosts < 0 {
				return fmt.Errorf("--hosts must not be negative, not %d", opts.Hosts)
			}
			if opts.Hosts == 0 && len(opts.Layers) == 0 {
				return errors.New("testenv up needs hosts: --hosts N or --layers web:2,db:1 (or both)")
			}
			if opts.Init != testenv.InitSystemd && opts.Init != testenv.InitSSHD {
				return fmt.Errorf("--init must be %s or %s, not %q", testenv.InitSystemd, testenv.InitSSHD, opts.Init)
			}
			if opts.Dir == "" {
				opts.Dir = testenv.DefaultDir(opts.Name)
			}
			if runF != nil {
				return runF(opts)
			}
			return testenvUpRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "fleet name: lower-case letters, digits and dashes")
	fl.IntVar(&opts.Hosts, "hosts", 0, "hosts host-1..host-N in no layer")
	fl.StringVar(&layers, "layers", "", "hosts per layer, e.g. web:2,db:1 (hosts web-1, web-2, db-1)")
	fl.BoolVar(&opts.Bastion, "bastion", false, "add a jump host; the other hosts are then reachable only through it")
	fl.StringVar(&opts.Init, "init", testenv.InitSystemd, "PID 1 of the hosts: systemd, or sshd for light hosts")
	fl.StringVar(&opts.Dir, "dir", "", "directory for the fleet's files (default .opsrun/testenv/NAME)")
	fl.BoolVar(&opts.AWS, "aws", false, "also start a local AWS (EC2) endpoint whose instances are the hosts, and write aws.env for the AWS SDK")
	return cmd
}

func testenvUpRun(ctx context.Context, opts *TestenvUpOptions) error {
	// Ctrl-C must not leave containers behind: Up removes what it made
	// when its context ends.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	fleet, err := testenv.Up(ctx, testenv.Spec{
		Name:    opts.Name,
		Layers:  opts.Layers,
		Hosts:   opts.Hosts,
		Bastion: opts.Bastion,
		Init:    opts.Init,
		Dir:     opts.Dir,
	}, testenvProgressLogger(opts.Logger, opts.IO.ErrOut))
	if err != nil {
		return err
	}
	testenvPrintFleet(opts.IO.Out, fleet, opts.Dir, time.Since(start))
	if opts.AWS {
		env, err := startAWSEndpoint(ctx, fleet)
		if err != nil {
			return fmt.Errorf("fleet %s is up, but %w; remove it with opsrun testenv down --name %s", fleet.Name, err, fleet.Name)
		}
		fmt.Fprintf(opts.IO.Out, "\nLocal AWS endpoint: set -a; . %s; set +a   (EC2 instances: the hosts above)\n", testenvShellWord(env))
	}
	return nil
}

func testenvPrintFleet(w io.Writer, fleet *testenv.Fleet, dir string, took time.Duration) {
	n := len(fleet.Hosts)
	fmt.Fprintf(w, "Fleet %q is up: %d host%s in %s.\n\n", fleet.Name, n, testenvPlural(n), took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tADDRESS\tLAYERS")
	if b := fleet.Bastion; b != nil {
		fmt.Fprintf(tw, "  %s\t%s:%d\t(jump host)\n", b.Name, b.Address, b.Port)
	}
	for _, h := range fleet.Hosts {
		layers := strings.Join(h.Layers, ",")
		if layers == "" {
			layers = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s:%d\t%s\n", h.Name, h.Address, h.Port, layers)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nFiles in %s:\n", dir)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\tinventory for opsrun -i\n", testenv.InventoryFile)
	fmt.Fprintf(tw, "  %s\tfor ssh -F\n", testenv.SSHConfigFile)
	fmt.Fprintf(tw, "  %s\tthe hosts' keys (strict checking)\n", testenv.KnownHostsFile)
	fmt.Fprintf(tw, "  %s, %s\tclient key, accepted for users opsrun (passwordless sudo), deploy and root\n", testenv.KeyFile, testenv.PubKeyFile)
	fmt.Fprintf(tw, "  %s\tfleet state, read by testenv down\n", testenv.FleetFile)
	tw.Flush()

	first := fleet.Hosts[0].Name
	fmt.Fprintf(w, "\nNext:\n")
	fmt.Fprintf(w, "  opsrun exec -i %s -- hostname\n", testenvShellWord(filepath.Join(dir, testenv.InventoryFile)))
	fmt.Fprintf(w, "  ssh -F %s %s\n", testenvShellWord(filepath.Join(dir, testenv.SSHConfigFile)), first)
	if dir == testenv.DefaultDir(fleet.Name) {
		fmt.Fprintf(w, "  opsrun testenv down --name %s\n", fleet.Name)
	} else {
		fmt.Fprintf(w, "  opsrun testenv down --name %s --dir %s\n", fleet.Name, testenvShellWord(dir))
	}
}

// TestenvDownOptions are `opsrun testenv down`'s inputs.
type TestenvDownOptions struct {
	IO   IO
	Name string
	Dir  string
}

// NewCmdTestenvDown builds `opsrun testenv down`.
func NewCmdTestenvDown(f *Factory, runF func(*TestenvDownOptions) error) *cobra.Command {
	opts := &TestenvDownOptions{}
	cmd := &cobra.Command{
		Use:   "down --name NAME [--dir DIR]",
		Short: "Remove a fleet's containers, network and files",
		Long: `Remove a fleet's containers and network, and the files testenv up wrote in
its directory (other files there are kept). Removing a fleet that is already
gone succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = f.IO
			if opts.Name == "" && opts.Dir == "" {
				return errors.New("testenv down needs the fleet: --name NAME (see opsrun testenv status)")
			}
			if opts.Name != "" {
				if err := testenv.ValidateName(opts.Name); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return testenvDownRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "fleet name")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "the fleet's directory (default: where testenv up wrote it)")
	return cmd
}

func testenvDownRun(ctx context.Context, opts *TestenvDownOptions) error {
	name := opts.Name
	if name == "" {
		fleet, err := testenv.Load(opts.Dir)
		if err != nil {
			return fmt.Errorf("%w: give --name", err)
		}
		name = fleet.Name
	}
	if err := awsapi.StopFleetEndpoint(ctx, testenvFleetDir(ctx, name, opts.Dir)); err != nil {
		return err
	}
	if err := testenv.Down(ctx, name, opts.Dir); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "Fleet %q is down.\n", name)
	return nil
}

// TestenvStatusOptions are `opsrun testenv status`'s inputs.
type TestenvStatusOptions struct {
	IO IO
}

// NewCmdTestenvStatus builds `opsrun testenv status`.
func NewCmdTestenvStatus(f *Factory, runF func(*TestenvStatusOptions) error) *cobra.Command {
	opts := &TestenvStatusOptions{}
	return &cobra.Command{
		Use:   "status",
		Short: "List the fleets on this Docker daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = f.IO
			if runF != nil {
				return runF(opts)
			}
			return testenvStatusRun(cmd.Context(), opts)
		},
	}
}

func testenvStatusRun(ctx context.Context, opts *TestenvStatusOptions) error {
	fleets, err := testenv.Status(ctx)
	if err != nil {
		return err
	}
	if len(fleets) == 0 {
		fmt.Fprintln(opts.IO.Out, "No testenv fleets.")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLEET\tRUNNING\tDIR")
	for _, s := range fleets {
		dir := s.Dir
		if dir == "" {
			dir = "-"
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\n", s.Name, s.Running, s.Total, dir)
	}
	return tw.Flush()
}

// TestenvImageOptions are `opsrun testenv image`'s inputs.
type TestenvImageOptions struct {
	IO     IO
	Logger *slog.Logger
}

// NewCmdTestenvImage builds `opsrun testenv image`.
func NewCmdTestenvImage(f *Factory, runF func(*TestenvImageOptions) error) *cobra.Command {
	opts := &TestenvImageOptions{}
	return &cobra.Command{
		Use:   "image",
		Short: "Build the host image if it is missing, and print its tag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Logger = f.IO, f.Logger
			if runF != nil {
				return runF(opts)
			}
			return testenvImageRun(cmd.Context(), opts)
		},
	}
}

func testenvImageRun(ctx context.Context, opts *TestenvImageOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	tag, err := testenv.EnsureImage(ctx, testenvProgressLogger(opts.Logger, opts.IO.ErrOut))
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, tag)
	return nil
}

// testenvProgressLogger is the logger testenv gets: the user's when it is verbose,
// else one that prints only testenv's Info messages (such as "building the
// image, about a minute") as plain lines, so a long wait is never silent.
func testenvProgressLogger(l *slog.Logger, w io.Writer) *slog.Logger {
	if l != nil && l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	if w == nil {
		return nil
	}
	return slog.New(testenvProgressHandler{w: w})
}

type testenvProgressHandler struct{ w io.Writer }

func (h testenvProgressHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo
}
func (h testenvProgressHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h testenvProgressHandler) WithGroup(string) slog.Handler      { return h }
func (h testenvProgressHandler) Handle(_ context.Context, r slog.Record) error {
	_, err := fmt.Fprintf(h.w, "opsrun testenv: %s\n", r.Message)
	return err
}

// testenvShellWord quotes s for a POSIX shell when it needs it, for commands the
// user copies.
func testenvShellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func testenvPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
