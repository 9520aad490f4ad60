package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// Test resource types, run for real on this machine through the local
// transport: they touch files under a temporary directory.

// touch makes sure a file exists.
type touch struct{ path string }

func (r touch) Probes(*modules.Host) []modules.Probe {
	return []modules.Probe{{ID: "exists:" + r.path, Command: "test -e " + transport.ShellQuote(r.path)}}
}

func (r touch) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	res, ok := f["exists:"+r.path]
	if !ok {
		return nil, errors.New("probe result missing")
	}
	if res.ExitStatus == 0 {
		return nil, nil
	}
	return []modules.Action{{Summary: "create " + r.path, Command: "mkdir -p \"$(dirname " + transport.ShellQuote(r.path) + ")\" && touch " + transport.ShellQuote(r.path)}}, nil
}

// fail fails when told to.
type fail struct{ when bool }

func (r fail) Probes(*modules.Host) []modules.Probe { return nil }
func (r fail) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	if !r.when {
		return nil, nil
	}
	return []modules.Action{{Summary: "fail on purpose", Command: "echo broken >&2; exit 9"}}, nil
}

// counter appends a line to a file each time it is notified.
type counter struct{ path string }

func (r counter) Probes(*modules.Host) []modules.Probe { return nil }
func (r counter) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	return nil, nil
}
func (r counter) Notified(*modules.Host, modules.Facts) ([]modules.Action, error) {
	return []modules.Action{{Summary: "count", Command: "echo x >> " + transport.ShellQuote(r.path)}}, nil
}

type testRegistry map[string]*modules.Type

func (r testRegistry) Lookup(n string) (*modules.Type, bool) { t, ok := r[n]; return t, ok }
func (r testRegistry) Names() []string {
	var n []string
	for k := range r {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func registry() testRegistry {
	path := modules.Attr{Name: "path", Type: cty.String, Required: true}
	return testRegistry{
		"touch": {Name: "touch", Attrs: []modules.Attr{path}, New: func(c modules.Config) (modules.Resource, error) {
			return touch{c.Attrs["path"].AsString()}, nil
		}},
		"fail": {Name: "fail", Attrs: []modules.Attr{{Name: "when", Type: cty.Bool, Default: cty.True}}, New: func(c modules.Config) (modules.Resource, error) {
			return fail{c.Attrs["when"].True()}, nil
		}},
		"counter": {Name: "counter", Notifiable: true, Attrs: []modules.Attr{path}, New: func(c modules.Config) (modules.Resource, error) {
			return counter{c.Attrs["path"].AsString()}, nil
		}},
		"needs": {Name: "needs", Attrs: []modules.Attr{path}, New: func(c modules.Config) (modules.Resource, error) {
			return needs{c.Attrs["path"].AsString()}, nil
		}},
		"flaky": {Name: "flaky", Attrs: []modules.Attr{path}, New: func(c modules.Config) (modules.Resource, error) {
			return flaky{c.Attrs["path"].AsString()}, nil
		}},
		"slow": {Name: "slow", New: func(modules.Config) (modules.Resource, error) { return slow{}, nil }},
		"talk": {Name: "talk", Attrs: []modules.Attr{{Name: "lines", Type: cty.Number, Required: true}}, New: func(c modules.Config) (modules.Resource, error) {
			n, _ := c.Attrs["lines"].AsBigFloat().Int64()
			return talk{int(n)}, nil
		}},
		"shell": {Name: "shell", Attrs: []modules.Attr{{Name: "command", Type: cty.String, Required: true}}, New: func(c modules.Config) (modules.Resource, error) {
			return shell{c.Attrs["command"].AsString()}, nil
		}},
		"diffy": {Name: "diffy", Attrs: []modules.Attr{{Name: "text", Type: cty.String, Required: true}}, New: func(c modules.Config) (modules.Resource, error) {
			return diffy{c.Attrs["text"].AsString()}, nil
		}},
	}
}

type fixture struct {
	dir   string
	stack *stack.Stack
	hosts []*inventory.Host
}

func load(t *testing.T, src string, hostNames ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	var hosts strings.Builder
	for _, h := range hostNames {
		hosts.WriteString("host \"" + h + "\" {\n  layers = [\"web\", \"db\"]\n}\n")
	}
	fsys := fstest.MapFS{
		"stack.hcl": {Data: []byte(src)},
		"hosts.hcl": {Data: []byte(hosts.String())},
	}
	s, diags := stack.Load(fsys, dir, stack.Inputs{Vars: []string{"dir=" + dir}}, registry())
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return &fixture{dir: dir, stack: s, hosts: s.Inventory.Hosts}
}

func (f *fixture) run(t *testing.T, event string, check bool, forks int) (*Result, []Event) {
	t.Helper()
	var mu sync.Mutex
	var events []Event
	res, err := Run(context.Background(), Input{Stack: f.stack, Registry: registry(), Dialer: local.Dialer{}, Hosts: f.hosts, Targets: f.hosts},
		Options{Event: event, Check: check, Forks: forks, RunID: "test", Emit: func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res, events
}

const header = `
stack "t" {
  become = false
}
variable "dir" {
  type = string
}
`

func TestConvergeThenNothingToDo(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "a" {
      path = "${var.dir}/${host.name}/a"
    }
    touch "b" {
      path = "${var.dir}/${host.name}/b"
    }
  }
}
`, "h1", "h2")

	res, _ := f.run(t, "setup", true, 0)
	if res.Totals.Changed != 4 || res.Totals.Failed != 0 {
		t.Fatalf("check mode: %+v", res.Totals)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "h1")); !os.IsNotExist(err) {
		t.Fatalf("check mode changed the host: %v", err)
	}

	res, events := f.run(t, "setup", false, 0)
	if res.Totals != (Counts{Changed: 4}) {
		t.Fatalf("first run: %+v", res.Totals)
	}
	for _, h := range []string{"h1", "h2"} {
		for _, n := range []string{"a", "b"} {
			if _, err := os.Stat(filepath.Join(f.dir, h, n)); err != nil {
				t.Errorf("%s/%s not created: %v", h, n, err)
			}
		}
	}
	if events[0].Type != TypeRunStart || events[len(events)-1].Type != TypeRunEnd {
		t.Errorf("events must open with run_start and close with run_end: %+v", events)
	}

	res, _ = f.run(t, "setup", false, 0)
	if res.Totals != (Counts{OK: 4}) {
		t.Fatalf("second run must change nothing: %+v", res.Totals)
	}
}

func TestNotifyRunsOnceAndOnlyOnChange(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "a" {
      path   = "${var.dir}/a"
      notify = [counter.restarts]
    }
    touch "b" {
      path   = "${var.dir}/b"
      notify = [counter.restarts]
    }
    counter "restarts" {
      path = "${var.dir}/count"
    }
  }
}
`, "h1")
	count := func() int {
		b, _ := os.ReadFile(filepath.Join(f.dir, "count"))
		return strings.Count(string(b), "x")
	}
	_, events := f.run(t, "setup", false, 0)
	if count() != 1 {
		t.Fatalf("two notifiers changed: handler ran %d times, want 1", count())
	}
	last := Event{}
	for _, e := range events {
		if e.Type == TypeTask && e.Handler {
			last = e
		}
	}
	if last.Resource != "counter.restarts" || last.Status != StatusChanged {
		t.Errorf("no handler event: %+v", events)
	}
	f.run(t, "setup", false, 0)
	if count() != 1 {
		t.Fatalf("nothing changed, yet the handler ran (%d)", count())
	}
	// In check mode the handler is reported but not run.
	os.Remove(filepath.Join(f.dir, "a"))
	res, _ := f.run(t, "setup", true, 0)
	if count() != 1 || res.Totals.Changed != 2 {
		t.Fatalf("check mode: count %d, totals %+v", count(), res.Totals)
	}
}

func TestFailureStopsOnlyItsHost(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "before" {
      path = "${var.dir}/${host.name}/before"
    }
    fail "maybe" {
      when = host.name == "h1"
    }
    touch "after" {
      path = "${var.dir}/${host.name}/after"
    }
  }
}
`, "h1", "h2")
	res, events := f.run(t, "setup", false, 0)
	byHost := map[string]*HostRecap{}
	for _, r := range res.Hosts {
		byHost[r.Host] = r
	}
	if c := byHost["h1"].Counts; c != (Counts{Changed: 1, Failed: 1, Skipped: 1}) {
		t.Errorf("h1: %+v", c)
	}
	if c := byHost["h2"].Counts; c != (Counts{Changed: 2, OK: 1}) {
		t.Errorf("h2: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "h1", "after")); !os.IsNotExist(err) {
		t.Errorf("h1 went on after its failure")
	}
	var ce *CommandError
	if !errors.As(byHost["h1"].Err, &ce) || ce.ExitStatus != 9 || ce.Stderr != "broken" {
		t.Errorf("h1 error = %v", byHost["h1"].Err)
	}
	for _, e := range events {
		if e.Type == TypeTask && e.Status == StatusFailed && !strings.Contains(e.Error, "exit status 9: broken") {
			t.Errorf("failed task event lacks the cause: %+v", e)
		}
	}
}

func TestMaxFailPercentageAbortsLayer(t *testing.T) {
	f := load(t, header+`
layer "web" {
  max_fail_percentage = 25
  on "setup" {
    fail "always" {}
  }
}
`, "h1", "h2", "h3", "h4")
	// One host at a time makes the order of failures certain: h1 (25%, not
	// above the limit), h2 (50%: abort), h3 and h4 never start.
	res, _ := f.run(t, "setup", false, 1)
	if res.Totals.Failed != 2 || res.Totals.Skipped != 2 {
		t.Fatalf("totals %+v, want 2 failed and 2 skipped", res.Totals)
	}
}

func TestLayerOrderAndDependsOn(t *testing.T) {
	f := load(t, header+`
layer "web" {
  depends_on = ["db"]
  on "setup" {
    touch "w" {
      path = "${var.dir}/web"
    }
  }
}
layer "db" {
  on "setup" {
    touch "second" {
      path       = "${var.dir}/db2"
      depends_on = [touch.first]
    }
    touch "first" {
      path = "${var.dir}/db1"
    }
  }
}
`, "h1")
	_, events := f.run(t, "setup", false, 0)
	var order []string
	for _, e := range events {
		if e.Type == TypeTask {
			order = append(order, e.Layer+":"+e.Resource)
		}
	}
	want := "db:touch.first db:touch.second web:touch.w"
	if strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
}

// downDialer fails to reach one host.
type downDialer struct {
	local.Dialer
	down string
}

func (d downDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == d.down {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: transport.ErrUnreachable}
	}
	return d.Dialer.Dial(ctx, h)
}

func TestUnreachableHost(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "a" {
      path = "${var.dir}/${host.name}"
    }
  }
}
`, "h1", "h2")
	res, err := Run(context.Background(), Input{Stack: f.stack, Registry: registry(), Dialer: downDialer{down: "h2"}, Hosts: f.hosts, Targets: f.hosts},
		Options{Event: "setup"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals != (Counts{Changed: 1, Unreachable: 1}) {
		t.Errorf("totals %+v", res.Totals)
	}
	if !errors.Is(res.Hosts[1].Err, transport.ErrUnreachable) {
		t.Errorf("h2 error %v", res.Hosts[1].Err)
	}
}

// needs fails like a service whose unit a pending package would install.
type needs struct{ path string }

func (r needs) Probes(*modules.Host) []modules.Probe {
	return []modules.Probe{{ID: "exists:" + r.path, Command: "test -e " + transport.ShellQuote(r.path)}}
}

func (r needs) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if f["exists:"+r.path].ExitStatus != 0 {
		return nil, fmt.Errorf("%s: %w", r.path, modules.ErrMissingOnHost)
	}
	return nil, nil
}

func TestCheckModeMissingAfterPendingChange(t *testing.T) {
	reg := registry()
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "unit" {
      path = "${var.dir}/unit"
    }
    needs "svc" {
      path = "${var.dir}/unit"
    }
  }
}
`, "h1")
	run := func(check bool) Counts {
		res, err := Run(context.Background(), Input{Stack: f.stack, Registry: reg, Dialer: local.Dialer{}, Hosts: f.hosts, Targets: f.hosts},
			Options{Event: "setup", Check: check})
		if err != nil {
			t.Fatal(err)
		}
		return res.Totals
	}
	if got := run(true); got != (Counts{Changed: 1, Skipped: 1}) {
		t.Errorf("check mode: %+v, want the dependent resource skipped, not failed", got)
	}
	if got := run(false); got != (Counts{Changed: 1, OK: 1}) {
		t.Errorf("real run: %+v", got)
	}
}
