package sshconn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv"
)

// Integration tests against real Debian hosts (OpenSSH, sudo, systemd) in
// Docker containers. testenv.New skips them where Docker is unavailable.

// fleetHost is how these tests reach a testenv host: user opsrun, the
// fleet's key and known_hosts, strict checking, no ssh_config.
func fleetHost(f *testenv.Fleet, h testenv.Host) *inventory.Host {
	return &inventory.Host{
		Name: h.Name, Address: h.Address, Port: h.Port, User: "opsrun", Layers: h.Layers,
		SSH: inventory.SSH{
			IdentityFiles:   []string{f.KeyPath},
			KnownHosts:      []string{f.KnownHostsPath},
			HostKeyChecking: "strict",
			ConnectTimeout:  10 * time.Second,
		},
	}
}

// remoteCount counts the host's processes whose command line starts with
// prefix, reading /proc (the image has no procps), out of band.
func remoteCount(t *testing.T, f *testenv.Fleet, host, prefix string) int {
	t.Helper()
	script := `n=0; for p in /proc/[0-9]*; do c=$(tr '\0' ' ' < $p/cmdline 2>/dev/null) || continue; case "$c" in "$1"*) n=$((n+1));; esac; done; echo $n`
	out, err := f.Exec(context.Background(), host, "sh", "-c", script, "sh", prefix)
	if err != nil {
		t.Fatalf("count processes on %s: %v", host, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("count processes on %s: %q", host, out)
	}
	return n
}

// waitNoRemote polls until no process on host starts with prefix.
func waitNoRemote(t *testing.T, f *testenv.Fleet, host, prefix string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for remoteCount(t, f, host, prefix) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%q still running on %s", prefix, host)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestIntegration(t *testing.T) {
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 2}}, Init: testenv.InitSystemd})
	web1, web2 := fleet.Hosts[0], fleet.Hosts[1]
	logs := &logBuffer{}
	d := testDialer(t, Options{Logger: logs.Logger(), KeepAliveInterval: 500 * time.Millisecond})
	ctx := context.Background()
	c := dial(t, d, fleetHost(fleet, web1))

	t.Run("key auth runs hostname", func(t *testing.T) {
		res := run(t, c, transport.Cmd{Command: "hostname"})
		if got := strings.TrimSpace(string(res.Stdout)); got != web1.Name {
			t.Fatalf("hostname %q, want %q", got, web1.Name)
		}
	})

	t.Run("wrong key is refused clearly", func(t *testing.T) {
		k := writeKey(t, t.TempDir(), "id_other", "ed25519", "", false)
		h := fleetHost(fleet, web1)
		h.SSH.IdentityFiles = []string{k.Path}
		_, err := d.Dial(ctx, h)
		if !errors.Is(err, transport.ErrAuthFailed) {
			t.Fatalf("got %v, want ErrAuthFailed", err)
		}
		for _, want := range []string{fmt.Sprintf("opsrun@127.0.0.1:%d", web1.Port), k.Path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		}
	})

	t.Run("changed host key names file and line", func(t *testing.T) {
		data, err := os.ReadFile(fleet.KnownHostsPath)
		if err != nil {
			t.Fatal(err)
		}
		// Give web1's entry web2's key.
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		name := fmt.Sprintf("[127.0.0.1]:%d ", web1.Port)
		lineNo := 0
		for i, l := range lines {
			if strings.HasPrefix(l, name) {
				lines[i] = name + web2.HostKey
				lineNo = i + 1
			}
		}
		if lineNo == 0 {
			t.Fatalf("no entry for %s in %s", name, fleet.KnownHostsPath)
		}
		kh := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, kh, strings.Join(lines, "\n")+"\n")
		h := fleetHost(fleet, web1)
		h.SSH.KnownHosts = []string{kh}
		_, err = d.Dial(ctx, h)
		want := fmt.Sprintf("%s:%d", kh, lineNo)
		if !errors.Is(err, transport.ErrHostKeyMismatch) || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want ErrHostKeyMismatch naming %s", err, want)
		}
	})

	t.Run("accept-new records the key, then strict passes", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
		h := fleetHost(fleet, web1)
		h.SSH.KnownHosts = []string{kh}
		if _, err := d.Dial(ctx, h); !errors.Is(err, transport.ErrHostKeyUnknown) {
			t.Fatalf("strict with an empty known_hosts: %v", err)
		}
		h.SSH.HostKeyChecking = "accept-new"
		dial(t, d, h)
		h.SSH.HostKeyChecking = "strict"
		dial(t, d, h)
		b, _ := os.ReadFile(kh)
		if n := strings.Count(string(b), "\n"); n != 1 || !strings.Contains(string(b), strings.Fields(web1.HostKey)[1]) {
			t.Fatalf("known_hosts after accept-new: %q", b)
		}
	})

	t.Run("10 MiB upload is byte-identical and atomic for readers", func(t *testing.T) {
		const size = 10 << 20
		a, b := make([]byte, size), make([]byte, size)
		rand.Read(a)
		rand.Read(b)
		const dst = "/home/opsrun/blob"
		if err := c.Upload(ctx, bytes.NewReader(a), transport.FileSpec{Path: dst, Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		res := run(t, c, transport.Cmd{Command: "sha256sum " + dst})
		if got := strings.Fields(string(res.Stdout)); len(got) == 0 || got[0] != sha(a) {
			t.Fatalf("remote sha256 %q, want %s", res.Stdout, sha(a))
		}

		// A reader loop on the host must only ever see one whole version.
		rctx, stop := context.WithCancel(ctx)
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			_, err := c.Run(rctx, transport.Cmd{Command: "while :; do sha256sum " + dst + "; done", Stdout: &out})
			done <- err
		}()
		for i := range 6 {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := c.Upload(ctx, bytes.NewReader(data), transport.FileSpec{Path: dst, Mode: 0o600}); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("reader loop: %v", err)
		}
		seen := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			seen[f[0]]++
		}
		for h, n := range seen {
			if h != sha(a) && h != sha(b) {
				t.Errorf("a reader saw a partial file %d times (%s)", n, h)
			}
		}
		if len(seen) == 0 {
			t.Fatal("the reader loop saw nothing")
		}
		t.Logf("reader saw %v", seen)
		waitNoRemote(t, fleet, web1.Name, "sh -c while :")
		if out, _ := fleet.Exec(ctx, web1.Name, "sh", "-c", "ls -a /home/opsrun | grep '^.opsrun-' || true"); len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("temporary files left: %s", out)
		}
	})

	t.Run("upload with become into /etc with owner and mode", func(t *testing.T) {
		const dst = "/etc/opsrun-test.conf"
		content := []byte("secret=1\n")
		err := c.Upload(ctx, bytes.NewReader(content), transport.FileSpec{Path: dst, Mode: 0o640, Owner: "root", Group: "deploy", Become: true})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fleet.Exec(ctx, web1.Name, "stat", "-c", "%U %G %a", dst)
		if err != nil || strings.TrimSpace(string(out)) != "root deploy 640" {
			t.Fatalf("stat: %q %v", out, err)
		}
		got, _ := fleet.Exec(ctx, web1.Name, "cat", dst)
		if !bytes.Equal(got, content) {
			t.Fatalf("content %q", got)
		}
		if out, _ := fleet.Exec(ctx, web1.Name, "sh", "-c", "ls -a /tmp /etc | grep '^.opsrun-' || true"); len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("temporary files left: %s", out)
		}
		// The login user cannot read it; become can.
		var buf bytes.Buffer
		if err := c.Download(ctx, dst, &buf, false); err == nil {
			t.Error("read a 0640 root:deploy file as opsrun without become")
		}
		buf.Reset()
		if err := c.Download(ctx, dst, &buf, true); err != nil || !bytes.Equal(buf.Bytes(), content) {
			t.Fatalf("download with become: %q %v", buf.Bytes(), err)
		}
	})

	t.Run("sudo without password as opsrun", func(t *testing.T) {
		res := run(t, c, transport.Cmd{Command: "id -un; echo warn >&2", Become: true})
		if string(res.Stdout) != "root\n" || string(res.Stderr) != "warn\n" {
			t.Fatalf("got %+v", res)
		}
		res = run(t, c, transport.Cmd{Command: "id -un", Become: true, BecomeUser: "deploy"})
		if string(res.Stdout) != "deploy\n" {
			t.Fatalf("become deploy: %q", res.Stdout)
		}
	})

	t.Run("deploy: password auth and sudo with password", func(t *testing.T) {
		h := fleetHost(fleet, web1)
		h.User = "deploy"
		h.SSH.IdentityFiles = nil // the fleet key is not deploy's: password auth only
		h.SSH.Password = testenv.DeployPassword
		h.SSH.BecomePassword = testenv.DeployPassword
		dc := dial(t, d, h)
		res := run(t, dc, transport.Cmd{Command: "id -un; cat", Become: true, Stdin: strings.NewReader("in")})
		if string(res.Stdout) != "root\nin" {
			t.Fatalf("got %+v", res)
		}
		// Twice in a row: sudo's cached timestamp must not leave the
		// password line in the command's stdin (-k).
		res = run(t, dc, transport.Cmd{Command: "cat", Become: true, Stdin: strings.NewReader("x")})
		if string(res.Stdout) != "x" {
			t.Fatalf("second sudo: stdout %q", res.Stdout)
		}
		checkNoSecret(t, testenv.DeployPassword, logs.String(), string(res.Stderr))

		h.SSH.BecomePassword = "not-" + testenv.DeployPassword
		dc = dial(t, d, h)
		_, err := dc.Run(ctx, transport.Cmd{Command: "true", Become: true})
		if !errors.Is(err, transport.ErrBecomeFailed) || !strings.Contains(err.Error(), "incorrect password") {
			t.Fatalf("wrong become password: %v", err)
		}
		checkNoSecret(t, testenv.DeployPassword, logs.String(), err.Error())

		h.SSH.BecomePassword = ""
		dc = dial(t, d, h)
		_, err = dc.Run(ctx, transport.Cmd{Command: "true", Become: true})
		if !errors.Is(err, transport.ErrBecomeFailed) || !strings.Contains(err.Error(), "password is required") {
			t.Fatalf("no become password: %v", err)
		}
	})

	t.Run("cancel kills the remote command", func(t *testing.T) {
		dh := fleetHost(fleet, web1)
		dh.User, dh.SSH.IdentityFiles = "deploy", nil
		dh.SSH.Password, dh.SSH.BecomePassword = testenv.DeployPassword, testenv.DeployPassword
		deploy := dial(t, d, dh)
		for _, tc := range []struct {
			name   string
			c      transport.Conn
			become bool
		}{{"opsrun", c, false}, {"opsrun sudo -n", c, true}, {"deploy sudo with password", deploy, true}} {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			start := time.Now()
			_, err := tc.c.Run(cctx, transport.Cmd{Command: "sleep 300", Become: tc.become})
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("%s: cancel took %s", tc.name, el)
			}
			waitNoRemote(t, fleet, web1.Name, "sleep 300")
		}
	})

	t.Run("killed host fails as unreachable", func(t *testing.T) {
		c2 := dial(t, d, fleetHost(fleet, web2))
		run(t, c2, transport.Cmd{Command: "true"})
		errc := make(chan error, 1)
		go func() {
			_, err := c2.Run(ctx, transport.Cmd{Command: "sleep 300"})
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		if err := fleet.Kill(ctx, web2.Name); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, transport.ErrUnreachable) {
				t.Fatalf("got %v, want ErrUnreachable", err)
			}
		case <-time.After(10 * time.Second): // 4 keepalive intervals of 500ms, with margin
			t.Fatal("command still waiting on a killed host")
		}
	})
}

func TestIntegrationProxyJump(t *testing.T) {
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "app", Count: 2}}, Bastion: true, Init: testenv.InitSSHD})
	d := testDialer(t, Options{})
	jump := fmt.Sprintf("opsrun@127.0.0.1:%d", fleet.Bastion.Port)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []transport.Conn
	for _, fh := range fleet.Hosts {
		for range 3 { // several connections per host, all through one bastion connection
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := fleetHost(fleet, fh)
				h.SSH.ProxyJump = jump
				c, err := d.Dial(context.Background(), h)
				if err != nil {
					t.Error(err)
					return
				}
				res, err := c.Run(context.Background(), transport.Cmd{Command: "hostname"})
				if err != nil || strings.TrimSpace(string(res.Stdout)) != fh.Name {
					t.Errorf("%s: %q %v", fh.Name, res.Stdout, err)
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if n := remoteCount(t, fleet, testenv.BastionName, "sshd: opsrun [priv]"); n != 1 {
		ps, _ := fleet.Exec(context.Background(), testenv.BastionName, "sh", "-c", `for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline; echo; done`)
		t.Errorf("%d SSH connections of opsrun on the bastion, want 1 shared; processes:\n%s", n, ps)
	}
	for _, c := range conns {
		c.Close()
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
