package awsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opsrun/opsrun/testenv"
)

// Files of a fleet's endpoint, in the fleet's directory.
const (
	// EnvFile is the environment (KEY=VALUE lines, see Env) that points
	// the SDK at the fleet's endpoint; `set -a; . DIR/aws.env` is all a
	// user or test needs. The endpoint writes it once it listens, so its
	// presence means the endpoint is ready.
	EnvFile = "aws.env"
	// PIDFile holds the endpoint process's pid, for StopFleetEndpoint.
	PIDFile = "aws-endpoint.pid"
	// LogFile receives the endpoint process's output.
	LogFile = "aws-endpoint.log"
)

// EndpointSubcommand is the `opsrun testenv` subcommand that runs
// RunFleetEndpoint; StopFleetEndpoint checks a pid's command line for it
// before signalling, so a stale pid file never kills an unrelated process.
const EndpointSubcommand = "aws-endpoint"

// shutdownTimeout bounds how long a stopping endpoint waits for requests
// in flight.
const shutdownTimeout = 5 * time.Second

// RunFleetEndpoint serves the EC2 endpoint for the fleet whose files are
// in dir (its hosts as running instances, see FleetInstances) on listen
// (e.g. 127.0.0.1:0) until ctx ends. Its instances are live (see
// NewFleetServer): RunInstances starts a container in the fleet, and the
// fleet's files follow. It writes PIDFile, then EnvFile once it accepts
// connections, and removes both when it returns; work still in flight
// then is cancelled (a half-launched container is removed, the fleet's
// other containers stay for `testenv down`).
func RunFleetEndpoint(ctx context.Context, dir, listen string, log *slog.Logger) (err error) {
	f, err := testenv.Load(dir)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("aws endpoint for fleet %s: %w", f.Name, err)
	}
	defer ln.Close()
	defer func() {
		if rerr := removeEndpointFiles(dir, false); err == nil {
			err = rerr
		}
	}()
	if err := writeFileAtomic(filepath.Join(dir, PIDFile), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	env := strings.Join(Env(url, DefaultRegion), "\n") + "\n"
	env = fmt.Sprintf("# Written by opsrun testenv for fleet %q: the local AWS endpoint. Use: set -a; . %s; set +a\n", f.Name, filepath.Join(dir, EnvFile)) + env
	if err := writeFileAtomic(filepath.Join(dir, EnvFile), []byte(env)); err != nil {
		return err
	}
	if log != nil {
		log.Info("aws endpoint serving", "fleet", f.Name, "url", url, "instances", len(f.Hosts))
	}
	srv := NewFleetServer(f, DefaultRegion, log)
	defer srv.Close()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = hs.Shutdown(sctx)
		case <-done:
		}
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("aws endpoint for fleet %s: %w", f.Name, err)
	}
	return nil
}

// WaitForEndpoint waits until the endpoint for dir has written EnvFile,
// or exited (reported on exited), or ctx ends.
func WaitForEndpoint(ctx context.Context, dir string, exited <-chan error) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(filepath.Join(dir, EnvFile)); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, LogFile))
			return fmt.Errorf("aws endpoint exited before it was ready (%v): %s", err, strings.TrimSpace(string(out)))
		case <-ctx.Done():
			return fmt.Errorf("aws endpoint not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// StopFleetEndpoint stops the endpoint process recorded in dir, if one
// runs, and removes its files. A missing pid file means no endpoint and
// is not an error.
func StopFleetEndpoint(ctx context.Context, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return removeEndpointFiles(dir, true)
	}
	if err != nil {
		return fmt.Errorf("stop aws endpoint: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("stop aws endpoint: %s holds %q, not a pid; remove it by hand", filepath.Join(dir, PIDFile), data)
	}
	if isEndpoint(pid) {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop aws endpoint (pid %d): %w", pid, err)
		}
		if err := waitGone(ctx, pid); err != nil {
			return fmt.Errorf("stop aws endpoint (pid %d): %w", pid, err)
		}
	}
	return removeEndpointFiles(dir, true)
}

// isEndpoint reports whether pid runs the endpoint subcommand, per its
// command line; a pid reused by another process does not.
func isEndpoint(pid int) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("\x00"+EndpointSubcommand+"\x00"))
}

func waitGone(ctx context.Context, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownTimeout+time.Second)
	defer cancel()
	for isEndpoint(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("still running: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func removeEndpointFiles(dir string, withLog bool) error {
	names := []string{EnvFile, PIDFile}
	if withLog {
		names = append(names, LogFile)
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("aws endpoint: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so a
// reader polling for the file never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("aws endpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("aws endpoint: %w", err)
	}
	return nil
}
