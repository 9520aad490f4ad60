// Package playtest runs built-in layers for real in tests: a pool of
// testenv hosts booted once per test package, from which each test takes
// hosts of its own, and a stack helper that drives them through opsrun up,
// deploy and run the way the CLI does (the same engine, the same SSH
// transport, a state store in the test's directory).
//
// A test package calls Main from its TestMain with the number of hosts its
// tests need together; tests call Take, run in parallel, and check what
// the hosts serve with Sh and Get.
package playtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/opsrun/opsrun/engine/lifecycle"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/engine/transport/sshconn"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules/registry"
	"github.com/opsrun/opsrun/playbooks"
	"github.com/opsrun/opsrun/testenv"
)

// Pool is a package's fleet: hosts handed out to tests one by one.
type Pool struct {
	fleet *testenv.Fleet
	skip  string // why the tests skip: no fleet here
	// broken says why the fleet came up unusable: the tests fail.
	broken string

	mu    sync.Mutex
	next  int
	hosts map[string]*inventory.Host // the fleet's inventory, by name
}

// Main boots a fleet of size hosts, runs the package's tests and removes
// the fleet. Under -short (unless OPSRUN_REQUIRE_DOCKER=1), or without
// Docker, the tests run and skip at Take.
func Main(m *testing.M, pool **Pool, name string, size int) int {
	*pool = &Pool{}
	spec := testenv.Spec{Name: "t-" + name, Layers: []testenv.LayerCount{{Layer: "pool", Count: size}}}
	return testenv.Main(m, spec, func(f *testenv.Fleet, skip string) {
		p := *pool
		p.skip = skip
		if f == nil {
			return
		}
		inv, diags := inventory.LoadFiles(hclparse.NewParser(), f.InventoryPath)
		if diags.HasErrors() {
			p.broken = fmt.Sprintf("testenv inventory: %v", diags)
			return
		}
		p.fleet = f
		p.hosts = map[string]*inventory.Host{}
		for _, h := range inv.Hosts {
			p.hosts[h.Name] = h
		}
	})
}

// Take hands the test n hosts no other test has, skipping the test when
// the pool has no fleet. It fails the test when the pool is exhausted:
// raise the size given to Main.
func (p *Pool) Take(t *testing.T, n int) []string {
	t.Helper()
	if p.broken != "" {
		t.Fatal(p.broken)
	}
	if p.fleet == nil {
		t.Skip(p.skip)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next+n > len(p.fleet.Hosts) {
		t.Fatalf("playtest: the pool has %d hosts and %d are taken; raise the size given to Main", len(p.fleet.Hosts), p.next)
	}
	var names []string
	for _, h := range p.fleet.Hosts[p.next : p.next+n] {
		names = append(names, h.Name)
	}
	p.next += n
	return names
}

// IP is a host's address on the fleet's network, as other hosts reach it.
func (p *Pool) IP(t *testing.T, host string) string {
	t.Helper()
	for _, h := range p.fleet.Hosts {
		if h.Name == host {
			return h.InternalIP
		}
	}
	t.Fatalf("no host %s in the fleet", host)
	return ""
}

// Sh runs a shell command on host as root through Docker (not through
// opsrun, so a check does not depend on what it checks) and returns its
// output; it fails the test when the command fails.
func (p *Pool) Sh(t *testing.T, host, command string) string {
	t.Helper()
	out, err := p.sh(host, command)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", host, command, err, out)
	}
	return out
}

func (p *Pool) sh(host, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := p.fleet.Exec(ctx, host, "sh", "-c", command)
	return string(out), err
}

// Get makes an HTTP/1.0 GET of path from host to target:port over the
// fleet's network with bash's /dev/tcp (test hosts have no curl) and
// returns the status code and the body.
func (p *Pool) Get(t *testing.T, from, target string, port int, path string) (int, string) {
	t.Helper()
	script := `exec 3<>"/dev/tcp/$0/$1" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$0" >&3
timeout 20 cat <&3`
	out, err := p.sh(from, "bash -c "+quote(script)+" "+quote(target)+" "+strconv.Itoa(port)+" "+quote(path))
	if err != nil {
		return 0, out
	}
	head, body, _ := strings.Cut(strings.ReplaceAll(out, "\r\n", "\n"), "\n\n")
	fields := strings.Fields(head)
	if len(fields) < 2 {
		return 0, out
	}
	code, _ := strconv.Atoi(fields[1])
	return code, body
}

// GetUntil repeats Get until ok accepts the answer or 30 s pass, and
// returns the last answer: a reload (nginx -s reload, HAProxy's) returns
// before the new workers take over.
func (p *Pool) GetUntil(t *testing.T, from, target string, port int, path string, ok func(code int, body string) bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := p.Get(t, from, target, port, path)
		if ok(code, body) || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Stack is a stack directory under test, its hosts and its state.
type Stack struct {
	t     *testing.T
	pool  *Pool
	Dir   string
	stack *stack.Stack
	hosts []*inventory.Host
	store *state.Store
	mu    sync.Mutex
}

// NewStack writes files (stack.hcl and anything beside it) to a new
// directory and loads it with the built-in layers; layers maps each stack
// layer to the pool hosts in it. The stack must validate.
func (p *Pool) NewStack(t *testing.T, files map[string]string, layers map[string][]string) *Stack {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &Stack{t: t, pool: p, Dir: dir, store: state.New(filepath.Join(dir, ".opsrun", "state.db"), state.Options{})}
	s.Load(layers)
	return s
}

// Load (re)loads the stack's files with layers as its inventory: the
// membership the next Up converges to.
func (s *Stack) Load(layers map[string][]string) {
	t := s.t
	t.Helper()
	reg := registry.Builtin()
	set, diags := playbooks.Load(reg)
	if diags.HasErrors() {
		t.Fatalf("built-in layers: %v", diags)
	}
	st, diags := stack.LoadDir(s.Dir, stack.Inputs{Builtins: set}, reg)
	if !diags.HasErrors() {
		diags = append(diags, st.Validate()...)
	}
	if diags.HasErrors() {
		t.Fatalf("stack does not load: %v", diags)
	}
	byHost := map[string][]string{}
	var order []string
	for layer, hosts := range layers {
		for _, h := range hosts {
			if _, ok := byHost[h]; !ok {
				order = append(order, h)
			}
			byHost[h] = append(byHost[h], layer)
		}
	}
	var hosts []*inventory.Host
	for _, name := range s.pool.fleet.Hosts {
		if ls, ok := byHost[name.Name]; ok {
			h := *s.pool.hosts[name.Name]
			h.Layers = ls
			hosts = append(hosts, &h)
		}
	}
	if len(hosts) != len(order) {
		t.Fatalf("some of %v are not hosts of the pool", order)
	}
	all, diags := run.Hosts(st, &inventory.Inventory{Hosts: hosts})
	if diags.HasErrors() {
		t.Fatalf("hosts: %v", diags)
	}
	s.mu.Lock()
	s.stack, s.hosts = st, all
	s.mu.Unlock()
}

// Outcome is what one command did.
type Outcome struct {
	Totals run.Counts
	Events []run.Event // task events, in order
	Note   string
}

// Errors joins the error of every failed task, for test messages.
func (o Outcome) Errors() string {
	var errs []string
	for _, e := range o.Events {
		if e.Error != "" {
			errs = append(errs, e.Host+" "+e.Resource+": "+e.Error)
		}
	}
	return strings.Join(errs, "; ")
}

// Changed lists what changed, for test messages.
func (o Outcome) Changed() string {
	var out []string
	for _, e := range o.Events {
		if e.Status == run.StatusChanged {
			out = append(out, fmt.Sprintf("%s %s %q", e.Host, e.Resource, e.Actions))
		}
	}
	return strings.Join(out, "; ")
}

type op func(ctx context.Context, in lifecycle.Input, opts lifecycle.Options) (*lifecycle.Outcome, error)

// do runs one lifecycle operation and fails the test unless every host
// ended ok.
func (s *Stack) do(what string, o op) Outcome {
	t := s.t
	t.Helper()
	d, err := sshconn.NewDialer(sshconn.Options{SSHConfigFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	s.mu.Lock()
	in := lifecycle.Input{Stack: s.stack, Registry: registry.Builtin(), Dialer: d, Hosts: s.hosts, Store: s.store}
	s.mu.Unlock()
	var out Outcome
	var mu sync.Mutex
	res, err := o(ctx, in, lifecycle.Options{RunID: fmt.Sprintf("t-%d", time.Now().UnixNano()), Emit: func(e run.Event) {
		if e.Type == run.TypeTask {
			mu.Lock()
			out.Events = append(out.Events, e)
			mu.Unlock()
		}
	}})
	if res != nil {
		out.Note = res.Note
		if res.Result != nil {
			out.Totals = res.Result.Totals
		}
	}
	if err != nil || out.Totals.Failed+out.Totals.Unreachable > 0 {
		t.Fatalf("%s: %v; %s; failed: %s", what, err, out.Note, out.Errors())
	}
	return out
}

// Up runs opsrun up and fails the test unless it succeeded everywhere.
func (s *Stack) Up() Outcome {
	s.t.Helper()
	return s.do("up", lifecycle.Up)
}

// Deploy runs opsrun deploy app and fails the test unless it succeeded.
func (s *Stack) Deploy(app string) Outcome {
	s.t.Helper()
	return s.do("deploy "+app, func(ctx context.Context, in lifecycle.Input, opts lifecycle.Options) (*lifecycle.Outcome, error) {
		return lifecycle.Deploy(ctx, in, opts, lifecycle.DeployOptions{App: app})
	})
}

// Run runs one event on every host (opsrun run EVENT) and fails the test
// unless it succeeded.
func (s *Stack) Run(event string) Outcome {
	s.t.Helper()
	return s.do("run "+event, func(ctx context.Context, in lifecycle.Input, opts lifecycle.Options) (*lifecycle.Outcome, error) {
		res, err := run.Run(ctx, run.Input{Stack: in.Stack, Registry: in.Registry, Dialer: in.Dialer, Hosts: in.Hosts, Targets: in.Hosts},
			run.Options{Event: event, RunID: opts.RunID, Emit: opts.Emit})
		if res == nil {
			return nil, err
		}
		return &lifecycle.Outcome{Result: res}, err
	})
}

// Converge brings the stack up and deploys apps, then does it all again
// and fails the test unless the second pass changed nothing: the
// built-in layer is idempotent.
func (s *Stack) Converge(apps ...string) {
	s.t.Helper()
	s.Up()
	for _, a := range apps {
		s.Deploy(a)
	}
	for _, event := range []string{"setup", "configure"} {
		if o := s.Run(event); o.Totals.Changed != 0 {
			s.t.Errorf("%s again changed %d resources: %s", event, o.Totals.Changed, o.Changed())
		}
	}
}
