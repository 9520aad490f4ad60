package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport/local"
)

func TestLifecycleFlags(t *testing.T) {
	f := &Factory{}
	var got *LifecycleOptions
	capture := func(o *LifecycleOptions) error { got = o; return nil }
	for _, tc := range []struct {
		args []string
		want func(*LifecycleOptions) bool
	}{
		{[]string{"deploy", "shop", "st", "--ref", "v2", "--check"}, func(o *LifecycleOptions) bool {
			return o.App == "shop" && o.Dir == "st" && o.Ref == "v2" && o.Check
		}},
		{[]string{"rollback", "shop", "--to", "20261126T010203Z"}, func(o *LifecycleOptions) bool {
			return o.App == "shop" && o.Dir == "." && o.To == "20261126T010203Z"
		}},
		{[]string{"undeploy", "shop", "-o", "json"}, func(o *LifecycleOptions) bool { return o.App == "shop" && o.Output == "json" }},
		{[]string{"up", "st", "--lock-timeout", "5m", "--forks", "3"}, func(o *LifecycleOptions) bool {
			return o.Dir == "st" && o.LockTimeout.Minutes() == 5 && o.Forks == 3
		}},
	} {
		got = nil
		streams, _, errOut := testIO()
		f.IO = streams
		root := NewCmdRoot(f)
		root.RemoveCommand(root.Commands()...)
		root.AddCommand(NewCmdUp(f, capture), NewCmdDeploy(f, capture), NewCmdRollback(f, capture), NewCmdUndeploy(f, capture))
		root.SetArgs(tc.args)
		if err := root.Execute(); err != nil || got == nil || !tc.want(got) {
			t.Errorf("%v: err %v, opts %+v; %s", tc.args, err, got, errOut)
		}
	}
	for _, args := range [][]string{{"deploy"}, {"deploy", "shop", "-o", "yaml"}, {"up", "a", "b"}, {"rollback", "shop", "--forks", "-1"}} {
		if code, _, errOut := mainIn(args...); code != ExitError || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// appStack is a stack with one local host and an app whose root is under
// a temporary directory.
func appStack(t *testing.T) (dir, root string) {
	t.Helper()
	dir, root = t.TempDir(), filepath.Join(t.TempDir(), "srv", "shop")
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "VERSION"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`stack "apps" {
  become = false
}
variable "token" {
  type      = string
  sensitive = true
  default   = "tok-3141592"
}
layer "app" {
  on "deploy" {
    command "restart" {
      command = "readlink %[1]s/current > %[1]s/../restarted"
    }
  }
}
host "local" {
  layers = ["app"]
}
app "shop" {
  layers = ["app"]
  root   = %[1]q
  source {
    path = "site"
  }
  environment = {
    TOKEN = var.token
  }
  build = "echo \"$TOKEN\" | wc -c > LEN"
  health_check {
    command = "test -f VERSION"
  }
}
`, root)
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, root
}

func lifecycleOpts(t *testing.T, dir, app string) (*LifecycleOptions, *bytes.Buffer) {
	t.Helper()
	streams, out, _ := testIO()
	f := &Factory{IO: streams}
	o := &LifecycleOptions{RunOptions: RunOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: f}, Output: "text", Dialer: local.Dialer{}}, App: app}
	return o, out
}

func TestDeployRollbackUndeployCommands(t *testing.T) {
	ctx := context.Background()
	dir, root := appStack(t)
	store := state.New(state.DefaultPath(dir), state.Options{})

	o, out := lifecycleOpts(t, dir, "shop")
	if err := deployRun(ctx, o); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	text := out.String()
	for _, want := range []string{"==> release ", ": prepare on 1 instance: local", ": switch and run deploy recipes on local", "RECAP deploy shop", "is current on 1 instance of shop"} {
		if !strings.Contains(text, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "tok-3141592") {
		t.Errorf("the secret is in the output:\n%s", text)
	}
	runs, err := store.History(ctx, 0)
	if err != nil || len(runs) != 1 || runs[0].Event != "deploy" || runs[0].App != "shop" || runs[0].Release == "" || runs[0].Outcome != state.OutcomeOK {
		t.Fatalf("history: %+v %v", runs, err)
	}
	first := runs[0].Release
	target, _ := os.Readlink(filepath.Join(root, "current"))
	if target != filepath.Join(root, "releases", first) {
		t.Errorf("current -> %q, want release %s", target, first)
	}

	o, out = lifecycleOpts(t, dir, "shop")
	if err := deployRun(ctx, o); err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	runs, _ = store.History(ctx, 0)
	second := runs[0].Release

	// releases: per instance, current and kept; then the releases.
	streams, rout, _ := testIO()
	ro := &ReleasesOptions{StackOptions: StackOptions{IO: streams, Dir: dir, f: &Factory{IO: streams}}, App: "shop", Output: "text"}
	if err := releasesRun(ctx, ro); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("local     %s  %s, %s", second, second, first); !strings.Contains(rout.String(), want) {
		t.Errorf("releases:\n%s\nwant a line %q", rout, want)
	}
	streams, rout, _ = testIO()
	ro.IO, ro.Output = streams, "json"
	if err := releasesRun(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Placements []*state.Placement `json:"placements"`
		Releases   []*state.Release   `json:"releases"`
	}
	if err := json.Unmarshal([]byte(rout.String()), &rel); err != nil || len(rel.Placements) != 1 || rel.Placements[0].Current != second || len(rel.Releases) != 2 {
		t.Fatalf("releases json %s: %v", rout, err)
	}

	o, out = lifecycleOpts(t, dir, "shop")
	if err := rollbackRun(ctx, o); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if target, _ := os.Readlink(filepath.Join(root, "current")); target != filepath.Join(root, "releases", first) {
		t.Errorf("after rollback current -> %q", target)
	}
	runs, _ = store.History(ctx, 0)
	if runs[0].Event != "rollback" || runs[0].Release != first || !strings.Contains(runs[0].Note, "rolled local back to release "+first) {
		t.Errorf("rollback record: %+v", runs[0])
	}
	// Rolling back past the oldest kept release is refused: exit 1, nothing changed.
	o, _ = lifecycleOpts(t, dir, "shop")
	if err := rollbackRun(ctx, o); exitOf(err) != ExitError || !strings.Contains(err.Error(), "keeps no release older than its current "+first) {
		t.Fatalf("rollback past the oldest: exit %d: %v (first %s)", exitOf(err), err, first)
	}

	o, out = lifecycleOpts(t, dir, "shop")
	if err := undeployRun(ctx, o); err != nil {
		t.Fatalf("undeploy: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); !os.IsNotExist(err) {
		t.Errorf("current left after undeploy: %v", err)
	}
	if ps, _ := store.Placements(ctx, "shop"); len(ps) != 0 {
		t.Errorf("placements after undeploy: %+v", ps)
	}

	// An app the stack does not declare: exit 1 naming the ones it does.
	o, _ = lifecycleOpts(t, dir, "shpo")
	if err := deployRun(ctx, o); exitOf(err) != ExitError || !strings.Contains(err.Error(), `no app "shpo"; its apps are: shop`) {
		t.Fatalf("unknown app: %v", err)
	}
	// A deploy while another run holds the stack: exit 4, nothing ran.
	held, err := store.Acquire(ctx, state.Me("other", "opsrun run setup"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	o, _ = lifecycleOpts(t, dir, "shop")
	if err := deployRun(ctx, o); exitOf(err) != ExitLocked {
		t.Fatalf("deploy while locked: %v", err)
	}
}

func TestUpCommand(t *testing.T) {
	ctx := context.Background()
	dir, _ := appStack(t)
	o, out := lifecycleOpts(t, dir, "")
	if err := upRun(ctx, o); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "==> configure on every instance (1 instance) for the new membership") {
		t.Errorf("first up:\n%s", out)
	}
	o, out = lifecycleOpts(t, dir, "")
	if err := upRun(ctx, o); err != nil {
		t.Fatalf("second up: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "nothing changed: 1 instance, all reachable") {
		t.Errorf("second up:\n%s", out)
	}
	runs, err := state.New(state.DefaultPath(dir), state.Options{}).History(ctx, 0)
	if err != nil || len(runs) != 2 || runs[0].Event != "up" || runs[0].Command != "opsrun up" {
		t.Fatalf("history: %+v %v", runs, err)
	}
}
