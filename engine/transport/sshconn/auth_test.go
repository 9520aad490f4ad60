package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/opsrun/opsrun/engine/transport"
)

func TestKeyAuthEachKeyType(t *testing.T) {
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			k := writeKey(t, t.TempDir(), "id_"+kind, kind, "", false)
			s := newTestServer(t, []ssh.PublicKey{k.Pub})
			d := testDialer(t, Options{})
			c := dial(t, d, hostFor("web1", s, knownHostsFor(t, s), k.Path))
			if res := run(t, c, transport.Cmd{Command: "echo ok"}); string(res.Stdout) != "ok\n" {
				t.Fatalf("stdout %q", res.Stdout)
			}
		})
	}
}

// countingPrompt answers pass and counts the questions.
func countingPrompt(pass string, n *atomic.Int32) func(string) (string, error) {
	return func(string) (string, error) {
		n.Add(1)
		time.Sleep(20 * time.Millisecond) // let concurrent dials pile up behind the question
		return pass, nil
	}
}

func TestEncryptedKeyAskedOnceForManyHosts(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "id_enc", "ed25519", "sesame", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub})
	var prompts atomic.Int32
	d := testDialer(t, Options{Prompt: countingPrompt("sesame", &prompts)})
	kh := knownHostsFor(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(context.Background(), hostFor(fmt.Sprintf("web%d", i), s, kh, k.Path))
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := prompts.Load(); n != 1 {
		t.Fatalf("asked %d times for the passphrase, want once", n)
	}
}

func TestEncryptedKeyNotAskedUnlessServerAcceptsIt(t *testing.T) {
	dir := t.TempDir()
	enc := writeKey(t, dir, "id_enc", "ed25519", "sesame", true)
	plain := writeKey(t, dir, "id_plain", "ed25519", "", false)
	var prompts atomic.Int32
	d := testDialer(t, Options{Prompt: countingPrompt("sesame", &prompts)})

	// The server accepts only the plain key: listed after the encrypted
	// one, it is still offered first, and nothing is asked.
	s := newTestServer(t, []ssh.PublicKey{plain.Pub})
	dial(t, d, hostFor("web1", s, knownHostsFor(t, s), enc.Path, plain.Path))

	// A server that accepts neither: refused, still nothing asked.
	s2 := newTestServer(t, nil)
	_, err := d.Dial(context.Background(), hostFor("web2", s2, knownHostsFor(t, s2), enc.Path))
	if !errors.Is(err, transport.ErrAuthFailed) {
		t.Fatalf("got %v, want ErrAuthFailed", err)
	}
	if n := prompts.Load(); n != 0 {
		t.Fatalf("asked %d times for a key no server accepted", n)
	}
}

func TestEncryptedKeyWithoutTerminal(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id_enc", "ecdsa", "sesame", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub})
	d := testDialer(t, Options{})
	var opened atomic.Int32
	d.keys = newKeyring(ttyPrompt(func() (*os.File, error) {
		opened.Add(1)
		return nil, errors.New("no controlling terminal")
	}))
	h := hostFor("web1", s, knownHostsFor(t, s), k.Path)
	for range 3 {
		_, err := d.Dial(context.Background(), h)
		want := fmt.Sprintf("key %s is encrypted: add it to ssh-agent (ssh-add %s) or run opsrun from a terminal", k.Path, k.Path)
		if !errors.Is(err, transport.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want ErrConfig with %q", err, want)
		}
		if strings.Contains(err.Error(), "handshake failed") {
			t.Errorf("library noise in message: %v", err)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("looked for a terminal %d times, want once per key", n)
	}
}

func TestWrongPassphraseAskedThreeTimes(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id_enc", "rsa", "sesame", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub})
	var prompts atomic.Int32
	d := testDialer(t, Options{Prompt: countingPrompt("wrong", &prompts)})
	_, err := d.Dial(context.Background(), hostFor("web1", s, knownHostsFor(t, s), k.Path))
	if !errors.Is(err, transport.ErrConfig) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("got %v, want ErrConfig not echoing the passphrase", err)
	}
	if n := prompts.Load(); n != maxPassphraseTries {
		t.Fatalf("asked %d times, want %d", n, maxPassphraseTries)
	}
}

func TestKeyFileProblemsAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	s := newTestServer(t, nil)
	kh := knownHostsFor(t, s)
	d := testDialer(t, Options{})
	notKey := filepath.Join(dir, "notkey")
	writeFile(t, notKey, "hello\n")
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{notKey, "not a private key"},
	} {
		_, err := d.Dial(context.Background(), hostFor("web1", s, kh, tc.path))
		if !errors.Is(err, transport.ErrConfig) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key %s: %v, want ErrConfig naming it", tc.path, err)
		}
	}
	if n := s.Accepted.Load(); n != 0 {
		t.Errorf("dialed the host %d times with a broken key setting", n)
	}
}

func TestAuthFailedNamesUserHostAndKeys(t *testing.T) {
	dir := t.TempDir()
	k1 := writeKey(t, dir, "id_one", "ed25519", "", false)
	k2 := writeKey(t, dir, "id_two", "ecdsa", "", false)
	agentKey := writeKey(t, dir, "id_agent", "ed25519", "", false)
	sock := startAgent(t, agentKey)
	s := newTestServer(t, nil)
	d := testDialer(t, Options{AgentSocket: sock})
	h := hostFor("web1", s, knownHostsFor(t, s), k1.Path, k2.Path)
	h.SSH.Password = "hunter2"
	_, err := d.Dial(context.Background(), h)
	if !errors.Is(err, transport.ErrAuthFailed) {
		t.Fatalf("got %v, want ErrAuthFailed", err)
	}
	msg := err.Error()
	for _, want := range []string{"web1", "tester@127.0.0.1:" + fmt.Sprint(s.Port), k1.Path, k2.Path, "agent (1 keys)", "password"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message leaks the password: %s", msg)
	}
	if n := s.Accepted.Load(); n != 1 {
		t.Errorf("auth failure retried: %d connections", n)
	}
}

// startAgent serves an in-memory ssh-agent holding keys on a unix socket.
func startAgent(t *testing.T, keys ...keyFile) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		b, err := os.ReadFile(k.Path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ssh.ParseRawPrivateKeyWithPassphrase(b, []byte(k.Passphrase))
		if k.Passphrase == "" {
			raw, err = ssh.ParseRawPrivateKey(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := kr.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "agent") // short path: unix sockets have a length limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(kr, c)
		}
	}()
	return sock
}

func TestAgentAuthAndEncryptedKeyInAgentNotAsked(t *testing.T) {
	dir := t.TempDir()
	enc := writeKey(t, dir, "id_enc", "rsa", "sesame", true)
	sock := startAgent(t, enc)
	s := newTestServer(t, []ssh.PublicKey{enc.Pub})
	var prompts atomic.Int32
	d := testDialer(t, Options{AgentSocket: sock, Prompt: countingPrompt("sesame", &prompts)})
	kh := knownHostsFor(t, s)
	dial(t, d, hostFor("agent-only", s, kh)) // no key files at all
	dial(t, d, hostFor("with-file", s, kh, enc.Path))
	if n := prompts.Load(); n != 0 {
		t.Fatalf("asked for a passphrase %d times although the agent holds the key", n)
	}
}

func TestPasswordAuth(t *testing.T) {
	for _, opt := range []struct {
		name string
		o    serverOpt
	}{{"password", withPassword("s3cret")}, {"keyboard-interactive", withKeyboardInteractive("s3cret")}} {
		t.Run(opt.name, func(t *testing.T) {
			s := newTestServer(t, nil, opt.o)
			d := testDialer(t, Options{})
			h := hostFor("web1", s, knownHostsFor(t, s))
			h.SSH.Password = "s3cret"
			c := dial(t, d, h)
			run(t, c, transport.Cmd{Command: "true"})
			h.SSH.Password = "wrong"
			if _, err := d.Dial(context.Background(), h); !errors.Is(err, transport.ErrAuthFailed) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
	// Without a configured password, password auth is never attempted.
	s := newTestServer(t, nil, withPassword("s3cret"))
	d := testDialer(t, Options{})
	if _, err := d.Dial(context.Background(), hostFor("web1", s, knownHostsFor(t, s))); !errors.Is(err, transport.ErrAuthFailed) {
		t.Fatalf("got %v", err)
	}
	if n := s.PasswordTries.Load(); n != 0 {
		t.Fatalf("tried password auth %d times without a password configured", n)
	}
}
