package stack

import (
	"fmt"
	"github.com/opsrun/opsrun/modules"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/opsrun/opsrun/engine/funcs"
)

// Layer returns the layer named name, or nil.
func (s *Stack) Layer(name string) *Layer {
	for _, ly := range s.Layers {
		if ly.Name == name {
			return ly
		}
	}
	return nil
}

// EvalContext is the context resource arguments and conditions are
// evaluated in for one host: var, local, stack, the host's facts as host,
// layers as layer (build it with LayerValues) and the apps' paths and
// environment as app, with the functions of package funcs. The returned
// context and its Variables map are new (LayerContext adds self to it),
// but the values and the functions map must not be modified: they may be
// shared.
func (s *Stack) EvalContext(host, layers cty.Value) *hcl.EvalContext {
	vars, locals := s.Vars, s.Locals
	if vars == cty.NilVal {
		vars = cty.EmptyObjectVal
	}
	if locals == cty.NilVal {
		locals = cty.EmptyObjectVal
	}
	if host == cty.NilVal {
		host = cty.DynamicVal
	}
	if layers == cty.NilVal {
		layers = cty.DynamicVal
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   vars,
			"local": locals,
			"stack": s.stackValue(),
			"host":  host,
			"layer": layers,
			"app":   s.appValues(),
		},
		Functions: s.functions(),
	}
}

func (s *Stack) functions() map[string]function.Function {
	if s.funcs != nil {
		return s.funcs
	}
	// A Stack built by hand rather than by Load; building the map again is
	// cheap and leaves the Stack unmodified for concurrent callers.
	return funcs.Functions(s.Dir)
}

// stackValue is the stack variable: stack.name and stack.os.
func (s *Stack) stackValue() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"name": cty.StringVal(s.Name),
		"os":   cty.StringVal(s.Settings.OS),
	})
}

// LayerContext is ctx (from EvalContext) for a resource of the named
// layer: self is that layer's value from the layer variable.
func LayerContext(ctx *hcl.EvalContext, layer string) *hcl.EvalContext {
	layers := ctx.Variables["layer"]
	self := cty.DynamicVal
	if layers.IsKnown() && !layers.IsNull() && layers.Type().IsObjectType() && layers.Type().HasAttribute(layer) {
		self = layers.GetAttr(layer)
	}
	ctx.Variables["self"] = self
	return ctx
}

// LayerValues builds the layer variable: for each declared layer,
// layer.NAME.name, .settings, .instances, the list of host objects given
// for it in instances followed by the layer's External ones (an empty
// list when there are none), and .apps, the apps deployed on the layer
// (as app.NAME shows them), in declaration order: what a built-in app
// server runs.
func (s *Stack) LayerValues(instances map[string][]cty.Value) cty.Value {
	return s.layerValues(func(name string) cty.Value {
		hosts := append(slices.Clip(instances[name]), s.External[name]...)
		if len(hosts) == 0 {
			return cty.ListValEmpty(cty.DynamicPseudoType)
		}
		for _, h := range hosts[1:] {
			if !h.Type().Equals(hosts[0].Type()) {
				// Hosts with different facts: a tuple still indexes and
				// iterates like a list.
				return cty.TupleVal(hosts)
			}
		}
		return cty.ListVal(hosts)
	})
}

func (s *Stack) layerValues(instances func(name string) cty.Value) cty.Value {
	layers := map[string]cty.Value{}
	for _, ly := range s.Layers {
		settings := ly.Settings
		if settings == cty.NilVal {
			settings = cty.EmptyObjectVal
		}
		layers[ly.Name] = cty.ObjectVal(map[string]cty.Value{
			"name":      cty.StringVal(ly.Name),
			"settings":  settings,
			"instances": instances(ly.Name),
			"apps":      s.layerApps(ly.Name),
		})
	}
	return cty.ObjectVal(layers)
}

// Validate evaluates every resource argument and condition of every layer
// and recipe with unknown host facts and unknown layer instances, so that
// what is wrong for every host (an undeclared var, local or layer, a type
// error, a missing template) is reported before any host is contacted.
// Values that depend on the host cannot be checked here; the compiler
// reports those per host.
func (s *Stack) Validate() hcl.Diagnostics {
	ctx := s.EvalContext(unknownHost(), s.layerValues(func(string) cty.Value { return cty.DynamicVal }))
	// self is whichever layer a resource runs in; recipes are shared.
	ctx.Variables["self"] = cty.DynamicVal
	n := s.names()
	var diags hcl.Diagnostics
	seen := map[hcl.Range]bool{}
	check := func(rs []*Resource) {
		for _, r := range rs {
			if seen[r.DeclRange] {
				continue // the same declaration, through another include
			}
			seen[r.DeclRange] = true
			diags = append(diags, s.validateResource(r, ctx, n)...)
		}
	}
	for _, name := range sortedKeys(s.Recipes) {
		check(s.Recipes[name].Resources)
	}
	for _, ly := range s.Layers {
		for _, event := range Events {
			check(ly.Events[event])
		}
	}
	return sortDiags(diags)
}

func (s *Stack) validateResource(r *Resource, ctx *hcl.EvalContext, n names) hcl.Diagnostics {
	var diags hcl.Diagnostics
	exprs := []hcl.Expression{r.OnlyIf, r.NotIf, r.Options.Retries, r.Options.RetryDelay, r.Options.Timeout, r.Options.IgnoreErrors, r.Options.Sensitive}
	for _, name := range sortedKeys(r.Attrs) {
		exprs = append(exprs, r.Attrs[name].Expr)
	}
	for _, e := range exprs {
		if e != nil {
			diags = append(diags, checkRefs(e, resourceScope, n)...)
		}
	}
	if diags.HasErrors() {
		return diags
	}
	for name, e := range map[string]hcl.Expression{"only_if": r.OnlyIf, "not_if": r.NotIf} {
		if e == nil {
			continue
		}
		v, ds := e.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		v, _ = v.UnmarkDeep()
		if _, err := convert.Convert(v, cty.Bool); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Incorrect attribute value type",
				Detail:   fmt.Sprintf("Inappropriate value for argument %q of %s: %s.", name, r.Addr, err),
				Subject:  e.Range().Ptr(),
			})
		}
	}
	// The arguments, the meta-arguments and the type's own checks (a mode
	// like "999", a template that does not parse), the way the compiler
	// builds the resource for a host, on every value known without one.
	var typ *modules.Type
	if s.reg != nil {
		typ, _ = s.reg.Lookup(r.Type)
	}
	if typ == nil {
		// No schema to check against: evaluate what is written.
		typ = &modules.Type{Name: r.Type}
		for _, name := range sortedKeys(r.Attrs) {
			typ.Attrs = append(typ.Attrs, modules.Attr{Name: name, Type: cty.DynamicPseudoType})
		}
	}
	_, ds := r.Build(ctx, typ, s.Dir)
	return append(diags, ds...)
}
