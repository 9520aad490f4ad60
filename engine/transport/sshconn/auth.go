package sshconn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/opsrun/opsrun/engine/transport"
)

// maxPassphraseTries matches OpenSSH's three chances at a passphrase.
const maxPassphraseTries = 3

// errNoTTY is what the default prompt returns when opsrun runs without a
// controlling terminal (cron, CI): nobody could answer.
var errNoTTY = errors.New("no terminal to ask for a passphrase")

// keyring loads private keys once per process and asks for each encrypted
// key's passphrase at most once, however many hosts use the key.
type keyring struct {
	mu   sync.Mutex
	keys map[string]*keyEntry

	promptMu sync.Mutex // one question on the terminal at a time
	prompt   func(prompt string) (string, error)
}

// keyEntry is one identity file, parsed on first use.
type keyEntry struct {
	path      string
	once      sync.Once
	err       error         // the file is missing, unreadable or not a key
	signer    ssh.Signer    // an unencrypted key's, set by parse
	pub       ssh.PublicKey // of an encrypted key; nil when it cannot be known without the passphrase
	encrypted bool
	pem       []byte

	decryptMu sync.Mutex
	decErr    error // cached so a refused or impossible prompt is not repeated per host
	// decrypted is an encrypted key's signer once its passphrase was
	// given; atomic so dials need not wait on a prompt to read it.
	decrypted atomic.Pointer[ssh.Signer]
}

// ready returns the key's signer if no question is needed for it.
func (e *keyEntry) ready() ssh.Signer {
	if !e.encrypted {
		return e.signer
	}
	if p := e.decrypted.Load(); p != nil {
		return *p
	}
	return nil
}

func newKeyring(prompt func(string) (string, error)) *keyring {
	return &keyring{keys: map[string]*keyEntry{}, prompt: prompt}
}

// load returns the parsed entry for path (cached; concurrent callers wait
// for the single parse).
func (k *keyring) load(path string) *keyEntry {
	k.mu.Lock()
	e, ok := k.keys[path]
	if !ok {
		e = &keyEntry{path: path}
		k.keys[path] = e
	}
	k.mu.Unlock()
	e.once.Do(e.parse)
	return e
}

func (e *keyEntry) parse() {
	data, err := os.ReadFile(e.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.err = fmt.Errorf("%w: identity file %s does not exist: fix identity_file in the inventory or IdentityFile in ssh_config, or create it with ssh-keygen", transport.ErrConfig, e.path)
		return
	case err != nil:
		e.err = fmt.Errorf("%w: identity file %s cannot be read (%v): check its owner and mode", transport.ErrConfig, e.path, err)
		return
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err == nil {
		e.signer = signer
		return
	}
	var pme *ssh.PassphraseMissingError
	if !errors.As(err, &pme) {
		e.err = fmt.Errorf("%w: identity file %s is not a private key opsrun can use: %v", transport.ErrConfig, e.path, err)
		return
	}
	e.encrypted = true
	e.pem = data
	e.pub = pme.PublicKey
	if e.pub == nil {
		// Old PEM-encrypted keys hide the public key; OpenSSH reads it
		// from the .pub file beside them, and so do we.
		if b, err := os.ReadFile(e.path + ".pub"); err == nil {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
				e.pub = pub
			}
		}
	}
}

// decrypt asks for e's passphrase (once per process) and returns the signer.
func (k *keyring) decrypt(e *keyEntry) (ssh.Signer, error) {
	e.decryptMu.Lock()
	defer e.decryptMu.Unlock()
	if s := e.ready(); s != nil || e.decErr != nil {
		return s, e.decErr
	}
	for try := 1; ; try++ {
		pass, err := k.ask(fmt.Sprintf("Enter passphrase for key '%s': ", e.path))
		if errors.Is(err, errNoTTY) {
			e.decErr = fmt.Errorf("%w: key %s is encrypted: add it to ssh-agent (ssh-add %s) or run opsrun from a terminal", transport.ErrConfig, e.path, e.path)
			return nil, e.decErr
		}
		if err != nil {
			e.decErr = fmt.Errorf("%w: passphrase for key %s: %v", transport.ErrConfig, e.path, err)
			return nil, e.decErr
		}
		if pass == "" {
			e.decErr = fmt.Errorf("%w: no passphrase given for key %s", transport.ErrConfig, e.path)
			return nil, e.decErr
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(e.pem, []byte(pass))
		if errors.Is(err, x509.IncorrectPasswordError) && try < maxPassphraseTries {
			continue
		}
		if err != nil {
			e.decErr = fmt.Errorf("%w: cannot decrypt key %s: %v", transport.ErrConfig, e.path, err)
			return nil, e.decErr
		}
		if e.pub != nil && !keysEqual(e.pub, signer.PublicKey()) {
			e.decErr = fmt.Errorf("%w: %s.pub does not match the private key %s", transport.ErrConfig, e.path, e.path)
			return nil, e.decErr
		}
		e.decrypted.Store(&signer)
		e.pem = nil
		return signer, nil
	}
}

// ask puts one question to the operator, never two at once.
func (k *keyring) ask(prompt string) (string, error) {
	k.promptMu.Lock()
	defer k.promptMu.Unlock()
	return k.prompt(prompt)
}

// ttyPrompt asks on the controlling terminal, opened directly so that
// redirected stdin/stdout (pipes, JSON output) do not matter.
func ttyPrompt(openTTY func() (*os.File, error)) func(string) (string, error) {
	return func(prompt string) (string, error) {
		tty, err := openTTY()
		if err != nil {
			return "", errNoTTY
		}
		defer tty.Close()
		if !term.IsTerminal(int(tty.Fd())) {
			return "", errNoTTY
		}
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
}

func openDevTTY() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }

// lazySigner stands for an encrypted key: its public key is known without
// the passphrase, and the library asks the server whether it would accept
// that key before signing, so the passphrase is asked only for a key the
// server actually accepts.
type lazySigner struct {
	k *keyring
	e *keyEntry
}

func (s *lazySigner) PublicKey() ssh.PublicKey { return s.e.pub }

func (s *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	signer, err := s.k.decrypt(s.e)
	if err != nil {
		return nil, err
	}
	return signer.Sign(rand, data)
}

// SignWithAlgorithm lets RSA keys sign with SHA-2, which servers require.
func (s *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	signer, err := s.k.decrypt(s.e)
	if err != nil {
		return nil, err
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		return signer.Sign(rand, data)
	}
	return as.SignWithAlgorithm(rand, data, algorithm)
}

// agentSource talks to ssh-agent over one shared connection, opened on
// first use and reopened if it breaks.
type agentSource struct {
	socket string
	mu     sync.Mutex
	conn   net.Conn
	client agent.ExtendedAgent
}

// signers lists the agent's keys; no socket means no agent keys.
func (a *agentSource) signers() ([]ssh.Signer, error) {
	if a == nil || a.socket == "" {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		if a.client == nil {
			c, err := net.Dial("unix", a.socket)
			if err != nil {
				return nil, fmt.Errorf("ssh-agent at %s: %w", a.socket, err)
			}
			a.conn, a.client = c, agent.NewClient(c)
		}
		s, err := a.client.Signers()
		if err == nil {
			return s, nil
		}
		a.conn.Close()
		a.conn, a.client = nil, nil
	}
	return nil, fmt.Errorf("ssh-agent at %s stopped answering", a.socket)
}

func (a *agentSource) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		a.conn.Close()
		a.conn, a.client = nil, nil
	}
}

// credentials is what one connection attempt offers, plus a description of
// it (paths and "agent", never secrets) for the error when all are refused.
type credentials struct {
	methods []ssh.AuthMethod
	tried   []string
	notes   []string // why a configured key could not be offered
	// pinnedAlgorithms: host key algorithms were limited to the recorded
	// key types, so "no common algorithm" means the host key changed type.
	pinnedAlgorithms bool
}

// credentialsFor orders what t offers: unencrypted key files and agent keys
// first (no question asked), then encrypted keys, decrypted only if the
// server accepts them, then the password when one is configured.
func (d *Dialer) credentialsFor(t *Target) (*credentials, error) {
	cr := &credentials{}
	var plain, lazy []ssh.Signer
	for _, path := range t.IdentityFiles {
		e := d.keys.load(path)
		if e.err != nil {
			return nil, e.err
		}
		cr.tried = append(cr.tried, path)
		switch s := e.ready(); {
		case s != nil:
			plain = append(plain, s)
		case e.pub != nil:
			lazy = append(lazy, &lazySigner{k: d.keys, e: e})
		default:
			// Without its public key the key cannot be offered lazily,
			// so the question is asked now (still once per process).
			s, err := d.keys.decrypt(e)
			if err != nil {
				cr.notes = append(cr.notes, err.Error())
				continue
			}
			plain = append(plain, s)
		}
	}
	agentKeys, err := d.agent.signers()
	if err != nil {
		d.log.Debug("ssh-agent unavailable", "host", t.Name, "error", err)
	}
	if len(agentKeys) > 0 {
		cr.tried = append(cr.tried, fmt.Sprintf("agent (%d keys)", len(agentKeys)))
	}
	signers := dedupe(append(append(plain, agentKeys...), lazy...))
	if len(signers) > 0 {
		cr.methods = append(cr.methods, ssh.PublicKeys(signers...))
	}
	if t.Password != "" {
		pw := t.Password
		cr.tried = append(cr.tried, "password")
		cr.methods = append(cr.methods,
			ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = pw
					}
				}
				return answers, nil
			}))
	}
	return cr, nil
}

// dedupe drops signers whose public key came earlier (an encrypted key that
// is also in the agent is used through the agent, without a question).
func dedupe(in []ssh.Signer) []ssh.Signer {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func keysEqual(a, b ssh.PublicKey) bool { return string(a.Marshal()) == string(b.Marshal()) }

// authError reports that the server refused everything offered.
func authError(t *Target, cr *credentials) error {
	tried := "nothing (no identity file, agent key or password)"
	if len(cr.tried) > 0 {
		tried = strings.Join(cr.tried, ", ")
	}
	msg := fmt.Sprintf("%v: %s@%s refused %s: check the login user and that the public key is in its ~/.ssh/authorized_keys",
		transport.ErrAuthFailed, t.User, t.Addr(), tried)
	if len(cr.notes) > 0 {
		msg += " (" + strings.Join(cr.notes, "; ") + ")"
	}
	return &wrapped{msg: msg, err: transport.ErrAuthFailed}
}

// wrapped is an error with its own message that still matches a sentinel
// with errors.Is, for messages that name the sentinel mid-sentence.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
