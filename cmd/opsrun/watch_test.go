package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/engine/watch"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

func TestWatchFlags(t *testing.T) {
	streams, _, _ := testIO()
	f := &Factory{IO: streams}
	var got *WatchOptions
	cmd := NewCmdWatch(f, func(o *WatchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"stacks/shop", "-i", "a.hcl", "--once", "--metrics-sink", "stdout", "--forks", "3"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Dir != "stacks/shop" || !got.Once || got.MetricsSink != "stdout" || got.Forks != 3 || got.Inventories[0] != "a.hcl" {
		t.Errorf("options %+v", got)
	}
	if got.Interval != 0 || got.UnhealthyAfter != 0 || got.MaxHealing != -1 || got.HealLockTimeout != 10*time.Minute {
		t.Errorf("defaults %+v: want the stack's watch block unless flags say otherwise", got)
	}
	cmd = NewCmdWatch(f, func(o *WatchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--interval", "30s", "--unhealthy-after", "2m", "--max-healing", "2", "--state", "w.db"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Once || got.Interval != 30*time.Second || got.UnhealthyAfter != 2*time.Minute || got.MaxHealing != 2 || got.State != "w.db" {
		t.Errorf("long-running options %+v", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "-1s"}, "positive durations"},
		{[]string{"--once", "--metrics-sink", "graphite"}, "must be stdout or cloudwatch"},
		{[]string{"--once", "--metrics-sink", "stdout", "--forks", "0"}, "--forks"},
	} {
		cmd := NewCmdWatch(f, func(*WatchOptions) error { t.Fatal("ran despite bad flags"); return nil })
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		if exitOf(err) != ExitError || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, %v; want usage error with %q", c.args, exitOf(err), err, c.want)
		}
	}
}

// refusingDialer runs on this machine, except that the hosts in down are
// unreachable.
type refusingDialer struct {
	local.Dialer
	down string
}

func (d refusingDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == d.down {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("connection refused: %w", transport.ErrUnreachable)}
	}
	return d.Dialer.Dial(ctx, h)
}

// watchStack writes a stack of two local hosts: a in web, b in web and db.
func watchStack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := `stack "w" {}
layer "web" {}
layer "db" {}
host "a" {
  layers = ["web"]
}
host "b" {
  layers = ["web", "db"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runWatch(dir, sink string, d transport.Dialer) (ExitCode, string, string) {
	streams, out, errOut := testIO()
	opts := &WatchOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: &Factory{IO: streams}}, Once: true, MetricsSink: sink, Forks: 10, Dialer: d}
	return exitOf(watchRun(context.Background(), opts)), out.String(), errOut.String()
}

func TestWatchOnceStdout(t *testing.T) {
	dir := watchStack(t)
	run := func(d transport.Dialer) (ExitCode, string, string) { return runWatch(dir, "stdout", d) }

	code, out, errOut := run(local.Dialer{})
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4*15 {
		t.Fatalf("%d lines, want 15 for each of a, b, layer:db, layer:web:\n%s", len(lines), out)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		want := []string{"a", "b", "layer:db", "layer:web"}[i/15]
		if len(f) != 3 || f[0] != want {
			t.Errorf("line %d %q: want %s METRIC VALUE", i+1, l, want)
		}
	}
	if !strings.Contains(out, "\nb memory_total ") || !strings.Contains(out, "\nlayer:web procs ") {
		t.Errorf("missing datums:\n%s", out)
	}
	if !strings.Contains(errOut, "Health: no instance to judge yet") {
		t.Errorf("no health summary on stderr:\n%s", errOut)
	}

	code, out, errOut = run(refusingDialer{down: "b"})
	if code != ExitUnreachable || !strings.Contains(errOut, "b: connect: connection refused: host unreachable (unreachable") || strings.Count(out, "\n") != 2*15 || strings.Contains(out, "layer:db") {
		t.Errorf("b down: exit %d, want 3 and metrics of a and layer:web only\n%s%s", code, out, errOut)
	}
}

// TestWatchOnceCloudWatch pushes a round to the local AWS endpoint through
// the SDK's standard configuration (the environment aws.env sets).
func TestWatchOnceCloudWatch(t *testing.T) {
	dir := watchStack(t)
	srv := awsapi.New(nil)
	awsapi.Serve(t, srv)
	code, out, errOut := runWatch(dir, "cloudwatch", local.Dialer{})
	if code != ExitOK || out != "" || !strings.Contains(errOut, "Pushed 75 datums to CloudWatch (namespace OpsRun) in 1 request") {
		t.Fatalf("exit %d\nstdout %q\n%s", code, out, errOut)
	}
	reqs := srv.PutMetricDataRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	// a in web; b in web and db (one set each); layers web and db.
	names := map[string]int{}
	for _, d := range reqs[0] {
		if d.Namespace != "OpsRun" || d.Dimensions["stack"] != "w" {
			t.Fatalf("datum %+v", d)
		}
		names[d.Dimensions["instance"]+"/"+d.Dimensions["layer"]]++
	}
	for _, k := range []string{"a/web", "b/web", "b/db", "/web", "/db"} {
		if names[k] != 15 {
			t.Errorf("%s: %d datums, want 15 (%v)", k, names[k], names)
		}
	}

	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if code, _, _ := runWatch(dir, "cloudwatch", local.Dialer{}); code != ExitError {
		t.Errorf("no region: exit %d, want 1", code)
	}
}

// flakyDialer refuses one host for its first n dials, as an instance that
// died and was brought back.
type flakyDialer struct {
	local.Dialer
	host string
	mu   sync.Mutex
	n    int
}

func (d *flakyDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	d.mu.Lock()
	refuse := h.Name == d.host && d.n > 0
	if refuse {
		d.n--
	}
	d.mu.Unlock()
	if refuse {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("connection refused: %w", transport.ErrUnreachable)}
	}
	return d.Dialer.Dial(ctx, h)
}

// TestWatchHealsAndStops runs the long-running watcher on two local
// hosts of an auto-healing layer: b fails two rounds (unhealthy_after is
// two intervals), is set up again through opsrun up (recorded in the
// history), and the watcher exits when its context ends.
func TestWatchHealsAndStops(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	src := fmt.Sprintf(`stack "w" {
  become = false
  watch {
    interval        = "1s"
    unhealthy_after = "2s"
  }
}
layer "web" {
  auto_healing = true
  on "setup" {
    command "mark" {
      command = "echo setup >> %[1]s/${host.name}.setups"
    }
  }
}
host "a" {
  layers = ["web"]
}
host "b" {
  layers = ["web"]
}
`, root)
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, out := lifecycleOpts(t, dir, "")
	if err := upRun(ctx, o); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	streams, wout, werr := testIO()
	opts := &WatchOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: &Factory{IO: streams}}, MetricsSink: "stdout", Forks: 10,
		MaxHealing: -1, HealLockTimeout: time.Minute, Dialer: &flakyDialer{host: "b", n: 2}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- watchRun(wctx, opts) }()
	setups := func(host string) string {
		b, _ := os.ReadFile(filepath.Join(root, host+".setups"))
		return string(b)
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
	deadline := time.Now().Add(time.Minute)
	for healed() == nil {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("b not set up again; b.setups %q\n%s%s", setups("b"), wout, werr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the watcher did not stop")
	}
	if got := setups("a"); got != "setup\n" {
		t.Errorf("a was set up again: %q", got)
	}
	if got := setups("b"); got != "setup\nsetup\n" {
		t.Errorf("b not set up again: %q", got)
	}
	if heal := healed(); heal.Outcome != state.OutcomeOK || !strings.Contains(heal.Note, "heal: b: set up again (b: connect: connection refused") {
		t.Fatalf("heal in the history: %+v", heal)
	}
	if l, _ := state.New(state.DefaultPath(dir), state.Options{}).Leader(ctx); l != nil {
		t.Errorf("the stopped watcher kept its lease: %+v", l)
	}
	if !strings.Contains(wout.String(), "a memory_total ") {
		t.Errorf("no metrics on stdout:\n%s", wout)
	}
}

func TestPrintRound(t *testing.T) {
	for _, c := range []struct {
		r    watch.Round
		want string
	}{
		{watch.Round{Leader: true}, "Health: no instance to judge yet"},
		{watch.Round{Leader: true, Checked: 3}, "Health: 3 instances, all healthy.\n"},
		{watch.Round{Leader: true, Checked: 3, Unhealthy: map[string]string{"b": "connect: refused", "a": "layer app health check failed: 503"}, Healing: []string{"a"}},
			"Health: 2 of 3 instances failing:\n  a: layer app health check failed: 503\n  b: connect: refused\nHealed: a (see opsrun history).\n"},
		{watch.Round{Leader: true, HeldBack: "run r1 (opsrun deploy shop) holds the stack: instances are not judged while it runs"}, "Not healing: run r1"},
	} {
		var b strings.Builder
		printRound(&b, &c.r)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("%+v printed %q, want %q", c.r, b.String(), c.want)
		}
	}
}

func TestWatchRefusesUnhealthyAfterBelowInterval(t *testing.T) {
	dir := watchStack(t)
	streams, _, _ := testIO()
	// The stack's unhealthy_after is the default 5m.
	opts := &WatchOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: &Factory{IO: streams}}, Once: true, MetricsSink: "stdout", Forks: 10,
		Interval: 10 * time.Minute, MaxHealing: -1, Dialer: local.Dialer{}}
	err := watchRun(context.Background(), opts)
	if exitOf(err) != ExitError || !strings.Contains(err.Error(), "unhealthy_after (5m0s) is shorter than the interval (10m0s)") {
		t.Fatalf("exit %d, %v", exitOf(err), err)
	}
}

func TestRecordAlert(t *testing.T) {
	ctx := context.Background()
	store := state.New(state.DefaultPath(t.TempDir()), state.Options{})
	id, err := recordAlert(ctx, store, "shop", "alert: app-2 unhealthy since 04:00: connect: refused")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := store.History(ctx, 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("history %v, %v", runs, err)
	}
	r := runs[0]
	if r.ID != id || r.Stack != "shop" || r.Event != "watch" || r.Outcome != state.OutcomeFailed || r.Finished.IsZero() || !strings.Contains(r.Note, "app-2 unhealthy") {
		t.Errorf("alert record %+v", r)
	}
}
