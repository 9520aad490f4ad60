package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/testenv"
)

// The lifecycle tests drive opsrun up, deploy, rollback, releases and
// history through Main on a fleet of real hosts, with the stack in
// testdata/shop: a perl web server deployed as releases and run by
// systemd, and a db layer that lists its clients. What the hosts hold is
// read with docker exec (fleet.Exec), not through opsrun.

// shopSecret is the db_password default in testdata/shop/stack.hcl: it
// must reach the hosts' .env and never opsrun's output.
const shopSecret = "shop-db-s3cret-9f2c"

var releaseIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// shop is one test's stack, state and fleet.
type shop struct {
	t     *testing.T
	ctx   context.Context
	fleet *testenv.Fleet
	dir   string // a copy of testdata/shop: the tests rewrite its files
	state string
	inv   string // the inventory the lifecycle commands read
	tmp   string
	// printed is everything opsrun printed, searched for the secret.
	printed strings.Builder
	start   time.Time
}

// newShop copies testdata/shop into a temporary directory; with rolling,
// testdata/shop/rolling/app.hcl replaces its app.
func newShop(t *testing.T, fleet *testenv.Fleet, rolling bool) *shop {
	t.Helper()
	tmp := t.TempDir()
	s := &shop{t: t, ctx: context.Background(), fleet: fleet, dir: filepath.Join(tmp, "shop"),
		state: filepath.Join(tmp, "state.db"), tmp: tmp, start: time.Now()}
	if fleet != nil {
		s.inv = fleet.InventoryPath
	}
	if err := os.CopyFS(s.dir, os.DirFS(filepath.Join("testdata", "shop"))); err != nil {
		t.Fatal(err)
	}
	if rolling {
		if err := os.Rename(filepath.Join(s.dir, "rolling", "app.hcl"), filepath.Join(s.dir, "app.hcl")); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// step logs the step about to run and the time taken so far.
func (s *shop) step(what string) {
	s.t.Logf("[%5.1fs] %s", time.Since(s.start).Seconds(), what)
}

// setVersion is what the next deploy ships as site/VERSION.
func (s *shop) setVersion(v string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, "site", "VERSION"), []byte(v+"\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// useHosts makes the lifecycle commands read an inventory holding only
// the named hosts of the fleet: the fleet's own inventory file without
// the other host blocks, its key and known_hosts made absolute since the
// copy lives elsewhere.
func (s *shop) useHosts(names ...string) {
	s.t.Helper()
	src, err := os.ReadFile(s.fleet.InventoryPath)
	if err != nil {
		s.t.Fatal(err)
	}
	f, diags := hclwrite.ParseConfig(src, s.fleet.InventoryPath, hcl.InitialPos)
	if diags.HasErrors() {
		s.t.Fatal(diags)
	}
	found := 0
	for _, b := range f.Body().Blocks() {
		switch {
		case b.Type() == "defaults":
			b.Body().SetAttributeValue("identity_file", cty.StringVal(s.fleet.KeyPath))
			b.Body().SetAttributeValue("known_hosts", cty.StringVal(s.fleet.KnownHostsPath))
		case b.Type() == "host" && slices.Contains(names, b.Labels()[0]):
			found++
		case b.Type() == "host":
			f.Body().RemoveBlock(b)
		}
	}
	if found != len(names) {
		s.t.Fatalf("the fleet's inventory has %d of the hosts %v", found, names)
	}
	s.inv = filepath.Join(s.tmp, "inventory-"+strings.Join(names, "+")+".hcl")
	if err := os.WriteFile(s.inv, f.Bytes(), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// opsrun runs opsrun with args and returns its exit status and output.
func (s *shop) opsrun(args ...string) (ExitCode, string, string) {
	s.t.Helper()
	streams, out, errOut := testIO()
	code := Main(args, streams)
	s.printed.WriteString(out.String())
	s.printed.WriteString(errOut.String())
	return code, out.String(), errOut.String()
}

// lifecycle runs a lifecycle command (up; deploy APP; rollback APP) on
// the stack with the current inventory and JSON output, fails the test
// unless it exits with want, and returns its events.
func (s *shop) lifecycle(want ExitCode, args ...string) []run.Event {
	s.t.Helper()
	s.step("opsrun " + strings.Join(args, " ") + " (" + filepath.Base(s.inv) + ")")
	args = append(args, s.dir, "-i", s.inv, "--state", s.state, "--ssh-config", "none", "-o", "json")
	code, out, errOut := s.opsrun(args...)
	var events []run.Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e run.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			s.t.Fatalf("opsrun %s: not JSON: %q (stderr %s)", args[0], l, errOut)
		}
		events = append(events, e)
	}
	if code != want {
		for _, e := range events {
			if e.Error != "" || e.Type == run.TypePhase || e.Type == run.TypeRunEnd {
				s.t.Logf("  %s %s %s %s %s", e.Type, e.Host, e.Resource, e.Message, e.Error)
			}
		}
		s.t.Fatalf("opsrun %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, errOut)
	}
	return events
}

// phase is one phase of a lifecycle command: what it said it does and the
// hosts it ran tasks on.
type phase struct {
	event, msg string
	hosts      []string
}

func phases(events []run.Event) []phase {
	var out []phase
	for _, e := range events {
		switch {
		case e.Type == run.TypePhase:
			out = append(out, phase{event: e.Event, msg: e.Message})
		case e.Type == run.TypeTask && len(out) > 0:
			p := &out[len(out)-1]
			if !slices.Contains(p.hosts, e.Host) {
				p.hosts = append(p.hosts, e.Host)
				slices.Sort(p.hosts)
			}
		}
	}
	return out
}

// hostsOf are the hosts the phases of event ran on, or nil if none ran.
func hostsOf(ps []phase, event string) []string {
	var out []string
	for _, p := range ps {
		if p.event == event {
			for _, h := range p.hosts {
				if !slices.Contains(out, h) {
					out = append(out, h)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// note is the run_end message: how the command ended.
func note(events []run.Event) string {
	for _, e := range events {
		if e.Type == run.TypeRunEnd {
			return e.Message
		}
	}
	return ""
}

// sh runs a shell script as root on host, outside opsrun.
func (s *shop) sh(host, script string) string {
	s.t.Helper()
	out, err := s.fleet.Exec(s.ctx, host, "sh", "-c", script)
	if err != nil {
		s.t.Fatalf("%s: %s: %v", host, script, err)
	}
	return string(out)
}

// get asks the shop app on host for path through bash's /dev/tcp (the
// hosts have no curl) and returns the body of a 200 answer.
func (s *shop) get(host, path string) string {
	s.t.Helper()
	resp, err := s.fleet.Exec(s.ctx, host, "bash", "-c",
		`exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3 && cat <&3`, "_", path)
	if err != nil {
		s.t.Errorf("%s: GET %s: %v", host, path, err)
		return ""
	}
	head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.0 200 ") {
		s.t.Errorf("%s: GET %s: %q", host, path, resp)
	}
	return body
}

// current is the release host's current link points at; it fails the
// test unless the link is ROOT/releases/ID.
func (s *shop) current(host string) string {
	s.t.Helper()
	target := strings.TrimSpace(s.sh(host, "readlink /srv/shop/current"))
	id, ok := strings.CutPrefix(target, "/srv/shop/releases/")
	if !ok || !releaseIDRE.MatchString(id) {
		s.t.Fatalf("%s: /srv/shop/current -> %q, want /srv/shop/releases/ID", host, target)
	}
	return id
}

// serving checks that each host's current link is at id and the app it
// runs answers version.
func (s *shop) serving(id, version string, hosts ...string) {
	s.t.Helper()
	for _, h := range hosts {
		if got := s.current(h); got != id {
			s.t.Errorf("%s: current release %s, want %s", h, got, id)
		}
		if got := s.get(h, "/"); got != version+"\n" {
			s.t.Errorf("%s: GET / answers %q, want %q", h, got, version)
		}
	}
}

// placements is `opsrun releases shop -o json`'s placements by host.
func (s *shop) placements() map[string]state.Placement {
	s.t.Helper()
	code, out, errOut := s.opsrun("releases", "shop", s.dir, "-i", s.inv, "--state", s.state, "-o", "json")
	if code != ExitOK {
		s.t.Fatalf("releases: exit %d: %s", code, errOut)
	}
	var r struct {
		App        string            `json:"app"`
		Placements []state.Placement `json:"placements"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.App != "shop" {
		s.t.Fatalf("releases: %v: %s", err, out)
	}
	ps := map[string]state.Placement{}
	for _, p := range r.Placements {
		ps[p.Host] = p
	}
	return ps
}

// lines is the content configure writes for the given app instances:
// name and private address, one a line, as stack.hcl's backends.
func (s *shop) lines(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		i := slices.IndexFunc(s.fleet.Hosts, func(h testenv.Host) bool { return h.Name == n })
		fmt.Fprintf(&b, "%s %s\n", n, s.fleet.Hosts[i].InternalIP)
	}
	return b.String()
}

// file checks a file's content on hosts.
func (s *shop) file(path, want string, hosts ...string) {
	s.t.Helper()
	for _, h := range hosts {
		if got := s.sh(h, "cat "+path); got != want {
			s.t.Errorf("%s: %s is %q, want %q", h, path, got, want)
		}
	}
}

// migrations counts the lines of /var/tmp/shop-migrations across hosts.
func (s *shop) migrations(hosts ...string) int {
	s.t.Helper()
	n := 0
	for _, h := range hosts {
		n += strings.Count(s.sh(h, "cat /var/tmp/shop-migrations 2>/dev/null || true"), "\n")
	}
	return n
}

// TestCanonicalFlowOnFleet runs the OpsWorks flow of DESIGN.md on real
// hosts: the first app instance (setup, configure), deploy, a db
// instance, two more app instances (setup, the deployed release,
// configure everywhere), a second release, a rollback, an instance that
// stops (shutdown, configure everywhere), and the history of it all.
func TestCanonicalFlowOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "app", Count: 3}, {Layer: "db", Count: 1}}})
	s := newShop(t, fleet, false)
	apps := []string{"app-1", "app-2", "app-3"}

	// 1. The first app instance: setup, then configure. Again: nothing.
	s.useHosts("app-1")
	ps := phases(s.lifecycle(ExitOK, "up"))
	if len(ps) != 2 || ps[0].event != "setup" || ps[1].event != "configure" ||
		!slices.Equal(ps[0].hosts, []string{"app-1"}) || !slices.Equal(ps[1].hosts, []string{"app-1"}) {
		t.Fatalf("first up: phases %+v, want setup then configure on app-1", ps)
	}
	s.sh("app-1", "test -d /etc/shop")
	s.file("/etc/shop/backends", s.lines("app-1"), "app-1")
	events := s.lifecycle(ExitOK, "up")
	if ps := phases(events); len(ps) != 1 || ps[0].event == "setup" || !strings.Contains(note(events), "nothing changed") {
		t.Errorf("second up: phases %+v, note %q; want only a reachability check and nothing changed", ps, note(events))
	}

	// 2. Deploy v1.
	s.setVersion("v1")
	events = s.lifecycle(ExitOK, "deploy", "shop")
	r1 := s.current("app-1")
	s.serving(r1, "v1", "app-1")
	if !strings.Contains(note(events), r1) {
		t.Errorf("deploy note %q does not name release %s", note(events), r1)
	}
	if got := s.sh("app-1", "stat -c %a /srv/shop/current/.env"); got != "600\n" {
		t.Errorf(".env mode %q, want 600", got)
	}
	if env := s.sh("app-1", "cat /srv/shop/current/.env"); !strings.Contains(env, `DB_PASSWORD="`+shopSecret+`"`) || !strings.Contains(env, `PORT="8080"`) {
		t.Errorf(".env is %q", env)
	}
	s.sh("app-1", "test -s /srv/shop/current/BUILD_ID && systemctl is-enabled shop && systemctl is-active shop")
	if n := s.migrations("app-1"); n != 1 {
		t.Errorf("migrations ran %d times, want 1", n)
	}

	// 3. A db instance: setup on it only, configure on both.
	s.useHosts("app-1", "db-1")
	ps = phases(s.lifecycle(ExitOK, "up"))
	if got := hostsOf(ps, "setup"); !slices.Equal(got, []string{"db-1"}) {
		t.Errorf("setup ran on %v, want db-1 only (phases %+v)", got, ps)
	}
	if got := hostsOf(ps, "configure"); !slices.Equal(got, []string{"app-1", "db-1"}) {
		t.Errorf("configure ran on %v, want app-1 and db-1", got)
	}
	s.file("/etc/shop-db/ready", "ready\n", "db-1")
	s.file("/etc/shop-db/clients", s.lines("app-1"), "db-1")
	s.file("/etc/shop/backends", s.lines("app-1"), "app-1")

	// 4. Two more app instances: setup and the deployed release on them,
	// without migrating again; configure everywhere.
	s.useHosts("app-1", "app-2", "app-3", "db-1")
	ps = phases(s.lifecycle(ExitOK, "up"))
	if got := hostsOf(ps, "setup"); !slices.Equal(got, []string{"app-2", "app-3"}) {
		t.Errorf("setup ran on %v, want app-2, app-3 (phases %+v)", got, ps)
	}
	if got := hostsOf(ps, "deploy"); !slices.Equal(got, []string{"app-2", "app-3"}) {
		t.Errorf("the release was deployed to %v, want app-2, app-3", got)
	}
	for _, p := range ps {
		if strings.Contains(p.msg, "migrate") {
			t.Errorf("up migrated a release already migrated: %q", p.msg)
		}
	}
	if got := hostsOf(ps, "configure"); !slices.Equal(got, []string{"app-1", "app-2", "app-3", "db-1"}) {
		t.Errorf("configure ran on %v, want every instance", got)
	}
	s.serving(r1, "v1", apps...)
	if n := s.migrations(apps...); n != 1 {
		t.Errorf("migrations ran %d times in all, want 1", n)
	}
	s.file("/etc/shop/backends", s.lines(apps...), apps...)
	s.file("/etc/shop-db/clients", s.lines(apps...), "db-1")

	// 5. Deploy v2 everywhere: one more migration, two releases kept.
	s.setVersion("v2")
	s.lifecycle(ExitOK, "deploy", "shop")
	r2 := s.current("app-1")
	if r2 <= r1 {
		t.Fatalf("second release %s does not sort after the first %s", r2, r1)
	}
	s.serving(r2, "v2", apps...)
	if n := s.migrations(apps...); n != 2 {
		t.Errorf("migrations ran %d times in all after two deploys, want 2", n)
	}
	placements := s.placements()
	for _, h := range apps {
		if p := placements[h]; p.Current != r2 || !slices.Equal(p.Kept, []string{r2, r1}) {
			t.Errorf("releases on %s: %+v, want current %s, kept [%s %s]", h, p, r2, r2, r1)
		}
	}

	// 6. Roll back to the first release.
	events = s.lifecycle(ExitOK, "rollback", "shop")
	s.serving(r1, "v1", apps...)
	if !strings.Contains(note(events), r1) {
		t.Errorf("rollback note %q does not name release %s", note(events), r1)
	}
	placements = s.placements()
	for _, h := range apps {
		if p := placements[h]; p.Current != r1 {
			t.Errorf("releases on %s after rollback: %+v, want current %s", h, p, r1)
		}
	}

	// 7. app-3 stops: shutdown on it, configure on the others.
	s.useHosts("app-1", "app-2", "db-1")
	ps = phases(s.lifecycle(ExitOK, "up"))
	if got := hostsOf(ps, "shutdown"); !slices.Equal(got, []string{"app-3"}) {
		t.Errorf("shutdown ran on %v, want app-3 (phases %+v)", got, ps)
	}
	if got := hostsOf(ps, "configure"); !slices.Equal(got, []string{"app-1", "app-2", "db-1"}) {
		t.Errorf("configure ran on %v, want app-1, app-2, db-1", got)
	}
	s.file("/var/tmp/shop-drained", "app-3\n", "app-3")
	s.file("/etc/shop/backends", s.lines("app-1", "app-2"), "app-1", "app-2")
	s.file("/etc/shop-db/clients", s.lines("app-1", "app-2"), "db-1")
	s.file("/etc/shop/backends", s.lines(apps...), "app-3") // not configured after it left
	if p, ok := s.placements()["app-3"]; ok {
		t.Errorf("releases still lists app-3 after it left: %+v", p)
	}

	// 8. The history has every run, newest first, all ok, the deploys and
	// the rollback with their app and release.
	s.step("opsrun history")
	code, out, errOut := s.opsrun("history", s.dir, "--state", s.state, "-o", "json")
	if code != ExitOK {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r state.RunRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("history line %q: %v", l, err)
		}
		if r.Outcome != state.OutcomeOK {
			t.Errorf("history: run %s (%s) outcome %q: %s", r.ID, r.Command, r.Outcome, r.Note)
		}
		got = append(got, strings.Join([]string{r.Event, r.App, r.Release}, " "))
	}
	slices.Reverse(got)
	want := []string{"up  ", "up  ", "deploy shop " + r1, "up  ", "up  ", "deploy shop " + r2, "rollback shop " + r1, "up  "}
	if !slices.Equal(got, want) {
		t.Errorf("history (event app release), oldest first:\n%q\nwant\n%q", got, want)
	}

	if strings.Contains(s.printed.String(), shopSecret) {
		t.Errorf("the sensitive db_password appears in opsrun's output")
	}
	s.step("done")
}

// TestRollingDeployFailureOnFleet: a deploy two instances at a time whose
// second batch fails its health check stops there and switches that batch
// back; the first batch keeps the new release.
func TestRollingDeployFailureOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "app", Count: 4}}})
	s := newShop(t, fleet, true)
	all := []string{"app-1", "app-2", "app-3", "app-4"}

	s.setVersion("v1")
	s.lifecycle(ExitOK, "deploy", "shop")
	r1 := s.current("app-1")
	s.serving(r1, "v1", all...)

	s.sh("app-3", "touch /etc/shop-unhealthy")
	s.setVersion("v2")
	s.step("opsrun deploy shop (text output), app-3 unhealthy")
	code, out, errOut := s.opsrun("deploy", "shop", s.dir, "-i", s.inv, "--state", s.state, "--ssh-config", "none")
	if code != ExitFailed {
		t.Fatalf("deploy with an unhealthy instance: exit %d, want %d\n%s%s", code, ExitFailed, out, errOut)
	}
	r2 := s.current("app-1")
	if r2 == r1 {
		t.Fatalf("the first batch was not deployed: app-1 is still on %s", r1)
	}
	s.serving(r2, "v2", "app-1", "app-2")
	s.serving(r1, "v1", "app-3", "app-4")
	printed := out + errOut
	t.Logf("the failed deploy printed:\n%s", printed)
	for _, want := range []string{"stopped at batch 2 of 2", "switched app-3, app-4 back to release " + r1} {
		if !strings.Contains(printed, want) {
			t.Errorf("deploy's output does not say %q:\n%s", want, printed)
		}
	}
	// The failed check is reported with its attempts (1 + retries), once.
	if !strings.Contains(printed, "(after 2 attempts)") || strings.Contains(printed, "attempts) (after") {
		t.Errorf("deploy's output does not give the health check's attempts once:\n%s", printed)
	}
	placements := s.placements()
	for _, h := range all {
		want := map[bool]string{true: r2, false: r1}[h == "app-1" || h == "app-2"]
		if p := placements[h]; p.Current != want {
			t.Errorf("releases on %s: %+v, want current %s", h, p, want)
		}
	}
	s.step("done")
}

// TestShopStackValidates keeps testdata/shop loadable, in both its
// variants, without Docker.
func TestShopStackValidates(t *testing.T) {
	for _, rolling := range []bool{false, true} {
		s := newShop(t, nil, rolling)
		if code, out, errOut := s.opsrun("validate", s.dir); code != ExitOK || !strings.Contains(out, "Stack shop is valid: 2 layers") {
			t.Errorf("validate (rolling %v): exit %d\n%s%s", rolling, code, out, errOut)
		}
	}
}
