package stack

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeLocals evaluates every local value once, each after the locals it
// uses. A local that fails (or is in a cycle) becomes unknown, so what
// uses it is not reported a second time.
func (l *loader) decodeLocals(blocks []*hcl.Block) {
	var order []*hcl.Attribute
	decl := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		attrs, ds := b.Body.JustAttributes()
		l.add(ds...)
		sorted := make([]*hcl.Attribute, 0, len(attrs))
		for _, a := range attrs {
			sorted = append(sorted, a)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Range.Start.Byte < sorted[j].Range.Start.Byte })
		for _, a := range sorted {
			if !hclsyntax.ValidIdentifier(a.Name) {
				continue // hcl already refused the attribute name
			}
			if prev := decl[a.Name]; prev != nil {
				l.add(l.duplicate("local value", a.Name, prev.NameRange, a.NameRange, "local names must be unique within a stack"))
				continue
			}
			decl[a.Name] = a
			order = append(order, a)
		}
	}
	l.localNames = map[string]bool{}
	for name := range decl {
		l.localNames[name] = true
	}
	n := l.s.names()
	n.locals = l.localNames

	// Which locals each local uses; references that are not allowed make
	// the local fail now.
	g := graph{}
	failed := map[string]bool{}
	for _, a := range order {
		g.nodes = append(g.nodes, a.Name)
		if ds := checkRefs(a.Expr, localScope, n); ds.HasErrors() {
			l.add(ds...)
			failed[a.Name] = true
		}
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "local" {
				continue
			}
			if dep, ok := attrStep(tr); ok && decl[dep] != nil {
				g.edge(a.Name, dep, tr.SourceRange())
			}
		}
	}
	for _, c := range g.cycles() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Local value cycle",
			Detail:   fmt.Sprintf("Local values refer to each other in a cycle: %s. Break the cycle by computing one of them from something else.", c.path("local.")),
			Subject:  c.rng.Ptr(),
		})
		for _, name := range c.nodes {
			failed[name] = true
		}
	}

	vals := map[string]cty.Value{}
	for _, name := range g.topo() {
		a := decl[name]
		if failed[name] {
			vals[name] = cty.DynamicVal
			continue
		}
		l.s.Locals = cty.ObjectVal(vals)
		v, ds := a.Expr.Value(l.loadContext())
		l.add(ds...)
		if ds.HasErrors() {
			v = cty.DynamicVal
		}
		vals[name] = v
	}
	if len(vals) > 0 {
		l.s.Locals = cty.ObjectVal(vals)
	} else {
		l.s.Locals = cty.EmptyObjectVal
	}
}

// loadContext is what load-time expressions (locals, layer settings) see:
// var, local and stack, but no host and no layer.
func (l *loader) loadContext() *hcl.EvalContext {
	ctx := l.s.EvalContext(cty.DynamicVal, cty.DynamicVal)
	delete(ctx.Variables, "host")
	delete(ctx.Variables, "layer")
	return ctx
}
