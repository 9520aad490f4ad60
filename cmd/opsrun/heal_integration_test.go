package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// syncBuffer is a log the watcher writes while the test reads it.
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

// since is the log after the first line containing mark.
func (s *syncBuffer) since(mark string) string {
	all := s.String()
	_, after, _ := strings.Cut(all, mark)
	return after
}

const healStack = `stack "heal" {
  watch {
    interval        = "3s"
    unhealthy_after = "6s"
  }
}

variable "stack_tag" {
  type = string
}

inventory "ec2" {
  filters = { "tag:opsrun:stack" = [var.stack_tag] }
  address = "public_ip"
}

layer "lb" {
  use = "haproxy"
  settings = {
    backends     = ["app"]
    backend_port = 8080
  }
}

layer "app" {
  auto_healing = "replace"
  on "setup" {
    file "instance" {
      path    = "/etc/opsrun-instance"
      mode    = "0644"
      content = "${host.vars.instance_id}\n"
    }
  }
}

app "site" {
  layers = ["app"]
  root   = "/srv/site"
  source {
    path = "site"
  }
}
`

// TestWatchHealsOnFleet is the watcher against real hosts and the local
// EC2 endpoint, whose instances are the fleet's containers: a killed app
// instance is replaced by a like one within unhealthy_after and two
// intervals, which gets setup and the app's release, and the load
// balancer's configure names it instead of the old one. Then, with most
// of the stack killed at once, nothing is healed and the log says why.
func TestWatchHealsOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "lb", Count: 1}, {Layer: "app", Count: 2}}})
	srv := awsapi.NewFleetServer(fleet, awsapi.DefaultRegion, slog.New(slog.NewTextHandler(t.Output(), nil)))
	awsapi.Serve(t, srv)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(healStack), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{dir, "--var", "stack_tag=" + fleet.Name, "--ssh-config", fleet.SSHConfigPath}
	if code, out, errOut := mainIn(append([]string{"up"}, common...)...); code != ExitOK {
		t.Fatalf("up: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := mainIn(append([]string{"deploy", "site"}, common...)...); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	ctx := context.Background()
	instanceOf := func(name string) awsapi.Instance {
		t.Helper()
		for _, inst := range srv.Instances() {
			if inst.Tags["Name"] == name && inst.State == "running" {
				return inst
			}
		}
		t.Fatalf("no running instance named %s: %+v", name, srv.Instances())
		return awsapi.Instance{}
	}
	old := instanceOf("app-2")
	launched := len(srv.Instances())

	// The watcher, as `opsrun watch` runs it, with its log kept.
	var log syncBuffer
	streams, wout, werr := testIO()
	f := &Factory{IO: streams, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	opts := &WatchOptions{StackOptions: StackOptions{IO: streams, Dir: dir, Vars: []string{"stack_tag=" + fleet.Name}, f: f},
		MetricsSink: "stdout", Forks: 10, SSHConfig: fleet.SSHConfigPath, MaxHealing: -1, HealLockTimeout: time.Minute}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- watchRun(wctx, opts) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("the watcher did not stop")
		}
	}
	defer stop()
	fail := func(format string, args ...any) {
		t.Helper()
		stop()
		t.Fatalf(format+"\nwatcher log:\n%s\nwatcher stderr:\n%s\nwatcher stdout (tail):\n%s", append(args, log.String(), werr.String(), tail(wout.String(), 2000))...)
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				fail("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Let the watcher see a healthy stack first.
	waitFor("a first round", time.Minute, func() bool { return strings.Contains(log.String(), "msg=\"watch round\"") })

	fmt.Fprintln(&log, "TEST: killed app-2")
	if err := fleet.Kill(ctx, "app-2"); err != nil {
		t.Fatal(err)
	}
	store := state.New(state.DefaultPath(dir), state.Options{})
	healed := func() *state.RunRecord {
		runs, _ := store.History(ctx, 0)
		for _, r := range runs {
			if r.Command == "opsrun watch: heal" && r.Outcome != state.OutcomeRunning {
				return r
			}
		}
		return nil
	}
	waitFor("the heal's run to end", 5*time.Minute, func() bool { return healed() != nil })
	if r := healed(); r.Outcome != state.OutcomeOK || !strings.Contains(r.Note, "app-2: replaced EC2 instance "+old.ID) {
		fail("heal run: %+v", r)
	}
	// Rounds from the kill to the one that started the heal: unhealthy_after
	// is two intervals, and the heal must start within two more.
	after := log.since("TEST: killed app-2")
	rounds := 0
	for _, line := range strings.Split(after, "\n") {
		if strings.Contains(line, "msg=\"watch round\"") {
			rounds++
			if strings.Contains(line, "healing=app-2") {
				break
			}
		}
	}
	if rounds == 0 || rounds > 4 || !strings.Contains(after, "healing=app-2") {
		fail("the heal started at round %d after the kill, want within unhealthy_after (2 rounds) + 2", rounds)
	}

	repl := instanceOf("app-2")
	if repl.ID == old.ID || repl.ImageID != old.ImageID || repl.Type != old.Type || repl.Tags["opsrun:layer"] != "app" {
		fail("replacement %+v is not a like instance of %+v", repl, old)
	}
	for _, inst := range srv.Instances() {
		if inst.ID == old.ID && inst.State != "terminated" {
			fail("the old instance is %s, want terminated", inst.State)
		}
	}
	if err := fleet.Reload(); err != nil {
		t.Fatal(err)
	}
	// Setup and the app's release ran on the new instance.
	if b, err := fleet.Exec(ctx, "app-2", "cat", "/etc/opsrun-instance"); err != nil || strings.TrimSpace(string(b)) != repl.ID {
		fail("app-2's /etc/opsrun-instance %q, %v; want %s", b, err, repl.ID)
	}
	if b, err := fleet.Exec(ctx, "app-2", "cat", "/srv/site/current/index.html"); err != nil || string(b) != "hello\n" {
		fail("the app is not deployed on the new app-2: %q, %v", b, err)
	}
	// Configure everywhere: the load balancer's backends name the new
	// machine, not the old one.
	cfg, err := fleet.Exec(ctx, "lb-1", "cat", "/etc/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "server app-2 "+repl.PrivateIP+":8080") {
		fail("haproxy.cfg does not name the new app-2 (%s):\n%s", repl.PrivateIP, cfg)
	}
	if repl.PrivateIP != old.PrivateIP && strings.Contains(string(cfg), old.PrivateIP+":8080") {
		fail("haproxy.cfg still names the old app-2 (%s):\n%s", old.PrivateIP, cfg)
	}
	if n := len(srv.Instances()); n != launched+1 {
		fail("%d instances, want %d: one replacement", n, launched+1)
	}

	// Most of the stack at once: the watcher assumes it is cut off.
	fmt.Fprintln(&log, "TEST: killed app-1 and app-2")
	for _, h := range []string{"app-1", "app-2"} {
		if err := fleet.Kill(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("the watcher to refuse to heal twice", 2*time.Minute, func() bool {
		return strings.Count(log.since("TEST: killed app-1 and app-2"), "NOT HEALING: 2 of 3 instances failed their checks at once") >= 2
	})
	stop()
	if n := len(srv.Instances()); n != launched+1 {
		t.Errorf("%d instances after most of the stack failed: the watcher healed (want %d)", n, launched+1)
	}
	if !strings.Contains(log.String(), "assumes it is the one cut off and heals nothing") {
		t.Errorf("the log does not say why nothing was healed:\n%s", log.String())
	}
	if l, _ := store.Leader(ctx); l != nil {
		t.Errorf("the stopped watcher kept its lease: %+v", l)
	}
	if testing.Verbose() {
		t.Logf("watcher log:\n%s", log.String())
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
