package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/state"
	"github.com/opsrun/opsrun/inventory"
)

// DeployOptions say what to deploy.
type DeployOptions struct {
	App string
	// Ref overrides the git source's ref for this deploy.
	Ref string
}

// ErrNoInstances means the app's layers have no instance to act on.
var ErrNoInstances = errors.New("no instances")

// app finds the named app or says which there are.
func app(st *stack.Stack, name string) (*stack.App, error) {
	if a := st.App(name); a != nil {
		return a, nil
	}
	var all []string
	for _, a := range st.Apps {
		all = append(all, a.Name)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("stack %s declares no app %q (it has none); declare it with app %q { ... }", st.Name, name, name)
	}
	return nil, fmt.Errorf("stack %s declares no app %q; its apps are: %s", st.Name, name, strings.Join(all, ", "))
}

// appTargets finds the named app and the inventory's instances of its
// layers.
func appTargets(in Input, name string) (*stack.App, []*inventory.Host, error) {
	a, err := app(in.Stack, name)
	if err != nil {
		return nil, nil, err
	}
	hosts := inLayers(in.Hosts, a.Layers)
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("app %s: %w in its layers (%s); add hosts to them in the inventory", a.Name, ErrNoInstances, strings.Join(a.Layers, ", "))
	}
	return a, hosts, nil
}

// layerOf is the first of the app's layers h is in, for reporting.
func layerOf(a *stack.App) func(*inventory.Host) string {
	return func(h *inventory.Host) string {
		for _, l := range a.Layers {
			if h.InLayer(l) {
				return l
			}
		}
		return ""
	}
}

// releaseID is a new release's id: the time in UTC to the second, moved
// past the last release's id when a deploy comes within the same second,
// so ids sort in deploy order.
func releaseID(now time.Time, last *state.Release) string {
	t := now.UTC().Truncate(time.Second)
	if last != nil {
		if lt, err := time.Parse(idLayout, last.ID); err == nil && !t.After(lt) {
			t = lt.Add(time.Second)
		}
	}
	return t.Format(idLayout)
}

const idLayout = "20060102T150405Z"

// Deploy ships a new release of an app to the instances of its layers,
// batch by batch (the app's serial): prepare the release on the batch,
// migrate once (first batch, one instance), switch current and run the
// layers' deploy recipes, check health, prune. A batch with more failures
// than max_fail_percentage stops the rollout and, with
// rollback_on_failure, is switched back to its previous releases.
func Deploy(ctx context.Context, in Input, opts Options, d DeployOptions) (*Outcome, error) {
	a, targets, err := appTargets(in, d.App)
	if err != nil {
		return nil, err
	}
	last, err := in.Store.LastRelease(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	s := newSession(in, opts)
	rel := &state.Release{App: a.Name, ID: releaseID(s.opts.Now(), last), Source: a.Source.String(), RunID: opts.RunID, Deployed: s.opts.Now().UTC()}
	src := a.Source
	if src.Kind == stack.SourceGit {
		if d.Ref != "" {
			if !stack.ValidGitRef(d.Ref) {
				return nil, fmt.Errorf("--ref %q is not a git branch, tag or commit name", d.Ref)
			}
			src.Ref = d.Ref
		}
		rel.Ref = src.Ref
		rel.Source = src.String()
	} else if d.Ref != "" {
		return nil, fmt.Errorf("app %s: --ref applies to a git source; this app's source is %s", a.Name, a.Source)
	}
	s.begin("deploy "+a.Name, len(targets))
	out, err := s.deploy(ctx, a, src, rel, targets, true)
	out.Note = s.withELBNote(out.Note)
	res := s.finish("deploy "+a.Name, out.Note)
	out.Result = res
	return out, err
}

// deploy runs the rollout of rel on targets and records it. migrate says
// whether this deploy runs the app's migrations (not when new instances
// catch up with a release already migrated).
func (s *session) deploy(ctx context.Context, a *stack.App, src stack.AppSource, rel *state.Release, targets []*inventory.Host, migrate bool) (*Outcome, error) {
	out := &Outcome{Release: rel.ID}
	prev, err := s.currents(ctx, a.Name)
	if err != nil {
		return out, err
	}
	g := steps{app: a, src: src}
	tarball := ""
	if src.Kind == stack.SourceLocal {
		path, done, err := s.tarball(ctx, a, src, rel.ID)
		if err != nil {
			return out, err
		}
		defer done()
		tarball = path
	}
	prepare := g.prepare(src, rel.ID, tarball)
	size := a.Serial.BatchSize(len(targets))
	var batches [][]*inventory.Host
	for i := 0; i < len(targets); i += size {
		batches = append(batches, targets[i:min(i+size, len(targets))])
	}
	deployed := 0
	for i, batch := range batches {
		if s.stopped(ctx) {
			out.Note = fmt.Sprintf("interrupted before batch %d of %d; release %s is current on %s", i+1, len(batches), rel.ID, report.Plural(deployed, "instance"))
			return out, fmt.Errorf("%w: %s", run.ErrInterrupted, out.Note)
		}
		label := "release " + rel.ID
		if len(batches) > 1 {
			label = fmt.Sprintf("batch %d of %d: %s", i+1, len(batches), label)
		}
		switched, failed, err := s.deployBatch(ctx, g, label, rel, prepare, batch, migrate && i == 0)
		// What switched is recorded even when the batch was interrupted:
		// the store must say what the hosts hold.
		if !s.opts.Check && len(switched) > 0 {
			if err := s.in.Store.RecordRelease(context.WithoutCancel(ctx), rel, switched, a.KeepReleases); err != nil {
				return out, err
			}
		}
		if err != nil {
			return out, err
		}
		deployed += len(hostsNamed(batch, switched)) - len(hostsNamed(failed, switched))
		if len(failed)*100 > a.MaxFailPercentage*len(batch) {
			out.Note = fmt.Sprintf("rollout of release %s stopped at batch %d of %d: %s of %d failed (max_fail_percentage = %d)",
				rel.ID, i+1, len(batches), report.Plural(len(failed), "instance"), len(batch), a.MaxFailPercentage)
			if a.RollbackOnFailure && len(switched) > 0 {
				note, err := s.rollBack(ctx, a, hostsNamed(batch, switched), prev, "roll back the failed batch")
				out.Note += "; " + note
				if err != nil {
					return out, err
				}
			}
			return out, fmt.Errorf("%w: %s", ErrStopped, out.Note)
		}
	}
	if !s.opts.Check {
		s.pruneTarballs(ctx, a)
	}
	out.Note = fmt.Sprintf("release %s is current on %s of %s", rel.ID, report.Plural(deployed, "instance"), a.Name)
	if s.opts.Check {
		out.Note = fmt.Sprintf("check mode: release %s would be deployed to %s", rel.ID, report.Plural(len(targets), "instance"))
	}
	return out, nil
}

// deployBatch runs one batch: prepare, migrate (when asked, on the first
// instance that prepared), switch with the layers' deploy recipes, health
// check, prune. It returns the hosts that switched to the release and the
// batch's hosts that failed.
func (s *session) deployBatch(ctx context.Context, g steps, label string, rel *state.Release, prepare []*stack.Resource, batch []*inventory.Host, migrate bool) (switched []string, failed []*inventory.Host, err error) {
	a := g.app
	layers := func(ly *stack.Layer) bool { return slices.Contains(a.Layers, ly.Name) }
	st := derived(s.in.Stack, "deploy", func(ly *stack.Layer) []*stack.Resource {
		if layers(ly) {
			return prepare
		}
		return nil
	})
	if _, err := s.phase(ctx, fmt.Sprintf("%s: prepare on %s: %s", label, report.Plural(len(batch), "instance"), names(batch)), st, "deploy", batch, nil); err != nil {
		return nil, nil, err
	}
	ready, _ := s.healthy(batch)
	if g.src.Kind == stack.SourceGit && rel.Commit == "" && len(ready) > 0 && !s.opts.Check {
		rel.Commit = s.commit(ctx, ready[0], a.ReleaseDir(rel.ID))
	}
	if migrate && a.Migrate != "" && len(ready) > 0 && !s.stopped(ctx) {
		st := derived(s.in.Stack, "deploy", func(ly *stack.Layer) []*stack.Resource {
			if layers(ly) {
				return []*stack.Resource{g.migrate(rel.ID)}
			}
			return nil
		})
		primary := ready[:1]
		if _, err := s.phase(ctx, fmt.Sprintf("%s: migrate on %s (once for this deploy)", label, primary[0].Name), st, "deploy", primary, nil); err != nil {
			return nil, nil, err
		}
		if ok, _ := s.healthy(primary); len(ok) == 0 {
			// A failed migration leaves every instance on its release.
			ready = nil
		}
	}
	if len(ready) > 0 && !s.stopped(ctx) {
		// Out of the load balancers, drained, before the switch restarts
		// anything; a host that could not be taken out is not touched.
		ready = s.deregister(ctx, "deploy", ready)
	}
	if len(ready) > 0 && !s.stopped(ctx) {
		sw := g.switchTo(rel.ID)
		st := derived(s.in.Stack, "deploy", func(ly *stack.Layer) []*stack.Resource {
			if layers(ly) {
				return append([]*stack.Resource{sw}, ly.Events["deploy"]...)
			}
			return nil
		})
		_, err := s.phase(ctx, fmt.Sprintf("%s: switch and run deploy recipes on %s", label, names(ready)), st, "deploy", ready, nil)
		for _, h := range ready {
			if st := s.status(h.Name, sw.Addr); !s.opts.Check && (st == "changed" || st == "ok") {
				switched = append(switched, h.Name)
			}
		}
		if err != nil {
			return switched, nil, err
		}
		ok, _ := s.healthy(hostsNamed(batch, switched))
		s.healthCheck(ctx, a, ok)
		// Back in once healthy; what failed stays out.
		s.putBack(ctx, "deploy", ready)
	}
	good, failed := s.healthy(batch)
	good = hostsNamed(good, switched)
	if len(good) > 0 && !s.stopped(ctx) {
		st := derived(s.in.Stack, "deploy", func(ly *stack.Layer) []*stack.Resource {
			if layers(ly) {
				return []*stack.Resource{g.prune()}
			}
			return nil
		})
		if _, err := s.phase(ctx, fmt.Sprintf("%s: prune to %s on %s", label, report.Plural(a.KeepReleases, "release"), names(good)), st, "deploy", good, nil); err != nil {
			return switched, failed, err
		}
	}
	return switched, failed, nil
}

// hostsNamed are the hosts of hosts whose names are in keep.
func hostsNamed(hosts []*inventory.Host, keep []string) []*inventory.Host {
	var out []*inventory.Host
	for _, h := range hosts {
		if slices.Contains(keep, h.Name) {
			out = append(out, h)
		}
	}
	return out
}

// currents is the current release of the app per host, from the store.
func (s *session) currents(ctx context.Context, app string) (map[string]*state.Placement, error) {
	ps, err := s.in.Store.Placements(ctx, app)
	if err != nil {
		return nil, err
	}
	out := map[string]*state.Placement{}
	for _, p := range ps {
		out[p.Host] = p
	}
	return out, nil
}

// rollBack switches hosts back to the release each had before (prev),
// runs the layers' deploy recipes and the health check, and records it.
func (s *session) rollBack(ctx context.Context, a *stack.App, hosts []*inventory.Host, prev map[string]*state.Placement, why string) (string, error) {
	to := map[string]string{}
	var back, none []*inventory.Host
	for _, h := range hosts {
		if p := prev[h.Name]; p != nil && p.Current != "" {
			to[h.Name] = p.Current
			back = append(back, h)
		} else {
			none = append(none, h)
		}
	}
	note := ""
	if len(none) > 0 {
		note = fmt.Sprintf("no earlier release to switch back to on %s; ", names(none))
	}
	if len(back) == 0 {
		return note + "nothing rolled back", nil
	}
	if err := s.switchBack(ctx, a, back, to, why); err != nil {
		return note, err
	}
	return note + fmt.Sprintf("switched %s back to %s", names(back), describe(to)), nil
}

// switchBack points current at to[host] on hosts, runs the deploy
// recipes and the health check, and records the switch in the store.
func (s *session) switchBack(ctx context.Context, a *stack.App, hosts []*inventory.Host, to map[string]string, why string) error {
	if hosts = s.deregister(ctx, "deploy", hosts); len(hosts) == 0 {
		return nil
	}
	g := steps{app: a}
	sw := g.switchPerHost(to)
	st := derived(s.in.Stack, "deploy", func(ly *stack.Layer) []*stack.Resource {
		if slices.Contains(a.Layers, ly.Name) {
			return append([]*stack.Resource{sw}, ly.Events["deploy"]...)
		}
		return nil
	})
	_, err := s.phase(ctx, fmt.Sprintf("%s: switch %s back and run deploy recipes", why, names(hosts)), st, "deploy", hosts, nil)
	done := map[string]string{}
	var switched []*inventory.Host
	for _, h := range hosts {
		if st := s.status(h.Name, sw.Addr); st == "changed" || st == "ok" {
			done[h.Name] = to[h.Name]
			switched = append(switched, h)
		}
	}
	if s.opts.Check || len(done) == 0 {
		if err == nil {
			s.putBack(ctx, "deploy", hosts)
		}
		return err
	}
	// Recorded even when interrupted: the store must say what the hosts hold.
	if serr := s.in.Store.SetCurrent(context.WithoutCancel(ctx), a.Name, done); serr != nil {
		return errors.Join(err, serr)
	}
	if err != nil {
		return err
	}
	s.healthCheck(ctx, a, switched)
	s.putBack(ctx, "deploy", hosts)
	return nil
}

// describe is "20261126T010203Z" when every host has the same release,
// else "app-1: R1, app-2: R2".
func describe(to map[string]string) string {
	var hosts []string
	ids := map[string]bool{}
	for h, id := range to {
		hosts = append(hosts, h)
		ids[id] = true
	}
	sort.Strings(hosts)
	if len(ids) == 1 {
		return "release " + to[hosts[0]]
	}
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		parts[i] = h + ": " + to[h]
	}
	return strings.Join(parts, ", ")
}

// prepare is the steps that lay a release down beside the current one:
// directories, the source, shared dirs linked in, .env, build.
func (g steps) prepare(src stack.AppSource, id, tarball string) []*stack.Resource {
	a := g.app
	dir := a.ReleaseDir(id)
	var rs []*stack.Resource
	rs = append(rs, g.res("directory", "releases", g.owner(map[string]hcl.Expression{"path": g.str(a.ReleasesDir())})))
	for _, d := range a.Shared {
		rs = append(rs, g.res("directory", "shared."+d, g.owner(map[string]hcl.Expression{"path": g.str(a.SharedDir() + "/" + d)})))
	}
	switch src.Kind {
	case stack.SourceGit:
		attrs := map[string]hcl.Expression{"repository": g.str(src.URL), "path": g.str(dir), "depth": g.static(cty.NumberIntVal(1))}
		if commitRE.MatchString(src.Ref) {
			attrs["commit"] = g.str(src.Ref)
		} else if src.Ref != "" && src.Ref != "HEAD" {
			attrs["ref"] = g.str(src.Ref)
		}
		rs = append(rs, g.res("git", "source", g.asUser(attrs)))
	case stack.SourceArchive:
		attrs := map[string]hcl.Expression{"source": g.str(src.URL), "sha256": g.str(src.SHA256), "dest": g.str(dir),
			"strip_components": g.static(cty.NumberIntVal(int64(src.StripComponents)))}
		rs = append(rs, g.res("archive", "source", g.owner(attrs)))
	case stack.SourceLocal:
		up := a.ReleasesDir() + "/." + id + ".tar.gz"
		rs = append(rs,
			g.res("file", "upload", map[string]hcl.Expression{"path": g.str(up), "source": g.str(tarball), "mode": g.str("0600")}),
			g.res("archive", "source", g.owner(map[string]hcl.Expression{"source": g.str(up), "dest": g.str(dir), "format": g.str("tar.gz")})),
			g.res("file", "upload_done", map[string]hcl.Expression{"path": g.str(up), "state": g.str("absent")}),
		)
	}
	for _, d := range a.Shared {
		link, target := dir+"/"+d, a.SharedDir()+"/"+d
		rs = append(rs, g.res("command", "link."+d, map[string]hcl.Expression{
			"command": g.str(fmt.Sprintf("rm -rf %s && mkdir -p %s && ln -s %s %s", q(link), q(filepath.Dir(link)), q(target), q(link))),
			"unless":  g.str(fmt.Sprintf("[ \"$(readlink %s)\" = %s ]", q(link), q(target))),
		}))
	}
	envAttrs := map[string]hcl.Expression{"path": g.str(dir + "/.env"), "content": g.static(envFile(a.Environment)), "mode": g.str("0600")}
	rs = append(rs, g.res("file", "env", g.owner(envAttrs)))
	if a.Build != "" {
		rs = append(rs, g.res("command", "build", g.asUser(map[string]hcl.Expression{
			"command": g.str(a.Build), "cwd": g.str(dir), "environment": g.env(),
		})))
	}
	return rs
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// migrate is the app's migrate command in the new release.
func (g steps) migrate(id string) *stack.Resource {
	return g.res("command", "migrate", g.asUser(map[string]hcl.Expression{
		"command": g.str(g.app.Migrate), "cwd": g.str(g.app.ReleaseDir(id)), "environment": g.env(),
	}))
}

// switchTo makes release id current: the link resource renames a new
// link over ROOT/current, so the switch is atomic.
func (g steps) switchTo(id string) *stack.Resource {
	return g.res("link", "switch", map[string]hcl.Expression{
		"path": g.str(g.app.CurrentLink()), "target": g.str(g.app.ReleaseDir(id)), "force": g.static(cty.True),
	})
}

// switchPerHost makes to[host] current on each host.
func (g steps) switchPerHost(to map[string]string) *stack.Resource {
	targets := map[string]cty.Value{}
	for h, id := range to {
		targets[h] = cty.StringVal(g.app.ReleaseDir(id))
	}
	return g.res("link", "switch", map[string]hcl.Expression{
		"path":   g.str(g.app.CurrentLink()),
		"target": perHost{values: targets, def: cty.NullVal(cty.String), rng: g.app.DeclRange},
		"force":  g.static(cty.True),
	})
}

// prune removes releases beyond keep_releases, never the current one.
func (g steps) prune() *stack.Resource {
	list := pruneList(g.app)
	return g.res("command", "prune", map[string]hcl.Expression{
		"command": g.str(fmt.Sprintf("cd %s && %s | xargs -r rm -rf --", q(g.app.ReleasesDir()), list)),
		"unless":  g.str(fmt.Sprintf("[ -z \"$(%s)\" ]", list)),
	})
}
