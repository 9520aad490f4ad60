package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process SSH server for hermetic tests: it runs exec
// requests with the local /bin/sh in their own process group (as sshd
// does, so signals reach the whole command), serves SFTP on the local file
// system, forwards direct-tcpip to loopback addresses (for ProxyJump), and
// answers keepalives. A fake sudo is first in the commands' PATH.
type testServer struct {
	t        *testing.T
	ln       net.Listener
	Addr     string
	Port     int
	HostKey  ssh.Signer
	password string

	mu         sync.Mutex
	authorized map[string]bool
	conns      []*freezableConn

	Accepted   atomic.Int32 // TCP connections accepted
	KeyQueries atomic.Int32 // publickey auth requests (queries and signatures)
	frozen     atomic.Bool  // stop reading from every connection: a dead host
	closed     chan struct{}
	env        []string
	kbdOnly    bool // password through keyboard-interactive only

	Active, MaxActive atomic.Int32 // commands running now / at most at once
	PasswordTries     atomic.Int32
	// extraHostKeys are offered too, after HostKey.
	extraHostKeys []ssh.Signer
}

type serverOpt func(*testServer)

func withPassword(pw string) serverOpt { return func(s *testServer) { s.password = pw } }

// withKeyboardInteractive accepts pw only through keyboard-interactive, as
// PAM-backed sshd configurations do.
func withKeyboardInteractive(pw string) serverOpt {
	return func(s *testServer) { s.password, s.kbdOnly = pw, true }
}

// withExtraHostKey makes the server offer k too.
func withExtraHostKey(k ssh.Signer) serverOpt {
	return func(s *testServer) { s.extraHostKeys = append(s.extraHostKeys, k) }
}

// withEnv adds variables to the commands' environment (later ones win).
func withEnv(kv ...string) serverOpt { return func(s *testServer) { s.env = append(s.env, kv...) } }

// withSudoPassword makes the fake sudo require pw.
func withSudoPassword(pw string) serverOpt {
	return func(s *testServer) { s.env = append(s.env, "FAKE_SUDO_PASSWORD="+pw) }
}

func newTestServer(t *testing.T, authorized []ssh.PublicKey, opts ...serverOpt) *testServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerWithKey(t, hk, authorized, opts...)
}

func newTestServerWithKey(t *testing.T, hk ssh.Signer, authorized []ssh.PublicKey, opts ...serverOpt) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, HostKey: hk, authorized: map[string]bool{}, closed: make(chan struct{})}
	for _, k := range authorized {
		s.authorized[string(k.Marshal())] = true
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	for _, o := range opts {
		o(s)
	}
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// fakeSudo mimics the sudo behaviour the transport relies on: -n refuses
// when a password is needed, -S reads it from stdin after printing the -p
// prompt on stderr, a wrong one is retried up to three times.
const fakeSudo = `#!/bin/sh
n=; prompt="Password:"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=1;; -k|-S|-H) ;; -p) shift; prompt=$1;; -u) shift;; --) shift; break;; *) break;;
  esac
  shift
done
if [ -n "$FAKE_SUDO_PASSWORD" ]; then
  if [ -n "$n" ]; then echo "sudo: a password is required" >&2; exit 1; fi
  i=0
  while [ $i -lt 3 ]; do
    printf '%s' "$prompt" >&2
    IFS= read -r line || { echo "sudo: no password was provided" >&2; exit 1; }
    [ "$line" = "$FAKE_SUDO_PASSWORD" ] && exec "$@"
    echo "Sorry, try again." >&2
    i=$((i+1))
  done
  echo "sudo: 3 incorrect password attempts" >&2
  exit 1
fi
exec "$@"
`

func (s *testServer) authorize(k ssh.PublicKey) {
	s.mu.Lock()
	s.authorized[string(k.Marshal())] = true
	s.mu.Unlock()
}

// Freeze makes the server stop reading: like a host that lost power, TCP
// stays open but nothing answers.
func (s *testServer) Freeze() { s.frozen.Store(true) }

// Close stops listening and drops every connection.
func (s *testServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Conn.Close()
	}
}

// KnownHostsLine is the entry for this server as opsrun dials it.
func (s *testServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey.PublicKey())
}

// freezableConn blocks reads while the server is frozen.
type freezableConn struct {
	net.Conn
	frozen *atomic.Bool
	closed <-chan struct{}
}

func (c *freezableConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.frozen.Load() {
		<-c.closed // never deliver: the host is "dead"
		return 0, net.ErrClosed
	}
	return n, err
}

func (s *testServer) config() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.KeyQueries.Add(1)
			s.mu.Lock()
			ok := s.authorized[string(key.Marshal())]
			s.mu.Unlock()
			if ok {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	if s.password != "" && s.kbdOnly {
		cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			s.PasswordTries.Add(1)
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err == nil && len(ans) == 1 && ans[0] == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	} else if s.password != "" {
		cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			s.PasswordTries.Add(1)
			if string(pw) == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	cfg.AddHostKey(s.HostKey)
	for _, k := range s.extraHostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

func (s *testServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Accepted.Add(1)
		fc := &freezableConn{Conn: nc, frozen: &s.frozen, closed: s.closed}
		s.mu.Lock()
		s.conns = append(s.conns, fc)
		s.mu.Unlock()
		go s.handle(fc)
	}
}

func (s *testServer) handle(nc net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.config())
	if err != nil {
		nc.Close()
		return
	}
	defer sc.Close()
	go func() {
		for r := range reqs {
			// OpenSSH answers unknown global requests (keepalives) with
			// a failure; any answer proves it alive.
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			go s.session(ch, creqs)
		case "direct-tcpip":
			go s.forward(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func (s *testServer) forward(nch ssh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil || p.Host != "127.0.0.1" {
		nch.Reject(ssh.Prohibited, "loopback only")
		return
	}
	tc, err := net.Dial("tcp", net.JoinHostPort(p.Host, fmt.Sprint(p.Port)))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		tc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(ch, tc); ch.CloseWrite(); ch.Close() }()
	go func() { io.Copy(tc, ch); tc.(*net.TCPConn).CloseWrite() }()
}

func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan struct{})
	for r := range reqs {
		switch r.Type {
		case "exec":
			if cmd != nil {
				r.Reply(false, nil)
				continue
			}
			var p struct{ Command string }
			ssh.Unmarshal(r.Payload, &p)
			cmd = exec.Command("/bin/sh", "-c", p.Command)
			cmd.Env = s.env
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			stdin, _ := cmd.StdinPipe()
			if err := cmd.Start(); err != nil {
				r.Reply(false, nil)
				return
			}
			r.Reply(true, nil)
			n := s.Active.Add(1)
			for m := s.MaxActive.Load(); n > m && !s.MaxActive.CompareAndSwap(m, n); m = s.MaxActive.Load() {
			}
			go func() { io.Copy(stdin, ch); stdin.Close() }()
			go func() {
				defer close(done)
				err := cmd.Wait()
				// Count the command as ended before the client can learn
				// it has, or its next session may start first and be
				// counted alongside it.
				s.Active.Add(-1)
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						sig := strings.TrimPrefix(unixSignalName(ws.Signal()), "SIG")
						ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
							Signal     string
							CoreDumped bool
							Error      string
							Lang       string
						}{Signal: sig}))
						ch.Close()
						return
					}
				}
				status := make([]byte, 4)
				if cmd.ProcessState != nil {
					binary.BigEndian.PutUint32(status, uint32(cmd.ProcessState.ExitCode()))
				}
				ch.SendRequest("exit-status", false, status)
				ch.Close()
			}()
		case "signal":
			var p struct{ Signal string }
			ssh.Unmarshal(r.Payload, &p)
			if cmd != nil && cmd.Process != nil {
				sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT}[p.Signal]
				if sig != 0 {
					syscall.Kill(-cmd.Process.Pid, sig) // the whole group, like sshd's killpg
				}
			}
			if r.WantReply {
				r.Reply(true, nil)
			}
		case "subsystem":
			var p struct{ Name string }
			ssh.Unmarshal(r.Payload, &p)
			if p.Name != "sftp" {
				r.Reply(false, nil)
				continue
			}
			r.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			srv.Serve()
			return
		default:
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
	if cmd != nil {
		<-done
	}
}

func unixSignalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGINT:
		return "INT"
	}
	return fmt.Sprint(int(s))
}
