package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules/registry"
)

// The tests run every phase for real on this machine through the local
// transport. Each host gets a directory of its own: the fleet's dialer
// rewrites the stack's base directory in every command and upload to
// BASE/hosts/NAME, so hosts keep separate releases, links and markers.

type fleet struct {
	t     *testing.T
	base  string // what the stack's files name
	dir   string // the stack directory
	stack *stack.Stack
	store *state.Store
	clock time.Time

	mu     sync.Mutex
	events []run.Event
}

// hostDialer gives each host its own view of base.
type hostDialer struct {
	local.Dialer
	base string
}

func (d hostDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	own := filepath.Join(d.base, "hosts", h.Name)
	if err := os.MkdirAll(own, 0o755); err != nil {
		return nil, err
	}
	return &hostConn{Conn: &local.Conn{Name: h.Name}, from: d.base + "/srv", to: own + "/srv"}, nil
}

type hostConn struct {
	*local.Conn
	from, to string
}

func (c *hostConn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	cmd.Command = strings.ReplaceAll(cmd.Command, c.from, c.to)
	if cmd.Stdin != nil {
		b, err := io.ReadAll(cmd.Stdin)
		if err != nil {
			return transport.Result{}, err
		}
		cmd.Stdin = strings.NewReader(strings.ReplaceAll(string(b), c.from, c.to))
	}
	res, err := c.Conn.Run(ctx, cmd)
	// Probes echo paths back; the engine must see the ones it asked about.
	res.Stdout = []byte(strings.ReplaceAll(string(res.Stdout), c.to, c.from))
	res.Stderr = []byte(strings.ReplaceAll(string(res.Stderr), c.to, c.from))
	return res, err
}

func (c *hostConn) Upload(ctx context.Context, r io.Reader, spec transport.FileSpec) error {
	spec.Path = strings.ReplaceAll(spec.Path, c.from, c.to)
	return c.Conn.Upload(ctx, r, spec)
}

const stackHCL = `
stack "t" {
  become = false
}

variable "secret" {
  type      = string
  sensitive = true
  default   = "s3cr3t-value"
}

layer "app" {
  on "setup" {
    command "setup" {
      command = "mkdir -p BASE/srv && echo ${host.name} >> BASE/srv/setup"
    }
  }
  on "configure" {
    file "backends" {
      path    = "BASE/srv/backends"
      content = join(",", [for i in layer.app.instances : i.name])
    }
  }
  on "deploy" {
    command "restart" {
      command = "readlink ${app.shop.current} >> BASE/srv/restarts"
    }
  }
  on "undeploy" {
    command "stop" {
      command = "touch BASE/srv/stopped"
    }
  }
  on "shutdown" {
    command "drain" {
      command = "touch BASE/srv/drained"
    }
  }
}

layer "db" {
  on "setup" {
    command "setup" {
      command = "mkdir -p BASE/srv && echo ${host.name} >> BASE/srv/setup"
    }
  }
  on "configure" {
    file "clients" {
      path    = "BASE/srv/clients"
      content = join(",", [for i in layer.app.instances : i.name])
    }
  }
}

app "shop" {
  layers = ["app"]
  root   = "BASE/srv/shop"
  source {
    path = "src"
  }
  environment = {
    GREETING = "hello"
    SECRET   = var.secret
  }
  shared  = ["log"]
  build   = "echo \"$GREETING built\" > built.txt"
  migrate = "echo migrated >> BASE/srv/migrations"
  health_check {
    command  = "test ! -e BASE/srv/unhealthy"
    retries  = 1
    interval = "10ms"
  }
  keep_releases       = 2
  serial              = 2
  rollback_on_failure = true
}
`

func newFleet(t *testing.T) *fleet {
	t.Helper()
	return newFleetWith(t, stackHCL)
}

// newFleetWith loads src, with BASE standing for the fleet's base directory.
func newFleetWith(t *testing.T, src string) *fleet {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "stack")
	if err := os.MkdirAll(filepath.Join(dir, "src", "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "src", "public", "index.html"), "v1\n")
	write(t, filepath.Join(dir, "stack.hcl"), strings.ReplaceAll(src, "BASE", base))
	st, diags := stack.LoadDir(dir, stack.Inputs{}, registry.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ds := st.Validate(); ds.HasErrors() {
		t.Fatal(ds)
	}
	return &fleet{t: t, base: base, dir: dir, stack: st, store: state.New(filepath.Join(dir, ".opsrun", "state.db"), state.Options{}),
		clock: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hosts(specs ...string) []*inventory.Host {
	var out []*inventory.Host
	for _, s := range specs {
		name, layer, _ := strings.Cut(s, ":")
		out = append(out, &inventory.Host{Name: name, Layers: []string{layer}})
	}
	return out
}

func (f *fleet) input(hs []*inventory.Host) Input {
	return Input{Stack: f.stack, Registry: registry.Builtin(), Dialer: hostDialer{base: f.base}, Hosts: hs, Store: f.store}
}

func (f *fleet) options(check bool) Options {
	f.clock = f.clock.Add(time.Minute)
	now := f.clock
	return Options{Check: check, RunID: "run-" + now.Format("1504"), Now: func() time.Time { return now },
		Emit: func(e run.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, e)
		}}
}

// path is what host sees at BASE/srv/rel.
func (f *fleet) path(host, rel string) string {
	return filepath.Join(f.base, "hosts", host, "srv", rel)
}

func (f *fleet) read(host, rel string) string {
	b, err := os.ReadFile(f.path(host, rel))
	if err != nil {
		return ""
	}
	return string(b)
}

func (f *fleet) current(host string) string {
	target, err := os.Readlink(f.path(host, "shop/current"))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}

func (f *fleet) releasesOn(host string) []string {
	entries, _ := os.ReadDir(f.path(host, "shop/releases"))
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

func (f *fleet) placements(t *testing.T) map[string]*state.Placement {
	ps, err := f.store.Placements(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*state.Placement{}
	for _, p := range ps {
		out[p.Host] = p
	}
	return out
}

func (f *fleet) deploy(t *testing.T, hs []*inventory.Host) (*Outcome, error) {
	t.Helper()
	return Deploy(context.Background(), f.input(hs), f.options(false), DeployOptions{App: "shop"})
}

func TestDeployReleasesAndRollback(t *testing.T) {
	f := newFleet(t)
	hs := hosts("a1:app", "a2:app", "a3:app")
	out, err := f.deploy(t, hs)
	if err != nil {
		for _, e := range f.events {
			if e.Error != "" {
				t.Log(e.Host, e.Resource, e.Error)
			}
		}
		t.Fatalf("deploy: %v (%s)", err, out.Note)
	}
	r1 := out.Release
	if out.Result.Totals.Failed != 0 || r1 != "20261126T010100Z" {
		t.Fatalf("deploy: %+v release %s", out.Result.Totals, r1)
	}
	migrated := 0
	for _, h := range []string{"a1", "a2", "a3"} {
		if got := f.current(h); got != r1 {
			t.Errorf("%s: current -> %q, want %s", h, got, r1)
		}
		if got := f.read(h, "shop/current/built.txt"); got != "hello built\n" {
			t.Errorf("%s: build output %q", h, got)
		}
		if got := f.read(h, "shop/current/public/index.html"); got != "v1\n" {
			t.Errorf("%s: shipped file %q", h, got)
		}
		env := f.read(h, "shop/current/.env")
		if !strings.Contains(env, `SECRET="s3cr3t-value"`) || !strings.Contains(env, `GREETING="hello"`) {
			t.Errorf("%s: .env %q", h, env)
		}
		if fi, err := os.Stat(f.path(h, "shop/current/.env")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: .env mode %v %v", h, fi, err)
		}
		if target, err := os.Readlink(f.path(h, "shop/current/log")); err != nil || !strings.HasSuffix(target, "/srv/shop/shared/log") {
			t.Errorf("%s: shared log link %q %v", h, target, err)
		}
		if got := f.read(h, "restarts"); !strings.HasSuffix(strings.TrimSpace(got), r1) {
			t.Errorf("%s: deploy recipe saw current %q", h, got)
		}
		if f.read(h, "migrations") != "" {
			migrated++
		}
		if _, err := os.Stat(f.path(h, "shop/releases/."+r1+".tar.gz")); err == nil {
			t.Errorf("%s: the uploaded tarball was left behind", h)
		}
	}
	if migrated != 1 {
		t.Errorf("migrations ran on %d hosts, want exactly 1", migrated)
	}
	for _, e := range f.events {
		if strings.Contains(fmt.Sprintf("%+v", e), "s3cr3t") {
			t.Fatalf("the secret is in an event: %+v", e)
		}
	}

	// Two more releases: keep_releases = 2 prunes the first.
	write(t, filepath.Join(f.dir, "src", "public", "index.html"), "v2\n")
	out2, err := f.deploy(t, hs)
	if err != nil {
		t.Fatal(err)
	}
	out3, err := f.deploy(t, hs)
	if err != nil {
		t.Fatal(err)
	}
	r2, r3 := out2.Release, out3.Release
	for _, h := range []string{"a1", "a2", "a3"} {
		if got := f.releasesOn(h); !slices.Equal(got, []string{r2, r3}) {
			t.Errorf("%s: releases on disk %v, want [%s %s]", h, got, r2, r3)
		}
		if got := f.read(h, "migrations"); got != "" && got != "migrated\nmigrated\nmigrated\n" && strings.Count(got, "migrated") > 3 {
			t.Errorf("%s: migrations %q", h, got)
		}
	}
	ps := f.placements(t)
	if p := ps["a2"]; p == nil || p.Current != r3 || !slices.Equal(p.Kept, []string{r3, r2}) {
		t.Fatalf("store placement of a2: %+v", p)
	}

	// Rollback goes to the previous kept release everywhere.
	out, err = Rollback(context.Background(), f.input(hs), f.options(false), RollbackOptions{App: "shop"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	for _, h := range []string{"a1", "a2", "a3"} {
		if got := f.current(h); got != r2 {
			t.Errorf("%s: after rollback current %s, want %s", h, got, r2)
		}
		if got := f.read(h, "shop/current/public/index.html"); got != "v2\n" {
			t.Errorf("%s: after rollback serving %q", h, got)
		}
	}
	if p := f.placements(t)["a1"]; p.Current != r2 {
		t.Errorf("store after rollback: %+v", p)
	}
	// Nothing older is kept: a second rollback is refused and changes nothing.
	if _, err := Rollback(context.Background(), f.input(hs), f.options(false), RollbackOptions{App: "shop"}); err == nil || !strings.Contains(err.Error(), "keeps no release older than") {
		t.Fatalf("second rollback: %v", err)
	}
	if _, err := Rollback(context.Background(), f.input(hs), f.options(false), RollbackOptions{App: "shop", To: r1}); err == nil || !strings.Contains(err.Error(), "does not keep release "+r1) {
		t.Fatalf("rollback to a pruned release: %v", err)
	}
	if _, err := Rollback(context.Background(), f.input(hs), f.options(false), RollbackOptions{App: "shop", To: r3}); err != nil {
		t.Fatal(err)
	}
	if got := f.current("a3"); got != r3 {
		t.Errorf("rollback --to %s: current %s", r3, got)
	}

	// Undeploy: recipes, releases gone, shared kept, store forgets.
	if _, err := Undeploy(context.Background(), f.input(hs), f.options(false), "shop"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a1", "a2", "a3"} {
		if f.current(h) != "" || len(f.releasesOn(h)) != 0 {
			t.Errorf("%s: after undeploy current %q releases %v", h, f.current(h), f.releasesOn(h))
		}
		if _, err := os.Stat(f.path(h, "stopped")); err != nil {
			t.Errorf("%s: undeploy recipe did not run", h)
		}
		if _, err := os.Stat(f.path(h, "shop/shared/log")); err != nil {
			t.Errorf("%s: shared dir removed: %v", h, err)
		}
	}
	if ps := f.placements(t); len(ps) != 0 {
		t.Errorf("store still has placements: %v", ps)
	}
}

func TestRollingDeployStopsAndRollsBackFailedBatch(t *testing.T) {
	f := newFleet(t)
	hs := hosts("a1:app", "a2:app", "a3:app", "a4:app")
	out, err := f.deploy(t, hs)
	if err != nil {
		t.Fatal(err)
	}
	r1 := out.Release
	// a3, in the second batch, will fail its health check.
	write(t, f.path("a3", "unhealthy"), "")
	f.events = nil
	out, err = f.deploy(t, hs)
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("deploy with a failing batch: err %v", err)
	}
	r2 := out.Release
	want := map[string]string{"a1": r2, "a2": r2, "a3": r1, "a4": r1}
	ps := f.placements(t)
	for h, id := range want {
		if got := f.current(h); got != id {
			t.Errorf("%s: current %s, want %s", h, got, id)
		}
		if ps[h] == nil || ps[h].Current != id {
			t.Errorf("%s: store says %+v, want current %s", h, ps[h], id)
		}
	}
	if !strings.Contains(out.Note, "stopped at batch 2 of 2") || !strings.Contains(out.Note, "switched a3, a4 back to release "+r1) {
		t.Errorf("note: %s", out.Note)
	}
	if out.Result.Totals.Failed == 0 {
		t.Errorf("recap shows no failure: %+v", out.Result.Totals)
	}
	var health []string
	for _, e := range f.events {
		if e.Type == run.TypeTask && e.Resource == "app.shop.health" {
			health = append(health, e.Host+":"+e.Status)
		}
	}
	slices.Sort(health)
	// a3 fails after switching; after the rollback every host of the batch
	// is checked again on its old release, which fails too on a3.
	if !slices.Contains(health, "a1:ok") || !slices.Contains(health, "a3:failed") {
		t.Errorf("health events: %v", health)
	}
}

func TestDeployCheckModeChangesNothing(t *testing.T) {
	f := newFleet(t)
	hs := hosts("a1:app")
	out, err := Deploy(context.Background(), f.input(hs), f.options(true), DeployOptions{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Totals.Changed == 0 {
		t.Errorf("check mode reports nothing to change: %+v", out.Result.Totals)
	}
	if _, err := os.Stat(f.path("a1", "shop")); !os.IsNotExist(err) {
		t.Errorf("check mode created the app's root: %v", err)
	}
	if ps := f.placements(t); len(ps) != 0 {
		t.Errorf("check mode recorded placements: %v", ps)
	}
}

func TestUpFollowsMembership(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	up := func(hs []*inventory.Host) *Outcome {
		t.Helper()
		f.events = nil
		out, err := Up(ctx, f.input(hs), f.options(false))
		if err != nil {
			t.Fatalf("up: %v", err)
		}
		if out.Result.Totals.Failed+out.Result.Totals.Unreachable != 0 {
			t.Fatalf("up failed: %+v %s", out.Result.Totals, out.Note)
		}
		return out
	}
	phases := func() []string {
		var out []string
		for _, e := range f.events {
			if e.Type == run.TypePhase {
				out = append(out, e.Message)
			}
		}
		return out
	}

	// First app instance: setup, then configure.
	up(hosts("a1:app"))
	if got := f.read("a1", "setup"); got != "a1\n" {
		t.Errorf("setup on a1: %q", got)
	}
	if got := f.read("a1", "backends"); got != "a1" {
		t.Errorf("backends %q", got)
	}
	// Nothing changed: only a reachability check.
	out := up(hosts("a1:app"))
	if p := phases(); len(p) != 1 || !strings.Contains(p[0], "membership unchanged") || !strings.Contains(out.Note, "nothing changed: 1 instance, all reachable") {
		t.Errorf("second up: phases %q note %q", p, out.Note)
	}
	if got := f.read("a1", "setup"); got != "a1\n" {
		t.Errorf("setup ran again: %q", got)
	}

	// Deploy the app, then add a db: setup on it, configure everywhere.
	dep, err := f.deploy(t, hosts("a1:app"))
	if err != nil {
		t.Fatal(err)
	}
	up(hosts("a1:app", "d1:db"))
	if got := f.read("d1", "setup"); got != "d1\n" {
		t.Errorf("setup on d1: %q", got)
	}
	if got := f.read("a1", "setup"); got != "a1\n" {
		t.Errorf("setup ran again on a1: %q", got)
	}
	if got := f.read("d1", "clients"); got != "a1" {
		t.Errorf("db clients %q", got)
	}

	// Two more app instances: setup and the deployed release on them —
	// its code as deployed, not the source directory as it is now —
	// configure everywhere with three backends.
	write(t, filepath.Join(f.dir, "src", "public", "index.html"), "edited after the deploy\n")
	up(hosts("a1:app", "d1:db", "a2:app", "a3:app"))
	for _, h := range []string{"a2", "a3"} {
		if got := f.read(h, "shop/current/public/index.html"); got != "v1\n" {
			t.Errorf("%s: joined with %q, not the release's code", h, got)
		}
	}
	for _, h := range []string{"a2", "a3"} {
		if got := f.current(h); got != dep.Release {
			t.Errorf("%s: joined but current is %q, want %s", h, got, dep.Release)
		}
		if f.read(h, "migrations") != "" {
			t.Errorf("%s: migrations ran again for a release already migrated", h)
		}
	}
	for _, h := range []string{"a1", "a2", "a3"} {
		if got := f.read(h, "backends"); got != "a1,a2,a3" {
			t.Errorf("%s: backends %q", h, got)
		}
	}
	if got := f.read("d1", "clients"); got != "a1,a2,a3" {
		t.Errorf("db clients %q", got)
	}

	// a3 stops: shutdown on it, configure everywhere, two backends.
	up(hosts("a1:app", "d1:db", "a2:app"))
	if _, err := os.Stat(f.path("a3", "drained")); err != nil {
		t.Errorf("shutdown did not run on a3")
	}
	for _, h := range []string{"a1", "a2"} {
		if got := f.read(h, "backends"); got != "a1,a2" {
			t.Errorf("%s: backends %q", h, got)
		}
	}
	if got := f.read("a3", "backends"); got != "a1,a2,a3" {
		t.Errorf("a3 was configured after it left: %q", got)
	}
	ms, err := f.store.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"a1", "a2", "d1"}) {
		t.Errorf("members %v", names)
	}
	if p := f.placements(t)["a3"]; p != nil {
		t.Errorf("a3's placement kept after it left: %+v", p)
	}
}

// A departed instance that no longer answers is forgotten without its
// shutdown, and does not make the run fail.
func TestUpForgetsUnreachableDeparted(t *testing.T) {
	f := newFleet(t)
	if _, err := Up(context.Background(), f.input(hosts("a1:app", "a2:app")), f.options(false)); err != nil {
		t.Fatal(err)
	}
	in := f.input(hosts("a1:app"))
	in.Dialer = downDialer{hostDialer: hostDialer{base: f.base}, down: "a2"}
	out, err := Up(context.Background(), in, f.options(false))
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Totals.Unreachable != 0 || !strings.Contains(out.Note, "a2 did not answer: forgotten") {
		t.Errorf("totals %+v note %q", out.Result.Totals, out.Note)
	}
	if got := f.read("a1", "backends"); got != "a1" {
		t.Errorf("backends %q", got)
	}
}

type downDialer struct {
	hostDialer
	down string
}

func (d downDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == d.down {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: transport.ErrUnreachable}
	}
	return d.hostDialer.Dial(ctx, h)
}

func TestDeployStoppedBeforeItStarts(t *testing.T) {
	f := newFleet(t)
	opts := f.options(false)
	stop := make(chan struct{})
	close(stop)
	opts.Stop = stop
	out, err := Deploy(context.Background(), f.input(hosts("a1:app")), opts, DeployOptions{App: "shop"})
	if !errors.Is(err, run.ErrInterrupted) || !strings.Contains(out.Note, "interrupted before batch 1 of 1") {
		t.Fatalf("err %v note %q", err, out.Note)
	}
	if _, err := os.Stat(f.path("a1", "shop")); !os.IsNotExist(err) {
		t.Errorf("a stopped deploy touched the host: %v", err)
	}
}

func TestDeployRefusesBadRef(t *testing.T) {
	f := newFleet(t)
	_, err := Deploy(context.Background(), f.input(hosts("a1:app")), f.options(false), DeployOptions{App: "shop", Ref: "--upload-pack=x"})
	if err == nil || !strings.Contains(err.Error(), "applies to a git source") {
		t.Fatalf("--ref on a path source: %v", err)
	}
}

// An instance whose setup failed is set up again by the next up, and
// configure runs until it has completed for the membership.
func TestUpRetriesFailedSetup(t *testing.T) {
	f := newFleetWith(t, strings.Replace(stackHCL, `command = "mkdir -p BASE/srv && echo ${host.name} >> BASE/srv/setup"`,
		`command = "mkdir -p BASE/srv && test ! -e BASE/srv/broken && echo ${host.name} >> BASE/srv/setup"`, 1))
	ctx := context.Background()
	if _, err := Up(ctx, f.input(hosts("a1:app")), f.options(false)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.path("a2", ""), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, f.path("a2", "broken"), "")
	out, err := Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if err != nil || out.Result.Totals.Failed == 0 || !strings.Contains(out.Note, "setup failed on a2") {
		t.Fatalf("up with a failing setup: %v %+v %q", err, out.Result.Totals, out.Note)
	}
	if got := f.read("a1", "backends"); got != "a1,a2" {
		t.Errorf("configure on a1 with a2 failing: backends %q", got)
	}
	if d, _ := f.store.Configured(ctx); d == state.Digest(membership(hosts("a1:app", "a2:app"))) {
		t.Error("configure recorded as complete while a2's setup failed")
	}
	if err := os.Remove(f.path("a2", "broken")); err != nil {
		t.Fatal(err)
	}
	f.events = nil
	out, err = Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if err != nil || out.Result.Totals.Failed != 0 {
		t.Fatalf("second up: %v %+v %s", err, out.Result.Totals, out.Note)
	}
	if got := f.read("a2", "setup"); got != "a2\n" {
		t.Errorf("a2 setup %q", got)
	}
	if got := f.read("a1", "setup"); got != "a1\n" {
		t.Errorf("a1 set up again: %q", got)
	}
	if got := f.read("a2", "backends"); got != "a1,a2" {
		t.Errorf("a2 backends %q", got)
	}
	if d, _ := f.store.Configured(ctx); d != state.Digest(membership(hosts("a1:app", "a2:app"))) {
		t.Error("configure not recorded as complete")
	}
}

// A git source: the app's ref, then another one with --ref.
func TestDeployFromGit(t *testing.T) {
	repo := t.TempDir()
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitRun("init", "-q", "-b", "main")
	write(t, filepath.Join(repo, "VERSION"), "v1\n")
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "one")
	gitRun("tag", "v1")
	write(t, filepath.Join(repo, "VERSION"), "v2\n")
	gitRun("commit", "-q", "-am", "two")

	f := newFleetWith(t, fmt.Sprintf(`
stack "g" {
  become = false
}
layer "app" {}
app "site" {
  layers = ["app"]
  root   = "BASE/srv/site"
  source {
    git = "file://%s"
    ref = "v1"
  }
}
`, repo))
	hs := hosts("a1:app")
	out, err := Deploy(context.Background(), f.input(hs), f.options(false), DeployOptions{App: "site"})
	if err != nil {
		t.Fatalf("deploy: %v %s", err, out.Note)
	}
	if got := f.read("a1", "site/current/VERSION"); got != "v1\n" {
		t.Errorf("ref v1 deployed %q", got)
	}
	out, err = Deploy(context.Background(), f.input(hs), f.options(false), DeployOptions{App: "site", Ref: "main"})
	if err != nil {
		t.Fatalf("deploy --ref main: %v %s", err, out.Note)
	}
	if got := f.read("a1", "site/current/VERSION"); got != "v2\n" {
		t.Errorf("--ref main deployed %q", got)
	}
	rels, err := f.store.Releases(context.Background(), "site")
	if err != nil || len(rels) != 2 || rels[0].Ref != "main" || rels[1].Ref != "v1" || !strings.HasPrefix(rels[0].Source, "git file://") || len(rels[0].Commit) != 40 {
		t.Fatalf("releases: %+v %v", rels, err)
	}
	// main moves on; an instance that joins gets the commit deployed.
	write(t, filepath.Join(repo, "VERSION"), "v3\n")
	gitRun("commit", "-q", "-am", "three")
	if _, err := Up(context.Background(), f.input(hosts("a1:app", "a2:app")), f.options(false)); err != nil {
		t.Fatal(err)
	}
	if got := f.read("a2", "site/current/VERSION"); got != "v2\n" {
		t.Errorf("a2 joined with %q, want the deployed commit's v2", got)
	}
}

// local_build runs on this machine before the source is packed; its
// failure stops the deploy before any host is touched.
func TestLocalBuild(t *testing.T) {
	f := newFleetWith(t, `
stack "b" {
  become = false
}
layer "app" {}
app "bin" {
  layers = ["app"]
  root   = "BASE/srv/bin"
  source {
    path        = "src"
    local_build = "test ! -e FAIL && echo built-here > artifact"
  }
}
`)
	hs := hosts("a1:app")
	if _, err := Deploy(context.Background(), f.input(hs), f.options(false), DeployOptions{App: "bin"}); err != nil {
		t.Fatal(err)
	}
	if got := f.read("a1", "bin/current/artifact"); got != "built-here\n" {
		t.Errorf("artifact on the host: %q", got)
	}
	write(t, filepath.Join(f.dir, "src", "FAIL"), "")
	_, err := Deploy(context.Background(), f.input(hs), f.options(false), DeployOptions{App: "bin"})
	if err == nil || !strings.Contains(err.Error(), "local_build") {
		t.Fatalf("failing local_build: %v", err)
	}
	if entries, _ := os.ReadDir(f.path("a1", "bin/releases")); len(entries) != 1 {
		t.Errorf("a failed local build reached the host: %v", entries)
	}
}

// A store given as a path relative to the working directory (--state
// .opsrun/x.db) still finds the release tarball it keeps.
func TestRelativeStorePath(t *testing.T) {
	f := newFleet(t)
	t.Chdir(f.base)
	f.store = state.New(filepath.Join("rel", "state.db"), state.Options{})
	if out, err := f.deploy(t, hosts("a1:app")); err != nil {
		t.Fatalf("deploy: %v %s", err, out.Note)
	}
	if got := f.read("a1", "shop/current/public/index.html"); got != "v1\n" {
		t.Errorf("served %q", got)
	}
}

// A joining instance whose deploy fails is still configured; the next up
// deploys it again without setting it up again.
func TestUpCatchesUpAFailedJoin(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	if _, err := Up(ctx, f.input(hosts("a1:app")), f.options(false)); err != nil {
		t.Fatal(err)
	}
	dep, err := f.deploy(t, hosts("a1:app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.path("a2", ""), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, f.path("a2", "unhealthy"), "")
	out, err := Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("up with a failing deploy on the new instance: %v (%s)", err, out.Note)
	}
	if got := f.read("a1", "backends"); got != "a1,a2" {
		t.Errorf("configure skipped after the failed deploy: backends %q", got)
	}
	if err := os.Remove(f.path("a2", "unhealthy")); err != nil {
		t.Fatal(err)
	}
	f.events = nil
	out, err = Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if err != nil {
		t.Fatalf("second up: %v (%s)", err, out.Note)
	}
	if got := f.current("a2"); got != dep.Release {
		t.Errorf("a2 current %q, want %s", got, dep.Release)
	}
	if got := f.read("a2", "setup"); got != "a2\n" {
		t.Errorf("a2 set up again: %q", got)
	}
	for _, e := range f.events {
		if e.Type == run.TypePhase && strings.HasPrefix(e.Message, "configure") {
			t.Errorf("configure ran again for an unchanged membership: %s", e.Message)
		}
	}
	// Now everything is in place: nothing to do.
	out, err = Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if err != nil || !strings.Contains(out.Note, "nothing changed") {
		t.Errorf("third up: %v %q", err, out.Note)
	}
}

// Another machine under a known name (a fleet made again, an instance
// replaced) is set up as a new instance, gets the apps again, and the
// others are configured for its new address.
func TestUpSetsUpAReplacedMachine(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	one := hosts("a1:app", "a2:app")
	if _, err := Up(ctx, f.input(one), f.options(false)); err != nil {
		t.Fatal(err)
	}
	dep, err := f.deploy(t, one)
	if err != nil {
		t.Fatal(err)
	}
	// a2 is now another machine: its files are gone, its address differs.
	if err := os.RemoveAll(f.path("a2", "")); err != nil {
		t.Fatal(err)
	}
	two := hosts("a1:app", "a2:app")
	two[1].Address = "10.9.9.9"
	f.events = nil
	out, err := Up(ctx, f.input(two), f.options(false))
	if err != nil {
		t.Fatalf("up: %v (%s)", err, out.Note)
	}
	if !strings.Contains(out.Note, "a2: a new machine under a known name") {
		t.Errorf("note: %s", out.Note)
	}
	if got := f.read("a2", "setup"); got != "a2\n" {
		t.Errorf("a2 not set up again: %q", got)
	}
	if got := f.current("a2"); got != dep.Release {
		t.Errorf("a2 current %q, want the release %s again", got, dep.Release)
	}
	if got := f.read("a1", "setup"); got != "a1\n" {
		t.Errorf("a1 set up again: %q", got)
	}
	var configured bool
	for _, e := range f.events {
		configured = configured || e.Type == run.TypePhase && strings.HasPrefix(e.Message, "configure")
	}
	if !configured {
		t.Error("the others were not configured for the new machine")
	}
}

// Options.Reset sets up a known, unchanged instance again (the watcher's
// heal): setup, the app's last release, and configure everywhere, though
// membership is the same.
func TestUpResetsAnInstance(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	one := hosts("a1:app", "a2:app")
	if _, err := Up(ctx, f.input(one), f.options(false)); err != nil {
		t.Fatal(err)
	}
	dep, err := f.deploy(t, one)
	if err != nil {
		t.Fatal(err)
	}
	// a2 lost its setup and its release (a disk replaced, a restart that
	// did not come back right); nothing about its name or address changed.
	if err := os.RemoveAll(f.path("a2", "")); err != nil {
		t.Fatal(err)
	}
	f.events = nil
	opts := f.options(false)
	opts.Reset = []string{"a2"}
	out, err := Up(ctx, f.input(hosts("a1:app", "a2:app")), opts)
	if err != nil {
		t.Fatalf("up: %v (%s)", err, out.Note)
	}
	if !strings.Contains(out.Note, "a2: set up again from scratch") {
		t.Errorf("note: %s", out.Note)
	}
	if got := f.read("a2", "setup"); got != "a2\n" {
		t.Errorf("a2 not set up again: %q", got)
	}
	if got := f.current("a2"); got != dep.Release {
		t.Errorf("a2 current %q, want the release %s again", got, dep.Release)
	}
	var configured bool
	for _, e := range f.events {
		configured = configured || e.Type == run.TypePhase && strings.HasPrefix(e.Message, "configure")
	}
	if !configured {
		t.Error("configure did not run everywhere after the reset")
	}
	// Without Reset the same inventory is left alone.
	out, err = Up(ctx, f.input(hosts("a1:app", "a2:app")), f.options(false))
	if err != nil || !strings.Contains(out.Note, "nothing changed") {
		t.Errorf("next up: %v %q", err, out.Note)
	}
}
