package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
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
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-sink", "stdout"}, "long-running watcher"},
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

func TestWatchOnceStdout(t *testing.T) {
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
	run := func(d transport.Dialer) (ExitCode, string, string) {
		streams, out, errOut := testIO()
		opts := &WatchOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: &Factory{IO: streams}}, Once: true, MetricsSink: "stdout", Forks: 10, Dialer: d}
		return exitOf(watchRun(context.Background(), opts)), out.String(), errOut.String()
	}

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

	code, out, errOut = run(refusingDialer{down: "b"})
	if code != ExitUnreachable || !strings.Contains(errOut, "b: connect: connection refused: host unreachable (unreachable") || strings.Count(out, "\n") != 2*15 || strings.Contains(out, "layer:db") {
		t.Errorf("b down: exit %d, want 3 and metrics of a and layer:web only\n%s%s", code, out, errOut)
	}
}
