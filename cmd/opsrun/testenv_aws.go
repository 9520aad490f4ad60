package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// awsStartTimeout bounds the wait for a fresh endpoint process to listen.
const awsStartTimeout = 15 * time.Second

// NewCmdTestenvAWSEndpoint builds the hidden `opsrun testenv aws-endpoint`,
// the background process `testenv up --aws` starts: it must outlive that
// command, so it is a process of its own, stopped by `testenv down`.
func NewCmdTestenvAWSEndpoint(f *Factory) *cobra.Command {
	var dir, listen string
	cmd := &cobra.Command{
		Use:    awsapi.EndpointSubcommand + " --dir DIR [--listen ADDR]",
		Short:  "Serve the local AWS endpoint for a fleet (started by testenv up --aws)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageError("aws-endpoint needs the fleet's directory: --dir DIR")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return awsapi.RunFleetEndpoint(ctx, dir, listen, f.Logger)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the fleet's directory (where fleet.json is)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	return cmd
}

// startAWSEndpoint starts the endpoint for fleet as a detached process of
// this same binary and waits until it has written aws.env.
func startAWSEndpoint(ctx context.Context, fleet *testenv.Fleet) (envPath string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("start aws endpoint: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(fleet.Dir, awsapi.LogFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("start aws endpoint: %w", err)
	}
	defer logf.Close()
	// Not exec.CommandContext: the process must outlive this command.
	cmd := exec.Command(exe, "testenv", awsapi.EndpointSubcommand, "--dir", fleet.Dir, "--listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session, so the terminal's Ctrl-C for a later command does
	// not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start aws endpoint: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wctx, cancel := context.WithTimeout(ctx, awsStartTimeout)
	defer cancel()
	if err := awsapi.WaitForEndpoint(wctx, fleet.Dir, exited); err != nil {
		_ = cmd.Process.Kill()
		return "", err
	}
	return filepath.Join(fleet.Dir, awsapi.EnvFile), nil
}

// testenvFleetDir is the directory Down will use for the fleet: dir when
// given, else the one recorded on its containers, else the default one.
func testenvFleetDir(ctx context.Context, name, dir string) string {
	if dir != "" {
		return dir
	}
	if fleets, err := testenv.Status(ctx); err == nil {
		for _, st := range fleets {
			if st.Name == name && st.Dir != "" {
				return st.Dir
			}
		}
	}
	return testenv.DefaultDir(name)
}
