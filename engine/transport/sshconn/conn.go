package sshconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/opsrun/opsrun/engine/transport"
)

// Signal timing on cancellation: TERM first so the command can clean up,
// KILL if it has not ended after termGrace.
const (
	termGrace = time.Second
	killGrace = 500 * time.Millisecond
	// killTimeout bounds the extra sudo that signals a become command.
	killTimeout = 5 * time.Second
)

// conn is one SSH connection to a host, shared by all its commands and
// transfers.
type conn struct {
	name           string
	target         *Target
	client         *ssh.Client
	becomePassword string
	log            *slog.Logger
	sem            chan struct{} // bounds concurrent sessions (sshd MaxSessions)
	ka             *keepAlive

	sftpMu sync.Mutex
	sftp   *sftp.Client
}

var _ transport.Conn = (*conn)(nil)

func newConn(t *Target, client *ssh.Client, becomePassword string, maxSessions int, log *slog.Logger) *conn {
	return &conn{
		name:           t.Name,
		target:         t,
		client:         client,
		becomePassword: becomePassword,
		log:            log,
		sem:            make(chan struct{}, maxSessions),
		ka:             startKeepAlive(client, t.KeepAliveInterval, t.KeepAliveCountMax, log, t.Name),
	}
}

// Host is the inventory name this connection serves.
func (c *conn) Host() string { return c.name }

// Close ends the connection and every session on it.
func (c *conn) Close() error {
	c.sftpMu.Lock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
	c.sftpMu.Unlock()
	err := c.client.Close()
	if err != nil && c.ka.lost() != nil {
		return nil // already gone; closing twice is not a failure
	}
	return err
}

// acquire takes a session slot, waiting while MaxSessions are in use.
func (c *conn) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ka.done:
		return c.ka.lost()
	}
}

func (c *conn) release() { <-c.sem }

// lostOr returns the reason the connection ended if it has, else a
// connection-level failure wrapped as unreachable when it looks like one.
func (c *conn) lostOr(err error) error {
	if lost := c.ka.lost(); lost != nil {
		return lost
	}
	var em *ssh.ExitMissingError
	if errors.As(err, &em) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: connection lost during the command: %v", transport.ErrUnreachable, err)
	}
	return err
}

// Run runs cmd, through sudo when cmd.Become. A non-zero exit is reported
// in the Result, not as an error.
func (c *conn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	start := time.Now()
	res, err := c.run(ctx, cmd)
	res.Duration = time.Since(start)
	// The command is logged as given: the sudo wrapper adds nothing worth
	// reading, and the password is never part of either.
	attrs := []any{"host", c.name, "command", cmd.Command, "exitCode", res.ExitStatus, "duration", res.Duration}
	if cmd.Become {
		attrs = append(attrs, "become", becomeUser(cmd))
	}
	if err != nil {
		attrs = append(attrs, "error", err)
		err = &transport.HostError{Host: c.name, Op: "run", Err: err}
	}
	c.log.Debug("run", attrs...)
	return res, err
}

func becomeUser(cmd transport.Cmd) string {
	if cmd.BecomeUser == "" {
		return "root"
	}
	return cmd.BecomeUser
}

func (c *conn) run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	res := transport.Result{ExitStatus: -1}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := c.acquire(ctx); err != nil {
		return res, err
	}
	defer c.release()
	return c.runSession(ctx, cmd)
}

// runSession runs cmd in a new session, without taking a session slot.
func (c *conn) runSession(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	res := transport.Result{ExitStatus: -1}

	sess, err := c.client.NewSession()
	if err != nil {
		return res, c.lostOr(fmt.Errorf("open session: %w", err))
	}
	defer sess.Close()

	var stdoutBuf, stderrBuf bytes.Buffer
	stdout, stderr := cmd.Stdout, cmd.Stderr
	if stdout == nil {
		stdout = &stdoutBuf
	}
	if stderr == nil {
		stderr = &stderrBuf
	}
	sess.Stdout = stdout
	// Our own copy of stdin, rather than sess.Stdin, because the library
	// waits for its stdin copy to finish, and a reader that never ends
	// would keep Run waiting after the command has exited.
	stdin, err := sess.StdinPipe()
	if err != nil {
		return res, fmt.Errorf("stdin: %w", err)
	}
	feed := func() {
		if cmd.Stdin != nil {
			_, _ = io.Copy(stdin, cmd.Stdin)
		}
		_ = stdin.Close()
	}

	command := cmd.Command
	var filter *stderrFilter
	var b *become
	var badPassword bool
	var mu sync.Mutex
	if cmd.Become {
		if b, err = newBecome(cmd.BecomeUser, c.becomePassword != ""); err != nil {
			return res, err
		}
		command = b.command(cmd.Command)
		filter = newStderrFilter(b, stderr,
			func(n int) {
				if n == 1 && c.becomePassword != "" {
					_, _ = io.WriteString(stdin, c.becomePassword+"\n")
					return
				}
				// Asked again: the password was wrong. End the session
				// rather than let sudo wait on stdin.
				mu.Lock()
				badPassword = true
				mu.Unlock()
				_ = stdin.Close()
				_ = sess.Close()
			},
			func() { go feed() })
		sess.Stderr = filter
	} else {
		sess.Stderr = stderr
	}

	if err := sess.Start(command); err != nil {
		return res, c.lostOr(fmt.Errorf("start: %w", err))
	}
	if !cmd.Become {
		go feed()
	}
	waitCh := make(chan error, 1)
	go func() { waitCh <- sess.Wait() }()

	select {
	case err = <-waitCh:
	case <-ctx.Done():
		var kill func(sig string)
		if b != nil {
			kill = func(sig string) { c.killBecome(cmd, b, sig) }
		}
		c.stop(sess, waitCh, kill)
		return res, ctx.Err()
	}

	if filter != nil {
		_ = filter.Flush()
	}
	if cmd.Stdout == nil {
		res.Stdout = stdoutBuf.Bytes()
	}
	if cmd.Stderr == nil {
		res.Stderr = stderrBuf.Bytes()
	}
	var ee *ssh.ExitError
	switch {
	case err == nil:
		res.ExitStatus = 0
	case errors.As(err, &ee):
		res.ExitStatus = ee.ExitStatus()
		if ee.Signal() != "" {
			res.ExitStatus, res.Signal = -1, ee.Signal()
		}
		err = nil
	}
	if b != nil {
		mu.Lock()
		wrong := badPassword
		mu.Unlock()
		if wrong {
			return res, becomeError(b.user, filter.SudoOutput(), true)
		}
		if err == nil && !filter.Passed() {
			return res, becomeError(b.user, filter.SudoOutput(), false)
		}
	}
	if err != nil {
		return res, c.lostOr(err)
	}
	return res, nil
}

// stop ends a cancelled command. OpenSSH delivers the signal to the
// command's whole process group; closing the channel alone would leave the
// remote command running. kill, when set, also signals a command that runs
// as another user through sudo (see killScript).
func (c *conn) stop(sess *ssh.Session, waitCh <-chan error, kill func(sig string)) {
	defer sess.Close()
	for _, step := range []struct {
		sig   ssh.Signal
		grace time.Duration
	}{{ssh.SIGTERM, termGrace}, {ssh.SIGKILL, killGrace}} {
		// The sudo tree is signalled first: a signal through the session
		// would end sudo and orphan the command before it could be found.
		if kill != nil {
			kill(string(step.sig))
		}
		_ = sess.Signal(step.sig)
		select {
		case <-waitCh:
			return
		case <-time.After(step.grace):
		}
	}
}

// killBecome runs b's kill command in a session of its own: the cancelled
// command still holds its slot, and waiting for another could deadlock, so
// it takes none (sshd's limit leaves room above MaxSessions).
func (c *conn) killBecome(cmd transport.Cmd, b *become, sig string) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_, err := c.runSession(ctx, transport.Cmd{Command: b.killCommand(sig), Become: true, BecomeUser: cmd.BecomeUser})
	if err != nil {
		c.log.Debug("signal sudo command", "host", c.name, "signal", sig, "error", err)
	}
}
