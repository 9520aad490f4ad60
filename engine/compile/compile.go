// Package compile turns a loaded stack and one lifecycle event into what
// the scheduler runs: for each layer that has recipes for the event, and
// each of its hosts, the ordered list of resources configured for that host
// (attributes evaluated with the host's facts and the stack's topology),
// plus the order in which layers run.
package compile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// Plan is a compiled event.
type Plan struct {
	Event string
	// Levels are groups of layers: every layer of a level depends only on
	// layers of earlier levels, so a level's layers may run in parallel.
	Levels [][]*LayerPlan
}

// LayerPlan is one layer's part of the event.
type LayerPlan struct {
	Layer *stack.Layer
	Hosts []*HostPlan
}

// HostPlan is one host's ordered tasks within a layer.
type HostPlan struct {
	Host  *inventory.Host
	Tasks []*Task
	// Err is set when the host's resources could not be evaluated (a
	// type error that only this host's facts reveal); the host fails.
	Err error
}

// Task is one resource configured for one host.
type Task struct {
	Res    *stack.Resource
	Type   *modules.Type
	Module modules.Resource
	// Skip says why the task does not run (only_if false, not_if true),
	// "" when it runs.
	Skip string
	// Sensitive is true when any attribute came from a sensitive value,
	// or the resource says sensitive = true.
	Sensitive bool
	// Options are the shared meta-arguments, evaluated for the host.
	Options stack.Options
}

// Input is what a compilation needs.
type Input struct {
	Stack    *stack.Stack
	Event    string
	Registry modules.Registry
	// Hosts are every host of the stack (topology: layer.X.instances).
	Hosts []*inventory.Host
	// Targets are the hosts the event runs on (a subset of Hosts).
	Targets []*inventory.Host
	// Layer restricts the event to one layer when not empty.
	Layer string
	// Facts are the gathered `host.*` fact objects of the targets (and of
	// any other host whose facts are known), by host name.
	Facts map[string]cty.Value
}

// Compile builds the plan. Errors that concern the whole stack (an unknown
// layer) are returned; errors of one host land in its HostPlan.
func Compile(in Input) (*Plan, error) {
	if in.Layer != "" && layerByName(in.Stack, in.Layer) == nil {
		return nil, fmt.Errorf("layer %q is not declared in the stack; layers: %s", in.Layer, strings.Join(layerNames(in.Stack), ", "))
	}
	layersVal := topology(in)
	targets := map[string]bool{}
	for _, h := range in.Targets {
		targets[h.Name] = true
	}
	var plans []*LayerPlan
	for _, l := range in.Stack.Layers {
		if in.Layer != "" && l.Name != in.Layer {
			continue
		}
		resources := l.Events[in.Event]
		if len(resources) == 0 {
			continue
		}
		ordered, err := order(resources)
		if err != nil {
			return nil, fmt.Errorf("layer %s, event %s: %w", l.Name, in.Event, err)
		}
		lp := &LayerPlan{Layer: l}
		for _, h := range in.Targets {
			if !h.InLayer(l.Name) {
				continue
			}
			lp.Hosts = append(lp.Hosts, compileHost(in, l, h, ordered, layersVal))
		}
		if len(lp.Hosts) > 0 {
			plans = append(plans, lp)
		}
	}
	levels, err := levelize(plans)
	if err != nil {
		return nil, err
	}
	return &Plan{Event: in.Event, Levels: levels}, nil
}

func compileHost(in Input, l *stack.Layer, h *inventory.Host, resources []*stack.Resource, layersVal cty.Value) *HostPlan {
	hp := &HostPlan{Host: h}
	ectx := stack.LayerContext(in.Stack.EvalContext(stack.HostValue(h, in.Facts[h.Name]), layersVal), l.Name)
	var diags hcl.Diagnostics
	for _, r := range resources {
		t, ds := compileTask(in, ectx, r)
		diags = append(diags, ds...)
		if t != nil {
			hp.Tasks = append(hp.Tasks, t)
		}
	}
	if diags.HasErrors() {
		hp.Err = &EvalError{Host: h.Name, Diags: diags}
	}
	return hp
}

// EvalError is a host whose resources could not be configured.
type EvalError struct {
	Host  string
	Diags hcl.Diagnostics
}

func (e *EvalError) Error() string {
	var lines []string
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		lines = append(lines, fmt.Sprintf("%s%s: %s", loc, d.Summary, strings.Join(strings.Fields(d.Detail), " ")))
	}
	return e.Host + ": " + strings.Join(lines, "; ")
}

func compileTask(in Input, ectx *hcl.EvalContext, r *stack.Resource) (*Task, hcl.Diagnostics) {
	typ, ok := in.Registry.Lookup(r.Type)
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource type",
			Detail: fmt.Sprintf("Resource type %q is not known.", r.Type), Subject: r.DeclRange.Ptr()}}
	}
	t := &Task{Res: r, Type: typ}
	var diags hcl.Diagnostics
	if r.OnlyIf != nil {
		ok, ds := condition(ectx, r.OnlyIf, "only_if")
		diags = append(diags, ds...)
		if !ds.HasErrors() && !ok {
			t.Skip = "only_if is false"
		}
	}
	if r.NotIf != nil && t.Skip == "" && !diags.HasErrors() {
		ok, ds := condition(ectx, r.NotIf, "not_if")
		diags = append(diags, ds...)
		if !ds.HasErrors() && ok {
			t.Skip = "not_if is true"
		}
	}
	if diags.HasErrors() || t.Skip != "" {
		return t, diags
	}
	built, ds := r.Build(ectx, typ, in.Stack.Dir)
	diags = append(diags, ds...)
	t.Options, t.Sensitive, t.Module = built.Options, built.Sensitive, built.Module
	return t, diags
}

func condition(ectx *hcl.EvalContext, expr hcl.Expression, name string) (bool, hcl.Diagnostics) {
	v, diags := expr.Value(ectx)
	if diags.HasErrors() {
		return false, diags
	}
	v, _ = v.UnmarkDeep()
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil || bv.IsNull() || !bv.IsKnown() {
		return false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid condition",
			Detail: fmt.Sprintf("%s must be true or false.", name), Subject: expr.Range().Ptr()}}
	}
	return bv.True(), nil
}

// order sorts resources by declaration, moving a resource after what it
// depends on (a stable topological sort, so an author's order is kept
// wherever depends_on does not say otherwise).
func order(resources []*stack.Resource) ([]*stack.Resource, error) {
	index := map[string]int{}
	for i, r := range resources {
		index[r.Addr] = i
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(resources))
	var out []*stack.Resource
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("depends_on cycle: %s", strings.Join(append(path, resources[i].Addr), " -> "))
		}
		state[i] = visiting
		for _, dep := range resources[i].DependsOn {
			j, ok := index[dep]
			if !ok {
				return fmt.Errorf("%s depends on %s, which this event does not declare", resources[i].Addr, dep)
			}
			if err := visit(j, append(path, resources[i].Addr)); err != nil {
				return err
			}
		}
		state[i] = done
		out = append(out, resources[i])
		return nil
	}
	for i := range resources {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// levelize groups layer plans so each layer comes after the layers it
// depends on. Dependencies on layers with nothing to do are ignored.
func levelize(plans []*LayerPlan) ([][]*LayerPlan, error) {
	byName := map[string]*LayerPlan{}
	for _, p := range plans {
		byName[p.Layer.Name] = p
	}
	level := map[string]int{}
	var depth func(name string, seen map[string]bool) (int, error)
	depth = func(name string, seen map[string]bool) (int, error) {
		if d, ok := level[name]; ok {
			return d, nil
		}
		if seen[name] {
			return 0, fmt.Errorf("layer depends_on cycle through %s", name)
		}
		seen[name] = true
		d := 0
		for _, dep := range byName[name].Layer.DependsOn {
			if byName[dep] == nil {
				continue
			}
			dd, err := depth(dep, seen)
			if err != nil {
				return 0, err
			}
			d = max(d, dd+1)
		}
		level[name] = d
		return d, nil
	}
	var levels [][]*LayerPlan
	for _, p := range plans {
		d, err := depth(p.Layer.Name, map[string]bool{})
		if err != nil {
			return nil, err
		}
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], p)
	}
	return levels, nil
}

// topology builds the layer object: per declared layer, its instances
// (every stack host in it, with its private IP when facts are known) and
// its settings.
func topology(in Input) cty.Value {
	instances := map[string][]cty.Value{}
	for _, l := range in.Stack.Layers {
		for _, h := range in.Hosts {
			if h.InLayer(l.Name) {
				instances[l.Name] = append(instances[l.Name], stack.InstanceValue(h, in.Facts[h.Name]))
			}
		}
	}
	return in.Stack.LayerValues(instances)
}

func layerByName(s *stack.Stack, name string) *stack.Layer {
	for _, l := range s.Layers {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func layerNames(s *stack.Stack) []string {
	var names []string
	for _, l := range s.Layers {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return names
}
