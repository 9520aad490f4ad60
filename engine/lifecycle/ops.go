package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
)

// RollbackOptions say what to roll back, and to which release.
type RollbackOptions struct {
	App string
	// To is the release to switch to; "" means each instance's release
	// before its current one.
	To string
}

// Rollback switches the app's current release back on every instance
// that has it, runs the layers' deploy recipes and the health check. The
// target is checked on every instance first: when one cannot switch (the
// release is not kept there, or there is none older), nothing is done.
func Rollback(ctx context.Context, in Input, opts Options, r RollbackOptions) (*Outcome, error) {
	a, targets, err := appTargets(in, r.App)
	if err != nil {
		return nil, err
	}
	s := newSession(in, opts)
	placements, err := s.currents(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	to := map[string]string{}
	var hosts []*inventory.Host
	var problems []string
	for _, h := range targets {
		p := placements[h.Name]
		if p == nil || p.Current == "" {
			continue // never deployed here (a new instance): nothing to roll back
		}
		id := r.To
		if id == "" {
			for _, k := range p.Kept {
				if k < p.Current && (id == "" || k > id) {
					id = k
				}
			}
			if id == "" {
				problems = append(problems, fmt.Sprintf("%s keeps no release older than its current %s", h.Name, p.Current))
				continue
			}
		} else if !slices.Contains(p.Kept, id) {
			problems = append(problems, fmt.Sprintf("%s does not keep release %s (it keeps %s)", h.Name, id, strings.Join(p.Kept, ", ")))
			continue
		}
		to[h.Name] = id
		hosts = append(hosts, h)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("cannot roll back %s, nothing was changed: %s; see opsrun releases %s", a.Name, strings.Join(problems, "; "), a.Name)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("cannot roll back %s: it has not been deployed to any instance of the stack; deploy it with opsrun deploy %s", a.Name, a.Name)
	}
	s.begin("rollback "+a.Name, len(hosts))
	out := &Outcome{}
	if len(to) > 0 {
		out.Release = to[hosts[0].Name]
	}
	err = s.switchBack(ctx, a, hosts, to, "rollback")
	ok, failed := s.healthy(hosts)
	out.Note = fmt.Sprintf("rolled %s back to %s", names(ok), describe(onlyHosts(to, ok)))
	if len(ok) == 0 {
		out.Note = "rollback failed on every instance"
	}
	if len(failed) > 0 {
		out.Note += fmt.Sprintf("; failed on %s", names(failed))
	}
	if s.opts.Check {
		out.Note = fmt.Sprintf("check mode: would roll %s back to %s", names(hosts), describe(to))
	}
	out.Note = s.withELBNote(out.Note)
	out.Result = s.finish("rollback "+a.Name, out.Note)
	return out, err
}

func onlyHosts(to map[string]string, hosts []*inventory.Host) map[string]string {
	out := map[string]string{}
	for _, h := range hosts {
		out[h.Name] = to[h.Name]
	}
	return out
}

// Undeploy runs the app's layers' undeploy recipes, then removes the
// app's releases and current link from every instance (its shared
// directories, which hold data, stay), and forgets its releases there.
func Undeploy(ctx context.Context, in Input, opts Options, name string) (*Outcome, error) {
	a, targets, err := appTargets(in, name)
	if err != nil {
		return nil, err
	}
	s := newSession(in, opts)
	g := steps{app: a}
	remove := g.res("command", "remove", map[string]hcl.Expression{
		"command": g.str(fmt.Sprintf("rm -rf %s %s", q(a.CurrentLink()), q(a.ReleasesDir()))),
		"unless":  g.str(fmt.Sprintf("[ ! -e %s ] && [ ! -L %s ]", q(a.ReleasesDir()), q(a.CurrentLink()))),
	})
	st := derived(in.Stack, "undeploy", func(ly *stack.Layer) []*stack.Resource {
		if slices.Contains(a.Layers, ly.Name) {
			return append(slices.Clip(ly.Events["undeploy"]), remove)
		}
		return nil
	})
	s.begin("undeploy "+a.Name, len(targets))
	// Out of the load balancers, drained, before the app stops; a host
	// that could not be taken out keeps the app.
	targets = s.deregister(ctx, "undeploy", targets)
	_, err = s.phase(ctx, fmt.Sprintf("undeploy %s from %s: undeploy recipes, then remove its releases (%s stays)", a.Name, report.Plural(len(targets), "instance"), a.SharedDir()), st, "undeploy", targets, nil)
	var gone []string
	for _, h := range targets {
		if st := s.status(h.Name, remove.Addr); st == "changed" || st == "ok" {
			gone = append(gone, h.Name)
		}
	}
	out := &Outcome{Note: fmt.Sprintf("%s removed from %s", a.Name, report.Plural(len(gone), "instance"))}
	if s.opts.Check {
		out.Note = fmt.Sprintf("check mode: %s would be removed from %s", a.Name, report.Plural(len(targets), "instance"))
	} else if len(gone) > 0 && err == nil {
		if err = in.Store.ForgetApp(ctx, a.Name, gone); err == nil {
			s.pruneTarballs(ctx, a)
		}
	}
	out.Note = s.withELBNote(out.Note)
	out.Result = s.finish("undeploy "+a.Name, out.Note)
	return out, err
}
