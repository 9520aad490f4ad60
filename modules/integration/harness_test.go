package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport/sshconn"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules/registry"
	"github.com/opsrun/opsrun/testenv"
)

// The one host every test of the package works on: fleet is set by
// TestMain, or skip says why there is none. One systemd host, shared and
// used by one test at a time, keeps the package to a single boot; each
// test manages paths, users and units of its own.
var (
	fleet *testenv.Fleet
	skip  string
)

// hostName is the fleet's only host, in layer "l".
const hostName = "l-1"

func TestMain(m *testing.M) {
	spec := testenv.Spec{Name: "t-resources", Layers: []testenv.LayerCount{{Layer: "l", Count: 1}}}
	os.Exit(testenv.Main(m, spec, func(f *testenv.Fleet, why string) { fleet, skip = f, why }))
}

// need skips the test when there is no host.
func need(t *testing.T) {
	t.Helper()
	if fleet == nil {
		t.Skip(skip)
	}
}

// stackTemplate wraps resource blocks in a one-layer stack whose setup
// event runs them with sudo.
const stackTemplate = `stack "it" {
  become = true
}

layer "l" {
  on "setup" {
%s
  }
}
`

// Outcome is what one run did.
type Outcome struct {
	Totals run.Counts
	Events []run.Event // task events, in order
}

// Errors joins the error of every failed task, for test messages.
func (o Outcome) Errors() string {
	var errs []string
	for _, e := range o.Events {
		if e.Error != "" {
			errs = append(errs, e.Resource+": "+e.Error)
		}
	}
	return strings.Join(errs, "; ")
}

// Changed lists the resources that changed (or would, in check mode),
// with their action summaries.
func (o Outcome) Changed() string {
	var out []string
	for _, e := range o.Events {
		if e.Status == run.StatusChanged {
			out = append(out, fmt.Sprintf("%s %q", e.Resource, e.Actions))
		}
	}
	return strings.Join(out, "; ")
}

// Run loads resource blocks (HCL, as written inside an on block) as a
// stack, with files beside stack.hcl, and runs its setup event on the
// host, for real or in check mode. It fails the test when the stack does
// not load; run failures are in the Outcome.
func Run(t *testing.T, resources string, files map[string]string, check bool) Outcome {
	t.Helper()
	need(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(fmt.Sprintf(stackTemplate, resources)), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := registry.Builtin()
	s, diags := stack.LoadDir(dir, stack.Inputs{}, reg)
	if !diags.HasErrors() {
		diags = append(diags, s.Validate()...)
	}
	if diags.HasErrors() {
		t.Fatalf("stack does not load: %v", diags)
	}
	inv, diags := inventory.LoadFiles(hclparse.NewParser(), fleet.InventoryPath)
	if diags.HasErrors() {
		t.Fatalf("inventory: %v", diags)
	}
	hosts, diags := run.Hosts(s, inv)
	if diags.HasErrors() {
		t.Fatalf("hosts: %v", diags)
	}
	d, err := sshconn.NewDialer(sshconn.Options{SSHConfigFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out Outcome
	res, err := run.Run(ctx, run.Input{Stack: s, Registry: reg, Dialer: d, Hosts: hosts, Targets: hosts},
		run.Options{Event: "setup", Check: check, RunID: fmt.Sprintf("it-%d", time.Now().UnixNano()), Emit: func(e run.Event) {
			if e.Type == run.TypeTask {
				out.Events = append(out.Events, e)
			}
		}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	out.Totals = res.Totals
	if res.Totals.Unreachable > 0 {
		t.Fatalf("host unreachable: %v", res.Hosts[0].Err)
	}
	if err := res.Hosts[0].Err; err != nil && len(out.Events) == 0 {
		t.Fatalf("the host failed before any resource ran: %v", err)
	}
	return out
}

// Apply runs resources for real and fails the test unless every resource
// succeeded.
func Apply(t *testing.T, resources string, files map[string]string) Outcome {
	t.Helper()
	o := Run(t, resources, files, false)
	if o.Totals.Failed > 0 {
		t.Fatalf("run failed: %s", o.Errors())
	}
	return o
}

// Sh runs a shell command on the host as root, straight through Docker
// rather than opsrun, so that what a test checks does not depend on what
// it tests. It fails the test when the command fails.
func Sh(t *testing.T, command string) string {
	t.Helper()
	need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := fleet.Exec(ctx, hostName, "sh", "-c", command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

// Case is the life of one resource on the host.
type Case struct {
	// Files are put beside stack.hcl (sources, templates).
	Files map[string]string
	// Present are resource blocks that make something.
	Present string
	// Absent are resource blocks that remove it again; "" for a type
	// without a state to remove (command).
	Absent string
	// State is a shell command printing the state the resources manage
	// (stat, cat, getent...); it must succeed whether or not it exists.
	State string
	// WantPresent and WantAbsent check State's output after converging.
	WantPresent, WantAbsent func(t *testing.T, state string)
}

// Converge proves a Case: check mode reports changes and makes none; the
// real run changes; a second run and check mode report none; the same for
// Absent, which must leave State as before the first run.
func Converge(t *testing.T, c Case) {
	t.Helper()
	need(t)
	before := Sh(t, c.State)
	phase(t, "check before converge", c.Present, c.Files, true, true)
	if got := Sh(t, c.State); got != before {
		t.Fatalf("check mode changed the host:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	phase(t, "converge", c.Present, c.Files, false, true)
	if c.WantPresent != nil {
		c.WantPresent(t, Sh(t, c.State))
	}
	phase(t, "second run", c.Present, c.Files, false, false)
	phase(t, "check after converge", c.Present, c.Files, true, false)
	if c.Absent == "" {
		return
	}
	present := Sh(t, c.State)
	phase(t, "check absent", c.Absent, c.Files, true, true)
	if got := Sh(t, c.State); got != present {
		t.Fatalf("check mode of absent changed the host:\nbefore:\n%s\nafter:\n%s", present, got)
	}
	phase(t, "absent", c.Absent, c.Files, false, true)
	if c.WantAbsent != nil {
		c.WantAbsent(t, Sh(t, c.State))
	}
	phase(t, "absent again", c.Absent, c.Files, false, false)
}

// phase runs once and checks that it succeeded and changed something or
// nothing, as wanted.
func phase(t *testing.T, name, resources string, files map[string]string, check, wantChange bool) Outcome {
	t.Helper()
	o := Run(t, resources, files, check)
	if o.Totals.Failed > 0 {
		t.Fatalf("%s: failed: %s", name, o.Errors())
	}
	switch {
	case wantChange && o.Totals.Changed == 0:
		t.Fatalf("%s: changed nothing, want a change", name)
	case !wantChange && o.Totals.Changed > 0:
		t.Fatalf("%s: changed %s, want nothing changed", name, o.Changed())
	}
	return o
}
