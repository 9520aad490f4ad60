package stack

import (
	"fmt"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var layerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "use"},
		{Name: "depends_on"},
		{Name: "max_fail_percentage"},
		{Name: "settings"},
		{Name: "auto_healing"},
		{Name: "target_groups"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "on", LabelNames: []string{"event"}}, {Type: "health_check"}, {Type: "rds"}},
}

// recipeDecl is a recipe as written, before its includes are expanded.
type recipeDecl struct {
	recipe *Recipe
	items  []item
}

// item is one entry of an on block or a recipe: a resource, or an include
// of a recipe's resources.
type item struct {
	res     *Resource
	include string
	rng     hcl.Range // the include block
}

func (l *loader) decodeRecipes(blocks []*hcl.Block) {
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.add(invalidName("recipe", name, b))
			continue
		}
		if prev := l.recipes[name]; prev != nil {
			l.add(l.duplicate("recipe", name, prev.recipe.DeclRange, b.DefRange, "recipe names must be unique within a stack"))
			continue
		}
		rd := &recipeDecl{recipe: &Recipe{Name: name, DeclRange: b.DefRange}}
		rd.items = l.decodeItems(b.Body, name)
		l.recipes[name] = rd
		l.s.Recipes[name] = rd.recipe
	}
	names := make([]string, 0, len(l.recipes))
	for name := range l.recipes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rd := l.recipes[name]
		rd.recipe.Resources = l.expand(rd.items, []string{name}, nil)
	}
}

// expand flattens items, replacing each include by the recipe's
// resources in order. chain is the recipes being expanded, to catch an
// include cycle; site is the outermost include, nil at the top.
func (l *loader) expand(items []item, chain []string, site *hcl.Range) []*Resource {
	var out []*Resource
	for _, it := range items {
		if it.res != nil {
			r := *it.res
			r.site = r.DeclRange
			if site != nil {
				r.site = *site
			}
			out = append(out, &r)
			continue
		}
		rd := l.recipes[it.include]
		if rd == nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown recipe",
				Detail:   fmt.Sprintf("There is no recipe named %q; declare it with recipe %q { ... }.%s", it.include, it.include, didYouMean(it.include, sortedKeys(l.recipes))),
				Subject:  it.rng.Ptr(),
			})
			continue
		}
		if i := slices.Index(chain, it.include); i >= 0 {
			c := cycle{nodes: chain[i:]}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Recipe include cycle",
				Detail:   fmt.Sprintf("Recipes include each other in a cycle: %s; it would never end.", c.path("")),
				Subject:  it.rng.Ptr(),
			})
			continue
		}
		s := site
		if s == nil {
			s = &it.rng
		}
		out = append(out, l.expand(rd.items, append(slices.Clip(chain), it.include), s)...)
	}
	return out
}

func (l *loader) decodeLayers(blocks []*hcl.Block) {
	seen := map[string]*Layer{}
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.add(invalidName("layer", name, b))
			continue
		}
		if prev := seen[name]; prev != nil {
			l.add(l.duplicate("layer", name, prev.DeclRange, b.DefRange, "layer names must be unique within a stack"))
			continue
		}
		ly := &Layer{Name: name, MaxFailPercentage: -1, Settings: cty.EmptyObjectVal, Events: map[string][]*Resource{}, DeclRange: b.DefRange}
		seen[name] = ly
		l.s.Layers = append(l.s.Layers, ly)
	}
	// Settings may not refer to layers, but expressions are checked
	// against every declared name, so all layers are known first.
	for _, b := range blocks {
		if ly := seen[b.Labels[0]]; ly != nil && ly.DeclRange == b.DefRange {
			l.decodeLayer(ly, b)
		}
	}
	l.checkLayerDeps()
}

func (l *loader) decodeLayer(ly *Layer, b *hcl.Block) {
	content, ds := b.Body.Content(layerSchema)
	l.add(ds...)
	var builtin *Layer
	if a, ok := content.Attributes["use"]; ok {
		if v, ok := l.evalAttr(a, nil, cty.String); ok {
			ly.Use = v.AsString()
			builtin = l.builtin(ly.Use, a.Expr.Range())
		}
	}
	if a, ok := content.Attributes["depends_on"]; ok {
		ly.dependsOn = l.layerRefs(a)
		for _, r := range ly.dependsOn {
			ly.DependsOn = append(ly.DependsOn, r.name)
		}
	}
	if a, ok := content.Attributes["max_fail_percentage"]; ok {
		if ds := checkRefs(a.Expr, layerArgScope, l.loadNames()); ds.HasErrors() {
			l.add(ds...)
		} else if n, ok := l.evalInt(a, l.loadContext(), 0, 100); ok {
			ly.MaxFailPercentage = n
		}
	}
	if a, ok := content.Attributes["settings"]; ok {
		ly.Settings = l.evalSettings(a)
	}

	events := map[string]hcl.Range{}
	for _, eb := range content.Blocks {
		if eb.Type != "on" {
			continue
		}
		event := eb.Labels[0]
		if !slices.Contains(Events, event) {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown lifecycle event",
				Detail:   fmt.Sprintf("%q is not a lifecycle event; an on block takes one of %s.%s", event, list(quoteAll(Events)), didYouMean(event, Events)),
				Subject:  eb.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev, dup := events[event]; dup {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate event block",
				Detail:   fmt.Sprintf("Layer %q already has an on %q block at %s; put all of the event's resources in that one.", ly.Name, event, l.s.at(prev)),
				Subject:  eb.DefRange.Ptr(),
			})
			continue
		}
		events[event] = eb.DefRange
		ly.Events[event] = l.expand(l.decodeItems(eb.Body, ""), nil, nil)
	}
	l.decodeLayerWatch(ly, content)

	if builtin != nil {
		ly.Settings = mergeSettings(builtin.Settings, ly.Settings)
		for event, rs := range builtin.Events {
			own := ly.Events[event]
			ly.Events[event] = nil
			for _, r := range rs {
				c := *r
				if c.site == (hcl.Range{}) {
					c.site = c.DeclRange
				}
				ly.Events[event] = append(ly.Events[event], &c)
			}
			ly.Events[event] = append(ly.Events[event], own...)
		}
	}
	for _, event := range Events {
		if rs, ok := ly.Events[event]; ok {
			l.checkEvent(ly, event, rs)
		}
	}
}

// builtin finds a built-in layer, reporting it when there is none.
func (l *loader) builtin(name string, rng hcl.Range) *Layer {
	var available []string
	if l.in.Builtins != nil {
		if b, ok := l.in.Builtins.Layer(name); ok && b != nil {
			return b
		}
		available = l.in.Builtins.Names()
	}
	detail := fmt.Sprintf("There is no built-in layer %q; no built-in layers are available yet.", name)
	if len(available) > 0 {
		detail = fmt.Sprintf("There is no built-in layer %q; the built-in layers are %s.%s", name, list(quoteAll(available)), didYouMean(name, available))
	}
	l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unknown built-in layer",
		Detail:   detail,
		Subject:  rng.Ptr(),
	})
	return nil
}

// mergeSettings lays the stack layer's settings over the built-in's, key
// by key.
func mergeSettings(base, over cty.Value) cty.Value {
	if !base.IsKnown() || base.IsNull() || !over.IsKnown() || over.IsNull() || base.IsMarked() || over.IsMarked() {
		return over
	}
	if !(base.Type().IsObjectType() || base.Type().IsMapType()) || !(over.Type().IsObjectType() || over.Type().IsMapType()) {
		return over
	}
	m := base.AsValueMap()
	if m == nil {
		m = map[string]cty.Value{}
	}
	for k, v := range over.AsValueMap() {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func (l *loader) evalSettings(a *hcl.Attribute) cty.Value {
	if ds := checkRefs(a.Expr, settingsScope, l.loadNames()); ds.HasErrors() {
		l.add(ds...)
		return cty.DynamicVal
	}
	v, ds := a.Expr.Value(l.loadContext())
	l.add(ds...)
	if ds.HasErrors() {
		return cty.DynamicVal
	}
	if v.IsNull() {
		return cty.EmptyObjectVal
	}
	if ty := v.Type(); v.IsKnown() && !(ty.IsObjectType() || ty.IsMapType()) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("A layer's settings must be an object, like settings = { port = 80 }, not %s.", typeName(ty)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.DynamicVal
	}
	return v
}

// loadNames are the names load-time expressions are checked against:
// the locals are declared before they are evaluated.
func (l *loader) loadNames() names {
	n := l.s.names()
	if l.localNames != nil {
		n.locals = l.localNames
	}
	return n
}

// layerRefs reads a layer's depends_on: a list of layer names.
func (l *loader) layerRefs(a *hcl.Attribute) []ref {
	exprs, ds := hcl.ExprList(a.Expr)
	if ds.HasErrors() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   `A layer's depends_on is a list of layer names, like depends_on = ["db"].`,
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	var refs []ref
	for _, e := range exprs {
		v, ds := e.Value(nil)
		if !ds.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			refs = append(refs, ref{name: v.AsString(), rng: e.Range()})
			continue
		}
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   `Each entry of a layer's depends_on is a layer name in quotes, like depends_on = ["db"].`,
			Subject:  e.Range().Ptr(),
		})
	}
	return refs
}

// checkLayerDeps reports depends_on entries naming no layer, and cycles.
func (l *loader) checkLayerDeps() {
	var all []string
	known := map[string]bool{}
	for _, ly := range l.s.Layers {
		all = append(all, ly.Name)
		known[ly.Name] = true
	}
	g := graph{nodes: all}
	for _, ly := range l.s.Layers {
		for _, r := range ly.dependsOn {
			if !known[r.name] {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown layer",
					Detail:   fmt.Sprintf("Layer %q depends on layer %q, which is not declared.%s", ly.Name, r.name, didYouMean(r.name, all)),
					Subject:  r.rng.Ptr(),
				})
				continue
			}
			g.edge(ly.Name, r.name, r.rng)
		}
	}
	for _, c := range g.cycles() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Layer dependency cycle",
			Detail:   fmt.Sprintf("Layers depend on each other in a cycle, so none could run first: %s.", c.path("")),
			Subject:  c.rng.Ptr(),
		})
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
