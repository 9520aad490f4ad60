// Package sshconn is opsrun's SSH transport: it resolves each host's
// settings (inventory, then ssh_config, then OpenSSH's defaults),
// authenticates with key files, ssh-agent or a password, verifies host keys
// against known_hosts, reaches hosts through shared ProxyJump connections,
// and runs commands (optionally through sudo) and moves files (SFTP) over
// one connection per host.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/singleflight"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/sshconn/hostkeys"
	"github.com/opsrun/opsrun/inventory"
)

// Defaults for Options left zero.
const (
	defaultConnectAttempts   = 3
	defaultKeepAliveInterval = 15 * time.Second
	// defaultMaxSessions stays below sshd's MaxSessions (10) so the SFTP
	// session and another client on the same connection still fit.
	defaultMaxSessions = 8
	retryBaseDelay     = 250 * time.Millisecond
)

// Options configures a Dialer. The zero value is usable.
type Options struct {
	// SSHConfigFile is the ssh_config to read: "" means ~/.ssh/config when
	// it exists, "none" means no ssh_config at all (hermetic runs).
	SSHConfigFile string
	// AgentSocket is ssh-agent's socket; "" means $SSH_AUTH_SOCK, read once
	// by NewDialer.
	AgentSocket string
	// Prompt asks for an encrypted key's passphrase. nil means: ask on the
	// controlling terminal if there is one, else fail with advice.
	Prompt func(prompt string) (string, error)
	// Logger receives debug records with the keys host, command, exitCode
	// and duration; nil discards. Passwords and stdin are never logged.
	Logger *slog.Logger
	// ConnectAttempts is how often to try to connect when the network
	// fails (dial, handshake I/O), with backoff; default 3. Refused
	// authentication and host keys are never retried, nor are commands.
	ConnectAttempts int
	// KeepAliveInterval is how often an idle connection is probed; after
	// ServerAliveCountMax (3) unanswered probes it is closed so that waiting
	// commands fail as unreachable. Default 15s; ssh_config's
	// ServerAliveInterval overrides it per host.
	KeepAliveInterval time.Duration
	// MaxSessions bounds concurrent sessions on one connection; default 8.
	MaxSessions int
}

// Dialer opens connections to inventory hosts. It holds what is shared by a
// whole run: parsed keys and answered passphrases, the agent connection,
// the known_hosts writer, and connections to jump hosts. Safe for
// concurrent use.
type Dialer struct {
	opts     Options
	log      *slog.Logger
	resolver *resolver
	keys     *keyring
	agent    *agentSource
	hostKeys *hostkeys.Verifier

	jumpGroup singleflight.Group
	jumpMu    sync.Mutex
	jumps     map[string]*ssh.Client
	closed    bool

	// dialNet opens the TCP connection; tests replace it to inject faults.
	dialNet func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error)
}

// NewDialer validates opts and reads ssh_config. Errors wrap
// transport.ErrConfig.
func NewDialer(opts Options) (*Dialer, error) {
	if opts.ConnectAttempts < 0 || opts.KeepAliveInterval < 0 || opts.MaxSessions < 0 {
		return nil, fmt.Errorf("%w: negative ConnectAttempts, KeepAliveInterval or MaxSessions", transport.ErrConfig)
	}
	if opts.ConnectAttempts == 0 {
		opts.ConnectAttempts = defaultConnectAttempts
	}
	if opts.KeepAliveInterval == 0 {
		opts.KeepAliveInterval = defaultKeepAliveInterval
	}
	if opts.MaxSessions == 0 {
		opts.MaxSessions = defaultMaxSessions
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	home, _ := os.UserHomeDir()
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	} else {
		local = os.Getenv("USER")
	}
	cfg, err := loadSSHConfig(opts.SSHConfigFile, home)
	if err != nil {
		return nil, err
	}
	prompt := opts.Prompt
	if prompt == nil {
		prompt = ttyPrompt(openDevTTY)
	}
	sock := opts.AgentSocket
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	return &Dialer{
		opts: opts,
		log:  logger,
		resolver: &resolver{
			cfg:               cfg,
			home:              home,
			localUser:         local,
			exists:            fileExists,
			keepAliveInterval: opts.KeepAliveInterval,
		},
		keys:     newKeyring(prompt),
		agent:    &agentSource{socket: sock},
		hostKeys: &hostkeys.Verifier{},
		jumps:    map[string]*ssh.Client{},
		dialNet:  dialTCP,
	}, nil
}

// loadSSHConfig reads the ssh_config file named by the option; a nil
// result means none.
func loadSSHConfig(file, home string) (sshConfig, error) {
	explicit := file != ""
	switch {
	case file == "none":
		return nil, nil
	case file == "":
		if home == "" {
			return nil, nil
		}
		file = home + "/.ssh/config"
	}
	f, err := os.Open(file)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: ssh_config: %v", transport.ErrConfig, err)
	}
	defer f.Close()
	cfg, err := decodeSSHConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%w: ssh_config %s: %v", transport.ErrConfig, file, err)
	}
	return cfg, nil
}

// decodeSSHConfig parses ssh_config text, turning a parser panic (the
// library panics on some inputs) into an error.
func decodeSSHConfig(r io.Reader) (cfg *ssh_config.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot parse: %v", p)
		}
	}()
	return ssh_config.Decode(r)
}

// Dial connects to h and returns a connection shared by every command and
// transfer to it. Errors are *transport.HostError.
func (d *Dialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	name := ""
	if h != nil {
		name = h.Name
	}
	fail := func(err error) error { return &transport.HostError{Host: name, Op: "connect", Err: err} }
	t, err := d.resolver.resolve(h)
	if err != nil {
		return nil, fail(err)
	}
	start := time.Now()
	client, err := d.connect(ctx, t)
	if err != nil {
		d.log.Debug("connect failed", "host", t.Name, "addr", t.Addr(), "duration", time.Since(start), "error", err)
		return nil, fail(err)
	}
	d.log.Debug("connected", "host", t.Name, "addr", t.Addr(), "user", t.User, "duration", time.Since(start))
	return newConn(t, client, h.SSH.BecomePassword, d.opts.MaxSessions, d.log), nil
}

// Close closes the shared jump-host connections. Connections returned by
// Dial stay usable only as long as their jump host's connection does.
func (d *Dialer) Close() error {
	d.jumpMu.Lock()
	jumps := d.jumps
	d.jumps = map[string]*ssh.Client{}
	d.closed = true
	d.jumpMu.Unlock()
	var errs []error
	for _, c := range jumps {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	d.agent.close()
	return errors.Join(errs...)
}

// connect opens an authenticated client to t, retrying only network
// failures, with backoff.
func (d *Dialer) connect(ctx context.Context, t *Target) (*ssh.Client, error) {
	// Credentials first: a broken key setting must fail before any dial.
	cr, err := d.credentialsFor(t)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		var client *ssh.Client
		client, err = d.connectOnce(ctx, t, cr)
		if err == nil {
			return client, nil
		}
		// A failing jump host was already retried by its own connect.
		if !errors.Is(err, errRetryable) || errors.Is(err, errViaJump) || attempt >= d.opts.ConnectAttempts || ctx.Err() != nil {
			break
		}
		delay := retryBaseDelay << (attempt - 1)
		delay += rand.N(delay / 2) // spread retries of many hosts hitting one bastion
		d.log.Debug("connect failed, retrying", "host", t.Name, "attempt", attempt, "delay", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, err
}

// errRetryable marks network failures worth another connection attempt.
var errRetryable = errors.New("retryable")

// errViaJump marks a failure to reach the jump host in front of a target.
var errViaJump = errors.New("via jump host")

// jumpError reports that the jump host in front of a target failed; it
// keeps the jump host's own error (and sentinels) reachable.
type jumpError struct {
	hop string
	err error
}

func (e *jumpError) Error() string        { return fmt.Sprintf("via jump host %s: %v", e.hop, e.err) }
func (e *jumpError) Unwrap() error        { return e.err }
func (e *jumpError) Is(target error) bool { return target == errViaJump }

// netError is a network failure: it matches transport.ErrUnreachable and,
// internally, errRetryable.
type netError struct {
	addr string
	err  error
}

func (e *netError) Error() string {
	return fmt.Sprintf("%v: %s: %v", transport.ErrUnreachable, e.addr, e.err)
}

func (e *netError) Is(target error) bool {
	return target == transport.ErrUnreachable || target == errRetryable
}

func (e *netError) Unwrap() error { return e.err }

// connectOnce makes one attempt: TCP (directly or through the jump host),
// then the SSH handshake, both within t.ConnectTimeout.
func (d *Dialer) connectOnce(ctx context.Context, t *Target, cr *credentials) (*ssh.Client, error) {
	var nc net.Conn
	var err error
	if t.Via != nil {
		jc, jerr := d.jumpClient(ctx, t.Via)
		if jerr != nil {
			return nil, &jumpError{hop: t.Via.Name, err: jerr}
		}
		dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
		nc, err = jc.DialContext(dctx, "tcp", t.Addr())
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &netError{addr: t.Addr() + " via " + t.Via.Name, err: err}
		}
	} else {
		nc, err = d.dialNet(ctx, t.Addr(), t.ConnectTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &netError{addr: t.Addr(), err: err}
		}
	}
	return d.handshake(ctx, t, cr, nc)
}

func dialTCP(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	nd := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return nd.DialContext(ctx, "tcp", addr)
}

// handshake runs the SSH handshake on nc. The connect timeout covers it too:
// a server that accepts TCP but never speaks must not hang a run.
func (d *Dialer) handshake(ctx context.Context, t *Target, cr *credentials, nc net.Conn) (*ssh.Client, error) {
	mode := hostkeys.Strict
	if t.HostKeyChecking == checkingAcceptNew {
		mode = hostkeys.AcceptNew
	}
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              cr.methods,
		HostKeyCallback:   d.hostKeys.Callback(t.KnownHosts, mode),
		HostKeyAlgorithms: d.hostKeys.Algorithms(t.KnownHosts, t.Addr()),
		Timeout:           t.ConnectTimeout,
	}
	cr.pinnedAlgorithms = len(cfg.HostKeyAlgorithms) > 0

	// A deadline bounds the handshake on real sockets; channels through a
	// jump host do not support deadlines, so a timer closes those instead.
	var timedOut, cancelled bool
	var mu sync.Mutex
	var timer *time.Timer
	if nc.SetDeadline(time.Now().Add(t.ConnectTimeout)) != nil {
		timer = time.AfterFunc(t.ConnectTimeout, func() {
			mu.Lock()
			timedOut = true
			mu.Unlock()
			nc.Close()
		})
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		cancelled = true
		mu.Unlock()
		nc.Close()
	})
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.Addr(), cfg)
	stop()
	if timer != nil {
		timer.Stop()
	}
	mu.Lock()
	tOut, cancel := timedOut, cancelled
	mu.Unlock()
	if err != nil {
		nc.Close()
		switch {
		case cancel:
			return nil, ctx.Err()
		case tOut:
			return nil, &netError{addr: t.Addr(), err: fmt.Errorf("handshake timed out after %s", t.ConnectTimeout)}
		}
		return nil, classifyHandshake(t, cr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// classifyHandshake maps a failed handshake to opsrun's sentinels. The
// library's refusal of every credential has no type, only this text.
func classifyHandshake(t *Target, cr *credentials, err error) error {
	switch {
	case errors.As(err, new(*hostkeys.MismatchError)), errors.As(err, new(*hostkeys.UnknownError)),
		errors.Is(err, transport.ErrConfig):
		return unwrapHandshake(err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return authError(t, cr)
	case cr.pinnedAlgorithms && strings.Contains(err.Error(), "no common algorithm for host key"):
		return fmt.Errorf("%w: %s offers none of the host key types recorded for it in %s (%v)",
			transport.ErrHostKeyMismatch, t.Addr(), strings.Join(t.KnownHosts, ", "), err)
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") {
		return &netError{addr: t.Addr(), err: err}
	}
	// Other protocol failures are not worth retrying, but the host still
	// cannot be used.
	return fmt.Errorf("%w: %s: %v", transport.ErrUnreachable, t.Addr(), err)
}

// unwrapHandshake drops the library's "ssh: handshake failed:" prefix from
// our own errors, whose messages already say what happened.
func unwrapHandshake(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "ssh: handshake failed: ") {
		return u
	}
	return err
}

// jumpClient returns the shared connection to jump host t, dialing it once
// however many hosts ask at the same time.
func (d *Dialer) jumpClient(ctx context.Context, t *Target) (*ssh.Client, error) {
	key := t.Key()
	d.jumpMu.Lock()
	if d.closed {
		d.jumpMu.Unlock()
		return nil, fmt.Errorf("%w: dialer closed", transport.ErrUnreachable)
	}
	if c, ok := d.jumps[key]; ok {
		d.jumpMu.Unlock()
		return c, nil
	}
	d.jumpMu.Unlock()
	// The dial must not die with the first caller's context (others wait on
	// it), but each caller stops waiting when its own context ends.
	ch := d.jumpGroup.DoChan(key, func() (any, error) {
		d.jumpMu.Lock()
		if c, ok := d.jumps[key]; ok {
			d.jumpMu.Unlock()
			return c, nil
		}
		d.jumpMu.Unlock()
		c, err := d.connect(context.WithoutCancel(ctx), t)
		if err != nil {
			return nil, err
		}
		d.jumpMu.Lock()
		if d.closed {
			d.jumpMu.Unlock()
			c.Close()
			return nil, fmt.Errorf("%w: dialer closed", transport.ErrUnreachable)
		}
		d.jumps[key] = c
		d.jumpMu.Unlock()
		d.log.Debug("jump host connected", "host", t.Name, "addr", t.Addr())
		ka := startKeepAlive(c, t.KeepAliveInterval, t.KeepAliveCountMax, d.log, t.Name)
		go func() {
			<-ka.done
			// Forget a dead jump connection so the next dial makes a new one.
			d.jumpMu.Lock()
			if d.jumps[key] == c {
				delete(d.jumps, key)
			}
			d.jumpMu.Unlock()
		}()
		return c, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*ssh.Client), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Check resolves h's connection settings and reads its key files without
// connecting, so a run can refuse bad settings (a missing key, a broken
// ProxyJump) before it touches any host. Encrypted keys are not decrypted.
func (d *Dialer) Check(h *inventory.Host) error {
	t, err := d.resolver.resolve(h)
	if err == nil {
		for _, p := range t.IdentityFiles {
			if e := d.keys.load(p); e.err != nil {
				err = e.err
				break
			}
		}
	}
	if err != nil {
		return &transport.HostError{Host: h.Name, Op: "connect", Err: err}
	}
	return nil
}
