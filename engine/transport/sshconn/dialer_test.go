package sshconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

func TestDialHostKeys(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub})
	other := newTestServer(t, nil)
	d := testDialer(t, Options{})

	t.Run("unknown host refused under strict", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, kh, other.KnownHostsLine()+"\n")
		_, err := d.Dial(context.Background(), hostFor("web1", s, kh, k.Path))
		if !errors.Is(err, transport.ErrHostKeyUnknown) || !strings.Contains(err.Error(), fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", s.Port, kh)) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("accept-new records the key once, then strict passes", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		h := hostFor("web1", s, kh, k.Path)
		h.SSH.HostKeyChecking = "accept-new"
		dial(t, d, h)
		dial(t, d, h)
		h.SSH.HostKeyChecking = ""
		dial(t, d, h)
		b, _ := os.ReadFile(kh)
		if got := strings.Count(string(b), "\n"); got != 1 || strings.TrimSpace(string(b)) != s.KnownHostsLine() {
			t.Fatalf("known_hosts %q, want exactly the server's line", b)
		}
	})
	t.Run("changed key refused naming file and line, even under accept-new", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		// Line 2 claims the server's address with another server's key.
		writeFile(t, kh, other.KnownHostsLine()+"\n"+knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, other.HostKey.PublicKey())+"\n")
		h := hostFor("web1", s, kh, k.Path)
		for _, mode := range []string{"strict", "accept-new"} {
			h.SSH.HostKeyChecking = mode
			_, err := d.Dial(context.Background(), h)
			if !errors.Is(err, transport.ErrHostKeyMismatch) || !strings.Contains(err.Error(), kh+":2") {
				t.Fatalf("%s: got %v, want ErrHostKeyMismatch naming %s:2", mode, err, kh)
			}
		}
		if s.Accepted.Load() == 0 {
			t.Fatal("never reached the server")
		}
	})
}

// A server with RSA and ECDSA host keys whose RSA key alone is recorded
// must be verified with RSA, not reported as changed (the library would
// otherwise prefer ECDSA).
func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, _ := ssh.NewSignerFromKey(rk)
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	extra, _ := ssh.NewSignerFromKey(ek) // a key the server also offers
	s := newTestServerWithKey(t, rsaSigner, []ssh.PublicKey{k.Pub}, withExtraHostKey(extra))
	kh := knownHostsFor(t, s) // records only the RSA key
	d := testDialer(t, Options{})
	c := dial(t, d, hostFor("web1", s, kh, k.Path))
	run(t, c, transport.Cmd{Command: "true"})
}

func TestUnreachableRetriedThenReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	d := testDialer(t, Options{ConnectAttempts: 3})
	var dials atomic.Int32
	d.dialNet = func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
		dials.Add(1)
		return dialTCP(ctx, addr, timeout)
	}
	h := &inventory.Host{Name: "gone", Address: "127.0.0.1", Port: port, User: "x", SSH: inventory.SSH{KnownHosts: []string{"/nonexistent"}}}
	_, err = d.Dial(context.Background(), h)
	var he *transport.HostError
	if !errors.Is(err, transport.ErrUnreachable) || !errors.As(err, &he) || he.Host != "gone" || he.Op != "connect" {
		t.Fatalf("got %v, want HostError{gone, connect} wrapping ErrUnreachable", err)
	}
	if n := dials.Load(); n != 3 {
		t.Fatalf("%d dials, want 3 attempts", n)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	// A server that accepts TCP and never speaks SSH.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	d := testDialer(t, Options{ConnectAttempts: 1})
	h := &inventory.Host{Name: "mute", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "x",
		SSH: inventory.SSH{KnownHosts: []string{"/nonexistent"}, ConnectTimeout: 300 * time.Millisecond}}
	start := time.Now()
	_, err = d.Dial(context.Background(), h)
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %s for a 300ms connect timeout", el)
	}
}

func TestDialCancelled(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub})
	d := testDialer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Dial(ctx, hostFor("web1", s, knownHostsFor(t, s), k.Path)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestProxyJumpSharesOneBastionConnection(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	bastion := newTestServer(t, []ssh.PublicKey{k.Pub})
	targets := []*testServer{newTestServer(t, []ssh.PublicKey{k.Pub}), newTestServer(t, []ssh.PublicKey{k.Pub})}
	kh := knownHostsFor(t, bastion, targets[0], targets[1])
	d := testDialer(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hostFor(fmt.Sprintf("app%d", i), targets[i%2], kh, k.Path)
			h.SSH.ProxyJump = fmt.Sprintf("tester@127.0.0.1:%d", bastion.Port)
			c, err := d.Dial(context.Background(), h)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			res, err := c.Run(context.Background(), transport.Cmd{Command: "echo hi"})
			if err == nil && string(res.Stdout) != "hi\n" {
				err = fmt.Errorf("stdout %q", res.Stdout)
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
	if n := bastion.Accepted.Load(); n != 1 {
		t.Fatalf("%d connections to the bastion, want 1 shared", n)
	}

	// After Close the jump connection is gone.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	h := hostFor("late", targets[0], kh, k.Path)
	h.SSH.ProxyJump = fmt.Sprintf("tester@127.0.0.1:%d", bastion.Port)
	if _, err := d.Dial(context.Background(), h); err == nil {
		t.Fatal("dial through a closed dialer's jump host succeeded")
	}
}

func TestProxyJumpBastionUnknownKey(t *testing.T) {
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	bastion := newTestServer(t, []ssh.PublicKey{k.Pub})
	target := newTestServer(t, []ssh.PublicKey{k.Pub})
	kh := knownHostsFor(t, target) // the bastion is not recorded
	d := testDialer(t, Options{})
	h := hostFor("app", target, kh, k.Path)
	h.SSH.ProxyJump = fmt.Sprintf("tester@127.0.0.1:%d", bastion.Port)
	_, err := d.Dial(context.Background(), h)
	if !errors.Is(err, transport.ErrHostKeyUnknown) || !strings.Contains(err.Error(), "via jump host") {
		t.Fatalf("got %v, want ErrHostKeyUnknown via the jump host", err)
	}
}
