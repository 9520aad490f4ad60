package sshconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opsrun/opsrun/engine/transport"
)

// fixture is a connected in-process server, for command and file tests.
type fixture struct {
	s    *testServer
	d    *Dialer
	c    transport.Conn
	logs *logBuffer
}

func newFixture(t *testing.T, opts Options, becomePassword string, sopts ...serverOpt) *fixture {
	t.Helper()
	k := writeKey(t, t.TempDir(), "id", "ed25519", "", false)
	s := newTestServer(t, []ssh.PublicKey{k.Pub}, sopts...)
	logs := &logBuffer{}
	opts.Logger = logs.Logger()
	d := testDialer(t, opts)
	h := hostFor("web1", s, knownHostsFor(t, s), k.Path)
	h.SSH.BecomePassword = becomePassword
	return &fixture{s: s, d: d, c: dial(t, d, h), logs: logs}
}

func TestRunResult(t *testing.T) {
	f := newFixture(t, Options{}, "")
	res := run(t, f.c, transport.Cmd{Command: "echo out; echo err >&2; exit 3"})
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitStatus != 3 || res.Duration <= 0 {
		t.Fatalf("got %+v", res)
	}
	res = run(t, f.c, transport.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("hello")})
	if string(res.Stdout) != "HELLO" || res.ExitStatus != 0 {
		t.Fatalf("stdin: got %+v", res)
	}
	var out, errw bytes.Buffer
	res = run(t, f.c, transport.Cmd{Command: "echo a; echo b >&2", Stdout: &out, Stderr: &errw})
	if res.Stdout != nil || res.Stderr != nil || out.String() != "a\n" || errw.String() != "b\n" {
		t.Fatalf("streamed: %+v %q %q", res, out.String(), errw.String())
	}
	res = run(t, f.c, transport.Cmd{Command: "kill -TERM $$"})
	if res.ExitStatus != -1 || res.Signal != "TERM" {
		t.Fatalf("killed by a signal: %+v", res)
	}
	if !strings.Contains(f.logs.String(), `command="echo out; echo err >&2; exit 3" exitCode=3`) {
		t.Errorf("debug log lacks the command record:\n%s", f.logs)
	}
}

// A stdin reader that never ends must not keep Run waiting once the
// command has exited.
func TestRunDoesNotWaitForEndlessStdin(t *testing.T) {
	f := newFixture(t, Options{}, "")
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan struct{})
	go func() {
		run(t, f.c, transport.Cmd{Command: "true", Stdin: pr})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for stdin after the command ended")
	}
}

// noProcess polls until no local process matches pattern.
func noProcess(t *testing.T, pattern string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", pattern).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes matching %q still running: %s", pattern, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCancelKillsRemoteCommand(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep not installed")
	}
	for _, become := range []bool{false, true} {
		t.Run(fmt.Sprintf("become=%v", become), func(t *testing.T) {
			f := newFixture(t, Options{}, "")
			// A compound command: the shell would wait for sleep, and only a
			// signal to the whole process group ends both.
			n := 3000 + time.Now().UnixNano()%1000
			cmd := fmt.Sprintf("sleep %d; echo never", n)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := f.c.Run(ctx, transport.Cmd{Command: cmd, Become: become})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want the context's error", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("cancel took %s", el)
			}
			noProcess(t, fmt.Sprintf("sleep %d", n))
			// The connection is still good for the next command.
			run(t, f.c, transport.Cmd{Command: "true"})
		})
	}
}

func TestDeadHostDetectedByKeepAlive(t *testing.T) {
	f := newFixture(t, Options{KeepAliveInterval: 100 * time.Millisecond}, "")
	errc := make(chan error, 1)
	go func() {
		_, err := f.c.Run(context.Background(), transport.Cmd{Command: "sleep 30"})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	f.s.Freeze()
	select {
	case err := <-errc:
		// Usually the keepalive's own reason; under load the frozen
		// server's side may end the channel first. Either way: unreachable.
		if !errors.Is(err, transport.ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command still waiting on a dead host")
	}
	if _, err := f.c.Run(context.Background(), transport.Cmd{Command: "true"}); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("next command on the dead connection: %v", err)
	}
}

func TestConnectionLostMidCommand(t *testing.T) {
	f := newFixture(t, Options{}, "")
	errc := make(chan error, 1)
	go func() {
		_, err := f.c.Run(context.Background(), transport.Cmd{Command: "sleep 30"})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	f.s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command still waiting on a closed connection")
	}
}

func TestMaxSessionsBoundsConcurrency(t *testing.T) {
	f := newFixture(t, Options{MaxSessions: 2}, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(t, f.c, transport.Cmd{Command: "sleep 0.2"})
		}()
	}
	wg.Wait()
	if m := f.s.MaxActive.Load(); m != 2 {
		t.Fatalf("at most %d commands at once, want 2", m)
	}
}

func TestBecome(t *testing.T) {
	const pw = "correct horse"
	t.Run("no password needed", func(t *testing.T) {
		f := newFixture(t, Options{}, "")
		res := run(t, f.c, transport.Cmd{Command: "echo out; echo err >&2; cat", Become: true, Stdin: strings.NewReader("in")})
		if string(res.Stdout) != "out\nin" || string(res.Stderr) != "err\n" {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("password fed to sudo, stdin to the command", func(t *testing.T) {
		f := newFixture(t, Options{}, pw, withSudoPassword(pw))
		res := run(t, f.c, transport.Cmd{Command: "cat; echo; echo err >&2; exit 4", Become: true, Stdin: strings.NewReader("payload")})
		if string(res.Stdout) != "payload\n" || string(res.Stderr) != "err\n" || res.ExitStatus != 4 {
			t.Fatalf("got %+v", res)
		}
		checkNoSecret(t, pw, f.logs.String(), string(res.Stdout), string(res.Stderr))
	})
	t.Run("wrong password", func(t *testing.T) {
		f := newFixture(t, Options{}, "wrong "+pw, withSudoPassword(pw))
		start := time.Now()
		_, err := f.c.Run(context.Background(), transport.Cmd{Command: "echo ran", Become: true})
		if !errors.Is(err, transport.ErrBecomeFailed) || !strings.Contains(err.Error(), "sudo: incorrect password") {
			t.Fatalf("got %v", err)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("wrong password took long: sudo was left waiting")
		}
		checkNoSecret(t, pw, f.logs.String(), err.Error())
		run(t, f.c, transport.Cmd{Command: "true"}) // the connection survives
	})
	t.Run("password required but not configured", func(t *testing.T) {
		f := newFixture(t, Options{}, "", withSudoPassword(pw))
		res, err := f.c.Run(context.Background(), transport.Cmd{Command: "echo ran", Become: true})
		if !errors.Is(err, transport.ErrBecomeFailed) || !strings.Contains(err.Error(), "a password is required") || !strings.Contains(err.Error(), "become_password") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(string(res.Stdout), "ran") {
			t.Fatal("the command ran")
		}
	})
	t.Run("sudo missing", func(t *testing.T) {
		f := newFixture(t, Options{}, "", withEnv("PATH=/nonexistent"))
		_, err := f.c.Run(context.Background(), transport.Cmd{Command: "true", Become: true})
		if !errors.Is(err, transport.ErrBecomeFailed) || !strings.Contains(err.Error(), "install sudo") {
			t.Fatalf("got %v", err)
		}
	})
}

func checkNoSecret(t *testing.T, secret string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the password appears in %q", s)
		}
	}
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func TestUploadDownload(t *testing.T) {
	for _, become := range []bool{false, true} {
		t.Run(fmt.Sprintf("become=%v", become), func(t *testing.T) {
			f := newFixture(t, Options{}, "")
			dir := t.TempDir()
			dst := filepath.Join(dir, "app.conf")
			writeFile(t, dst, "old")
			data := make([]byte, 3<<20+17)
			rand.Read(data)
			err := f.c.Upload(context.Background(), bytes.NewReader(data), transport.FileSpec{Path: dst, Mode: 0o640, Owner: currentUser(t), Become: become})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if sha(got) != sha(data) {
				t.Fatal("uploaded content differs")
			}
			if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", st.Mode().Perm())
			}
			leftovers(t, dir)

			var buf bytes.Buffer
			if err := f.c.Download(context.Background(), dst, &buf, become); err != nil {
				t.Fatal(err)
			}
			if sha(buf.Bytes()) != sha(data) {
				t.Fatal("downloaded content differs")
			}
			err = f.c.Download(context.Background(), filepath.Join(dir, "missing"), &buf, become)
			var he *transport.HostError
			if !errors.As(err, &he) || he.Op != "download" {
				t.Fatalf("download of a missing file: %v", err)
			}
		})
	}
}

func currentUser(t *testing.T) string {
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// leftovers fails if temporary upload files remain in dir or /tmp.
func leftovers(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir} {
		m, _ := filepath.Glob(filepath.Join(d, ".opsrun-*"))
		if len(m) > 0 {
			t.Errorf("temporary files left: %v", m)
		}
	}
}

func TestUploadFailureLeavesNothing(t *testing.T) {
	f := newFixture(t, Options{}, "")
	dir := t.TempDir()
	dst := filepath.Join(dir, "f")
	writeFile(t, dst, "old")
	// An owner that does not exist makes the finishing command fail after
	// the data arrived: the temp file must go, the old file stay.
	err := f.c.Upload(context.Background(), strings.NewReader("new"), transport.FileSpec{Path: dst, Owner: "no-such-user-opsrun"})
	if err == nil || !strings.Contains(err.Error(), "no-such-user-opsrun") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("destination changed to %q", b)
	}
	leftovers(t, dir)

	// A reader failing midway.
	err = f.c.Upload(context.Background(), io.MultiReader(strings.NewReader("partial"), errReader{}), transport.FileSpec{Path: dst})
	if err == nil {
		t.Fatal("upload from a failing reader succeeded")
	}
	leftovers(t, dir)
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("destination changed to %q", b)
	}

	// Cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.c.Upload(ctx, strings.NewReader("x"), transport.FileSpec{Path: dst}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: %v", err)
	}
	if err := f.c.Upload(context.Background(), strings.NewReader("x"), transport.FileSpec{Path: "relative/path"}); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("relative path: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestFinalizeScriptGolden(t *testing.T) {
	got := finalizeScript("/tmp/.opsrun-ab", "/etc/app/.opsrun-ab", transport.FileSpec{Path: "/etc/app/my file", Mode: 0o600, Owner: "app", Group: "adm", Become: true}, "deadbeef")
	want := `set -e; t=/etc/app/.opsrun-ab; d='/etc/app/my file'; s=/tmp/.opsrun-ab; trap 'rm -f "$s" "$t"' EXIT; umask 077; cp "$s" "$t"; ` +
		`h=$(sha256sum "$t"); [ "${h%% *}" = deadbeef ] || { echo "opsrun: checksum of $t does not match what was sent" >&2; exit 1; }; ` +
		`chmod 0600 "$t"; chown app:adm "$t"; sync "$t" 2>/dev/null || sync; mv -f "$t" "$d"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = finalizeScript("/x/.opsrun-1", "/x/.opsrun-1", transport.FileSpec{Path: "/x/y", Group: "g"}, "00")
	want = `set -e; t=/x/.opsrun-1; d=/x/y; trap 'rm -f "$t"' EXIT; ` +
		`h=$(sha256sum "$t"); [ "${h%% *}" = 00 ] || { echo "opsrun: checksum of $t does not match what was sent" >&2; exit 1; }; ` +
		`chmod 0644 "$t"; chgrp g "$t"; sync "$t" 2>/dev/null || sync; mv -f "$t" "$d"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
