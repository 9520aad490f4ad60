package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Labels put on every container and network of a fleet, so Down and Status
// find them from the Docker daemon alone, without the files Up wrote.
const (
	labelFleet = "opsrun.testenv"      // fleet name
	labelHost  = "opsrun.testenv.host" // host name inside the fleet
	labelDir   = "opsrun.testenv.dir"  // absolute directory of the fleet's files
)

// ErrUnavailable marks errors meaning this machine cannot run a fleet at all
// (no Docker, no daemon, no debootstrap, no root), as opposed to a fleet that
// failed. New skips tests on it.
var ErrUnavailable = errors.New("testenv unavailable")

// unavailableError is a one-line reason plus the ErrUnavailable identity,
// so the message reads "docker is not installed: ..." rather than carrying a
// sentinel prefix.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string        { return e.msg }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

func unavailable(format string, args ...any) error {
	return &unavailableError{msg: fmt.Sprintf(format, args...)}
}

// runOpts tunes one command run.
type runOpts struct {
	stdin io.Reader
	// sudo prefixes the command with `sudo -n` (image builds as non-root).
	sudo bool
}

// run runs a command and returns its stdout. On failure the error holds the
// command's name and the last line of its stderr, which is where docker and
// debootstrap say what went wrong; the *exec.ExitError stays wrapped.
func run(ctx context.Context, o runOpts, name string, args ...string) ([]byte, error) {
	if o.sudo {
		args = append([]string{"-n", name}, args...)
		name = "sudo"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, o.stdin
	// Own process group, so cancelling kills the children too (debootstrap
	// is a shell script running dpkg and wget).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		what := name
		if name == "docker" || name == "sudo" {
			what = name + " " + firstArgs(args, 2)
		}
		if ctx.Err() != nil {
			return stdout.Bytes(), fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if msg := lastLine(stderr.String()); msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", what, err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", what, err)
	}
	return stdout.Bytes(), nil
}

// docker runs the docker CLI.
func docker(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, runOpts{}, "docker", args...)
}

// firstArgs names a command in errors by its leading words ("network
// create", "exec CONTAINER"), stopping at the first flag.
func firstArgs(args []string, n int) string {
	var words []string
	for _, a := range args {
		if len(words) == n || strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// lastLine is the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// checkDocker fails with an ErrUnavailable error saying what to do when the
// docker CLI is missing or its daemon does not answer.
func checkDocker(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return unavailable("docker is not installed: install it (apt-get install -y docker.io) and start the daemon")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("docker version: %w", ctx.Err())
		}
		why := lastLine(stderr.String())
		if why == "" {
			why = err.Error()
		}
		return unavailable("the Docker daemon is not reachable (%s): start it (systemctl start docker) or check DOCKER_HOST and access to /var/run/docker.sock", why)
	}
	return nil
}
