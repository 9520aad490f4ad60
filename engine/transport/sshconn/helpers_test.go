package sshconn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// keyFile is a private key written to disk for a test.
type keyFile struct {
	Path   string
	Pub    ssh.PublicKey
	Signer ssh.Signer
	// Passphrase the file is encrypted with, "" for none.
	Passphrase string
}

// writeKey generates a key of kind ("ed25519", "ecdsa", "rsa") at dir/name,
// encrypted when passphrase is set, with a .pub beside it when pub.
func writeKey(t *testing.T, dir, name, kind, passphrase string, pub bool) keyFile {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if pub {
		writeFile(t, path+".pub", string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	}
	return keyFile{Path: path, Pub: signer.PublicKey(), Signer: signer, Passphrase: passphrase}
}

// testDialer is a Dialer that reads no ssh_config and no agent from the
// environment, so tests do not depend on the machine running them.
func testDialer(t *testing.T, opts Options) *Dialer {
	t.Helper()
	if opts.SSHConfigFile == "" {
		opts.SSHConfigFile = "none"
	}
	if opts.AgentSocket == "" {
		t.Setenv("SSH_AUTH_SOCK", "")
	}
	if opts.Prompt == nil {
		opts.Prompt = func(string) (string, error) {
			t.Error("unexpected passphrase prompt")
			return "", errNoTTY
		}
	}
	d, err := NewDialer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// knownHostsFor writes a known_hosts file trusting the servers.
func knownHostsFor(t *testing.T, servers ...*testServer) string {
	t.Helper()
	var b strings.Builder
	for _, s := range servers {
		b.WriteString(s.KnownHostsLine() + "\n")
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, p, b.String())
	return p
}

func hostFor(name string, s *testServer, knownHosts string, keys ...string) *inventory.Host {
	return &inventory.Host{
		Name: name, Address: "127.0.0.1", Port: s.Port, User: "tester",
		SSH: inventory.SSH{IdentityFiles: keys, KnownHosts: []string{knownHosts}, ConnectTimeout: 5 * time.Second},
	}
}

func dial(t *testing.T, d *Dialer, h *inventory.Host) transport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, c transport.Conn, cmd transport.Cmd) transport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("run %q: %v", cmd.Command, err)
	}
	return res
}

// logBuffer collects debug logs so tests can check what was (not) logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
