// Package local is a transport.Conn for the machine opsrun runs on. The
// engine's own tests use it to run real commands and probes without SSH or
// Docker; it is also what a `connection = "local"` host would use.
package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Conn runs commands with the local /bin/sh.
type Conn struct {
	Name string
	// Shell is the sh to run commands with; "" means /bin/sh. Tests point
	// it at dash, bash or busybox to meet every POSIX shell a host has.
	Shell string
	// Env is added to the environment of every command (e.g. PATH=...).
	Env []string
}

// Dialer hands out local connections for every host; tests use it to run a
// whole fleet's worth of hosts against this machine.
type Dialer struct{}

// Check accepts every host: there is nothing to connect to.
func (Dialer) Check(*inventory.Host) error { return nil }

// Dial returns a local connection named after h.
func (Dialer) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	return &Conn{Name: h.Name}, nil
}

// Host is the connection's name.
func (c *Conn) Host() string { return c.Name }

// Run runs cmd.Command with sh -c. Become uses `sudo -n` unless opsrun
// already runs as root. Cancelling ctx kills the command's process group.
func (c *Conn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	shell := c.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	argv := []string{shell, "-c", cmd.Command}
	if cmd.Become && os.Geteuid() != 0 {
		user := cmd.BecomeUser
		if user == "" {
			user = "root"
		}
		argv = append([]string{"sudo", "-n", "-u", user, "--"}, argv...)
	}
	x := exec.Command(argv[0], argv[1:]...)
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(c.Env) > 0 {
		x.Env = append(os.Environ(), c.Env...)
	}
	x.Stdin = cmd.Stdin
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	if cmd.Stdout != nil {
		x.Stdout = cmd.Stdout
	}
	if cmd.Stderr != nil {
		x.Stderr = cmd.Stderr
	}
	start := time.Now()
	if err := x.Start(); err != nil {
		return transport.Result{}, &transport.HostError{Host: c.Name, Op: "run", Err: err}
	}
	done := make(chan error, 1)
	go func() { done <- x.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-x.Process.Pid, syscall.SIGKILL)
		<-done
		return transport.Result{ExitStatus: -1}, &transport.HostError{Host: c.Name, Op: "run", Err: ctx.Err()}
	}
	res := transport.Result{Duration: time.Since(start)}
	if cmd.Stdout == nil {
		res.Stdout = stdout.Bytes()
	}
	if cmd.Stderr == nil {
		res.Stderr = stderr.Bytes()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitStatus = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		return res, &transport.HostError{Host: c.Name, Op: "run", Err: err}
	}
	return res, nil
}

// Upload writes r to a temporary file beside spec.Path, syncs it, applies
// mode and ownership, then renames it over the destination.
func (c *Conn) Upload(ctx context.Context, r io.Reader, spec transport.FileSpec) (err error) {
	fail := func(err error) error { return &transport.HostError{Host: c.Name, Op: "upload", Err: err} }
	var b [6]byte
	_, _ = rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(spec.Path), ".opsrun-"+hex.EncodeToString(b[:]))
	mode := spec.Mode
	if mode == 0 {
		mode = 0o644
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	if spec.Owner != "" || spec.Group != "" {
		owner := spec.Owner
		if spec.Group != "" {
			owner += ":" + spec.Group
		}
		if out, err := exec.CommandContext(ctx, "chown", owner, tmp).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("chown %s: %s", owner, bytes.TrimSpace(out)))
		}
	}
	if err := os.Rename(tmp, spec.Path); err != nil {
		return fail(err)
	}
	return nil
}

// Download copies the file at path into w.
func (c *Conn) Download(_ context.Context, path string, w io.Writer, _ bool) error {
	f, err := os.Open(path)
	if err != nil {
		return &transport.HostError{Host: c.Name, Op: "download", Err: err}
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return &transport.HostError{Host: c.Name, Op: "download", Err: err}
	}
	return nil
}

// Close does nothing: there is no connection.
func (c *Conn) Close() error { return nil }
