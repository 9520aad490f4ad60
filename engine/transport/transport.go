// Package transport defines how the engine talks to a host: run a command,
// move a file. Implementations (SSH in sshconn, and later a local one for
// engine tests) satisfy Conn; everything above this package depends only on
// these types, so the engine never knows which wire it is using.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/opsrun/opsrun/inventory"
)

// Sentinel errors with a documented meaning. Implementations wrap them (with
// %w) in a *HostError so callers can both branch with errors.Is and print a
// message naming the host.
var (
	// ErrUnreachable: no connection could be made or it was lost (dial
	// failure, timeout, reset, host killed mid-command). Reported as
	// "unreachable", exit status 3.
	ErrUnreachable = errors.New("host unreachable")
	// ErrAuthFailed: the server refused every offered credential.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrHostKeyMismatch: the server's host key differs from the one
	// recorded in known_hosts. Never retried, never overridden.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrHostKeyUnknown: strict host key checking and no known_hosts entry.
	ErrHostKeyUnknown = errors.New("host key unknown")
	// ErrBecomeFailed: sudo refused to run the command (needs a password,
	// wrong password, user not in sudoers). The command did not start.
	ErrBecomeFailed = errors.New("become (sudo) failed")
	// ErrConfig: the connection settings themselves are wrong (missing key
	// file, unreadable ssh_config, bad ProxyJump). Fix the input; retrying
	// cannot help.
	ErrConfig = errors.New("bad connection settings")
)

// HostError ties an error to the host and the operation that failed.
type HostError struct {
	Host string // inventory name of the host
	Op   string // short verb: "connect", "run", "upload", "download"
	Err  error
}

func (e *HostError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Host, e.Op, e.Err) }

// Unwrap keeps the identity of the wrapped error.
func (e *HostError) Unwrap() error { return e.Err }

// Cmd is one command to run on a host. Command is a POSIX shell command line
// interpreted by `sh -c` on the host; callers quote with ShellQuote.
type Cmd struct {
	Command string
	// Stdin, when set, is streamed to the command's standard input.
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the output as it arrives instead of
	// it being collected into Result.
	Stdout, Stderr io.Writer
	// Become runs the command through sudo as BecomeUser (root when empty),
	// using the connection's become password if one is configured.
	Become     bool
	BecomeUser string
}

// Result is what a finished command reports. A non-zero exit status is not
// an error: err is reserved for the transport and become failing.
type Result struct {
	Stdout, Stderr []byte // collected output, nil when streamed to Cmd writers
	ExitStatus     int    // -1 when the command was killed by a signal
	Signal         string // signal name when killed by one ("TERM", "KILL")
	Duration       time.Duration
}

// FileSpec describes how an uploaded file must land on the host.
type FileSpec struct {
	Path  string      // absolute destination path
	Mode  fs.FileMode // permission bits; 0644 when zero
	Owner string      // user name or numeric uid; unchanged when empty
	Group string      // group name or numeric gid; unchanged when empty
	// Become writes the file through sudo (for paths the login user cannot write).
	Become bool
}

// Conn is one live connection to a host, safe for concurrent use: several
// commands and transfers may run on it at once.
type Conn interface {
	// Host is the inventory name this connection serves.
	Host() string
	// Run runs cmd and waits for it. Cancelling ctx ends the remote command.
	Run(ctx context.Context, cmd Cmd) (Result, error)
	// Upload streams r to spec.Path atomically: written to a temporary file in
	// the same directory, checksum-verified, synced, then renamed over the
	// destination, so a reader sees the old file or the new one, never a part.
	Upload(ctx context.Context, r io.Reader, spec FileSpec) error
	// Download streams the remote file at path into w.
	Download(ctx context.Context, path string, w io.Writer, become bool) error
	// Close ends the connection and every session on it.
	Close() error
}

// Dialer opens connections to inventory hosts; sshconn.Dialer is the real
// one, tests use fakes.
type Dialer interface {
	// Check validates h's connection settings without connecting, so a
	// run can refuse bad settings before touching any host.
	Check(h *inventory.Host) error
	Dial(ctx context.Context, h *inventory.Host) (Conn, error)
}
