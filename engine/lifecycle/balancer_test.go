package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/inventory"
)

const (
	webTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	dbTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/db/fedcba9876543210"
)

// balancedFleet is the test stack with the app layer behind webTG and the
// db layer behind dbTG, and a recording balancer.
func balancedFleet(t *testing.T) (*fleet, *recorder) {
	t.Helper()
	src := strings.Replace(stackHCL, `layer "app" {`, fmt.Sprintf("layer \"app\" {\n  target_groups = [%q]", webTG), 1)
	src = strings.Replace(src, `layer "db" {`, fmt.Sprintf("layer \"db\" {\n  target_groups = [%q]", dbTG), 1)
	f := newFleetWith(t, src)
	return f, &recorder{f: f, fail: map[string]bool{}}
}

// recorder is a Balancer that writes each call into the fleet's event log,
// so the log shows it in order with the phases and tasks, with the
// release the host served at that moment.
type recorder struct {
	f    *fleet
	fail map[string]bool // "deregister a2": that call fails
}

const typeCall = "balancer call"

func (r *recorder) record(op string, h *inventory.Host, groups []string) error {
	r.f.mu.Lock()
	r.f.events = append(r.f.events, run.Event{Type: typeCall, Resource: op, Host: h.Name, Actions: groups, Message: r.f.current(h.Name)})
	r.f.mu.Unlock()
	if r.fail[op+" "+h.Name] {
		return errors.New("the load balancer said no")
	}
	return nil
}

func (r *recorder) Deregister(ctx context.Context, h *inventory.Host, groups []string) error {
	return r.record("deregister", h, groups)
}

func (r *recorder) Register(ctx context.Context, h *inventory.Host, groups []string) error {
	return r.record("register", h, groups)
}

func (f *fleet) balanced(hs []*inventory.Host, r *recorder) Input {
	in := f.input(hs)
	in.Balancer = r
	return in
}

// calls are the balancer's calls since the log was last cleared, as "OP
// HOST (serving RELEASE)".
func (f *fleet) calls() []string {
	var out []string
	for _, e := range f.events {
		if e.Type == typeCall {
			out = append(out, fmt.Sprintf("%s %s (serving %s)", e.Resource, e.Host, e.Message))
		}
	}
	return out
}

// at is the index in the log of the first event after from that match
// says is the one, -1 when there is none.
func (f *fleet) at(t *testing.T, what string, match func(run.Event) bool) int {
	t.Helper()
	i := slices.IndexFunc(f.events, match)
	if i < 0 {
		t.Fatalf("no %s in the log", what)
	}
	return i
}

func phase(prefix string) func(run.Event) bool {
	return func(e run.Event) bool { return e.Type == run.TypePhase && strings.Contains(e.Message, prefix) }
}

func call(op, host string) func(run.Event) bool {
	return func(e run.Event) bool { return e.Type == typeCall && e.Resource == op && e.Host == host }
}

func task(resource, host, status string) func(run.Event) bool {
	return func(e run.Event) bool {
		return e.Type == run.TypeTask && e.Resource == resource && e.Host == host && e.Status == status
	}
}

// inOrder fails unless the events found by the matchers come in that order.
func (f *fleet) inOrder(t *testing.T, steps ...any) {
	t.Helper()
	last := -1
	for i := 0; i+1 < len(steps); i += 2 {
		what, match := steps[i].(string), steps[i+1].(func(run.Event) bool)
		at := f.at(t, what, match)
		if at <= last {
			t.Errorf("%s comes at %d, before the step before it (%d)", what, at, last)
		}
		last = at
	}
}

func TestDeployTakesInstancesOutAroundTheSwitch(t *testing.T) {
	f, rec := balancedFleet(t)
	hs := hosts("a1:app", "a2:app", "a3:app", "a4:app")
	out, err := Deploy(context.Background(), f.balanced(hs, rec), f.options(false), DeployOptions{App: "shop"})
	if err != nil {
		t.Fatalf("deploy: %v (%s)", err, out.Note)
	}
	r1 := out.Release
	// Each host: out before its batch switches, back after its health
	// check passed, and the batch's next step only then.
	for i, h := range []string{"a1", "a3"} {
		batch := fmt.Sprintf("batch %d of 2: release %s: ", i+1, r1)
		f.inOrder(t,
			"prepare", phase(batch+"prepare"),
			"deregister "+h, call("deregister", h),
			"the elb.deregister task of "+h, task(elbDeregister, h, run.StatusChanged),
			"switch", phase(batch+"switch"),
			"the health check of "+h, task("app.shop.health", h, run.StatusOK),
			"register "+h, call("register", h),
			"the elb.register task of "+h, task(elbRegister, h, run.StatusChanged),
			"prune", phase(batch+"prune"))
	}
	want := []string{"deregister a1 (serving )", "deregister a2 (serving )", "register a1 (serving " + r1 + ")", "register a2 (serving " + r1 + ")",
		"deregister a3 (serving )", "deregister a4 (serving )", "register a3 (serving " + r1 + ")", "register a4 (serving " + r1 + ")"}
	if got := f.calls(); !sameCalls(got, want) {
		t.Errorf("calls:\n%s\nwant (in any order within a batch's step):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range f.events {
		if e.Type == typeCall && !slices.Equal(e.Actions, []string{webTG}) {
			t.Errorf("%s %s with target groups %v, want the app layer's", e.Resource, e.Host, e.Actions)
		}
		if e.Type == run.TypeTask && e.Resource == elbDeregister && !slices.Equal(e.Actions, []string{"deregister from " + webTG}) {
			t.Errorf("task actions %v", e.Actions)
		}
	}
	if strings.Contains(out.Note, "target groups") {
		t.Errorf("note: %s", out.Note)
	}

	// Rollback takes them out around its switch as well.
	f.events = nil
	out, err = Deploy(context.Background(), f.balanced(hs, rec), f.options(false), DeployOptions{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	r2 := out.Release
	f.events = nil
	if _, err := Rollback(context.Background(), f.balanced(hs, rec), f.options(false), RollbackOptions{App: "shop"}); err != nil {
		t.Fatal(err)
	}
	f.inOrder(t, "deregister a2", call("deregister", "a2"), "switch back", phase("rollback: switch"),
		"the health check of a2", task("app.shop.health", "a2", run.StatusOK), "register a2", call("register", "a2"))
	for _, c := range f.calls() {
		if strings.HasPrefix(c, "deregister") && !strings.HasSuffix(c, "(serving "+r2+")") || strings.HasPrefix(c, "register") && !strings.HasSuffix(c, "(serving "+r1+")") {
			t.Errorf("rollback call %s (from %s back to %s)", c, r2, r1)
		}
	}
	if n := len(f.calls()); n != 8 {
		t.Errorf("%d calls in the rollback, want 8: %v", n, f.calls())
	}
}

// sameCalls compares calls in order, except that the calls of one kind
// in a row (a batch's hosts, in parallel) may come in any order.
func sameCalls(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	key := func(c string) string { op, _, _ := strings.Cut(c, " "); return op }
	for i := 0; i < len(got); {
		j := i
		for j < len(got) && key(got[j]) == key(got[i]) && key(want[j]) == key(want[i]) {
			j++
		}
		if j == i {
			return false
		}
		g, w := slices.Clone(got[i:j]), slices.Clone(want[i:j])
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			return false
		}
		i = j
	}
	return true
}

// An instance that fails its health check stays out of its target group,
// and the report and the note say so.
func TestFailedHealthCheckStaysOut(t *testing.T) {
	f, rec := balancedFleet(t)
	hs := hosts("a1:app", "a2:app", "a3:app", "a4:app")
	if _, err := Deploy(context.Background(), f.balanced(hs, rec), f.options(false), DeployOptions{App: "shop"}); err != nil {
		t.Fatal(err)
	}
	write(t, f.path("a3", "unhealthy"), "")
	f.events = nil
	out, err := Deploy(context.Background(), f.balanced(hs, rec), f.options(false), DeployOptions{App: "shop"})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("deploy: %v", err)
	}
	// The failed batch is rolled back: a4 goes out and back in again, a3
	// fails on its old release too and stays out.
	last := map[string]string{}
	for _, c := range f.calls() {
		op, rest, _ := strings.Cut(c, " ")
		host, _, _ := strings.Cut(rest, " ")
		last[host] = op
	}
	for h, want := range map[string]string{"a1": "register", "a2": "register", "a3": "deregister", "a4": "register"} {
		if last[h] != want {
			t.Errorf("%s: last call %q, want %s (calls %v)", h, last[h], want, f.calls())
		}
	}
	f.at(t, "a3's elb.register skipped", func(e run.Event) bool {
		return task(elbRegister, "a3", run.StatusSkipped)(e) && strings.Contains(e.Reason, "stays out of its target groups")
	})
	if !strings.HasSuffix(out.Note, "; out of their load balancers' target groups: a3") {
		t.Errorf("note: %s", out.Note)
	}
}

// A host the load balancer would not let go is not touched.
func TestFailedDeregistrationLeavesTheHostAlone(t *testing.T) {
	f, rec := balancedFleet(t)
	rec.fail["deregister a2"] = true
	hs := hosts("a1:app", "a2:app")
	out, _ := Deploy(context.Background(), f.balanced(hs, rec), f.options(false), DeployOptions{App: "shop"})
	if f.current("a1") != out.Release || f.current("a2") != "" {
		t.Errorf("current: a1 %q a2 %q, want a1 on %s and a2 untouched", f.current("a1"), f.current("a2"), out.Release)
	}
	f.at(t, "a2's failed elb.deregister", func(e run.Event) bool {
		return task(elbDeregister, "a2", run.StatusFailed)(e) && strings.Contains(e.Error, "the load balancer said no")
	})
	if slices.Contains(f.calls(), "register a2 (serving )") {
		t.Errorf("a2 registered: %v", f.calls())
	}
	if out.Result.Totals.Failed == 0 {
		t.Errorf("the recap shows no failure: %+v", out.Result.Totals)
	}
}

func TestCheckModeCallsNoBalancer(t *testing.T) {
	f, rec := balancedFleet(t)
	out, err := Deploy(context.Background(), f.balanced(hosts("a1:app"), rec), f.options(true), DeployOptions{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.calls(); len(c) != 0 {
		t.Fatalf("check mode called the balancer: %v", c)
	}
	// It says what it would do.
	f.inOrder(t, "elb.deregister", task(elbDeregister, "a1", run.StatusChanged), "switch", phase("switch"),
		"elb.register", task(elbRegister, "a1", run.StatusChanged))
	if strings.Contains(out.Note, "target groups") {
		t.Errorf("note: %s", out.Note)
	}
}

// Without a balancer nothing is reported about target groups.
func TestNoBalancerNoTasks(t *testing.T) {
	f, _ := balancedFleet(t)
	if _, err := f.deploy(t, hosts("a1:app")); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.events {
		if strings.HasPrefix(e.Resource, "elb.") || strings.Contains(e.Message, "target groups") {
			t.Errorf("event without a balancer: %+v", e)
		}
	}
}

func TestUpRegistersJoinedAndDrainsDeparted(t *testing.T) {
	f, rec := balancedFleet(t)
	ctx := context.Background()
	up := func(hs []*inventory.Host) (*Outcome, error) {
		t.Helper()
		f.events = nil
		return Up(ctx, f.balanced(hs, rec), f.options(false))
	}
	// d1 serves no app: in once set up. a1's app is not deployed yet: its
	// first deploy puts it in.
	if _, err := up(hosts("a1:app", "d1:db")); err != nil {
		t.Fatal(err)
	}
	f.inOrder(t, "setup", phase("setup on 2 instances"), "register d1", call("register", "d1"))
	if got := f.calls(); !slices.Equal(got, []string{"register d1 (serving )"}) {
		t.Errorf("calls %v", got)
	}
	if _, err := f.deploy(t, hosts("a1:app", "d1:db")); err != nil {
		t.Fatal(err)
	}

	// a2 joins: set up, gets the release, in after its health check.
	if _, err := up(hosts("a1:app", "d1:db", "a2:app")); err != nil {
		t.Fatal(err)
	}
	f.inOrder(t, "setup", phase("setup on 1 instance"), "the health check of a2", task("app.shop.health", "a2", run.StatusOK),
		"register a2", call("register", "a2"), "configure", phase("configure on every instance"))
	for _, c := range f.calls() {
		if !strings.Contains(c, "a2") {
			t.Errorf("a call for an instance that did not join: %s", c)
		}
	}

	// a2 leaves: out and drained before its shutdown recipes run.
	if _, err := up(hosts("a1:app", "d1:db")); err != nil {
		t.Fatal(err)
	}
	f.inOrder(t, "configure", phase("configure on every instance"), "deregister a2", call("deregister", "a2"),
		"the elb.deregister task of a2", task(elbDeregister, "a2", run.StatusChanged), "shutdown", phase("shutdown on 1 instance"))
	if _, err := os.Stat(f.path("a2", "drained")); err != nil {
		t.Error("a2's shutdown recipes did not run")
	}

	// a1 leaves but will not deregister: not shut down, remembered.
	rec.fail["deregister a1"] = true
	out, err := up(hosts("d1:db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.path("a1", "drained")); err == nil {
		t.Error("a1 was shut down while still in its target group")
	}
	if !strings.Contains(out.Note, "could not take a1 out of their target groups: not shut down, still remembered") {
		t.Errorf("note: %s", out.Note)
	}
	ms, err := f.store.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ms, func(m *state.Member) bool { return m.Name == "a1" }) {
		t.Error("a1 was forgotten")
	}
}

func TestUndeployDeregistersFirst(t *testing.T) {
	f, rec := balancedFleet(t)
	hs := hosts("a1:app", "a2:app")
	dep, err := f.deploy(t, hs)
	if err != nil {
		t.Fatal(err)
	}
	rec.fail["deregister a2"] = true
	f.events = nil
	out, _ := Undeploy(context.Background(), f.balanced(hs, rec), f.options(false), "shop")
	f.inOrder(t, "deregister a1", call("deregister", "a1"), "undeploy", phase("undeploy shop from 1 instance"))
	if f.current("a1") != "" || f.current("a2") != dep.Release {
		t.Errorf("current: a1 %q, a2 %q; want a1 undeployed, a2 untouched on %s", f.current("a1"), f.current("a2"), dep.Release)
	}
	if !strings.HasSuffix(out.Note, "; out of their load balancers' target groups: a1") {
		t.Errorf("note: %s", out.Note)
	}
}
