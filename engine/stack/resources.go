package stack

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/opsrun/opsrun/modules"
)

// metaSchema are the arguments every resource takes besides its type's own.
func metaSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, a := range modules.MetaAttrs() {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	return s
}

// decodeItems reads the body of an on block or a recipe: resource blocks
// of any registered type and include blocks, in source order. Resource
// types are open-ended, so the body is walked directly rather than
// through a schema, which also lets an unknown type get its own message.
// recipe is the recipe being decoded, "" in an on block.
func (l *loader) decodeItems(body hcl.Body, recipe string) []item {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		// Stack files are always native syntax; nothing else reaches here.
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported syntax",
			Detail:   "Recipes must be written in native HCL syntax.",
			Subject:  body.MissingItemRange().Ptr(),
		})
		return nil
	}
	attrs := make([]*hclsyntax.Attribute, 0, len(sb.Attributes))
	for _, a := range sb.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].SrcRange.Start.Byte < attrs[j].SrcRange.Start.Byte })
	for _, a := range attrs {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected here: this block holds resource blocks, like package \"nginx\" { ... }, and include blocks.", a.Name),
			Subject:  a.NameRange.Ptr(),
		})
	}
	var items []item
	for _, b := range sb.Blocks {
		if b.Type == "include" {
			if name, ok := l.include(b); ok {
				items = append(items, item{include: name, rng: b.Range()})
			}
			continue
		}
		if r := l.decodeResource(b, recipe); r != nil {
			items = append(items, item{res: r})
		}
	}
	return items
}

// include checks an include "NAME" {} block.
func (l *loader) include(b *hclsyntax.Block) (string, bool) {
	hb := b.AsHCLBlock()
	if len(b.Labels) != 1 {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid include block",
			Detail:   `An include block names one recipe: include "base" {}.`,
			Subject:  hb.DefRange.Ptr(),
		})
		return "", false
	}
	_, ds := b.Body.Content(&hcl.BodySchema{})
	l.add(ds...)
	return b.Labels[0], true
}

func (l *loader) decodeResource(b *hclsyntax.Block, recipe string) *Resource {
	hb := b.AsHCLBlock()
	typ, ok := l.reg.Lookup(b.Type)
	if !ok || typ == nil {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown resource type",
			Detail:   fmt.Sprintf("There is no resource type %q.%s The types are %s.", b.Type, didYouMean(b.Type, append(l.reg.Names(), "include")), list(l.reg.Names())),
			Subject:  hb.TypeRange.Ptr(),
		})
		return nil
	}
	if len(b.Labels) != 1 {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid resource block",
			Detail:   fmt.Sprintf("A resource block has one label, its name: %s \"NAME\" { ... }.", b.Type),
			Subject:  hb.DefRange.Ptr(),
		})
		return nil
	}
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		l.add(invalidName("resource", name, hb))
		return nil
	}
	r := &Resource{
		Type:      b.Type,
		Name:      name,
		Addr:      b.Type + "." + name,
		Recipe:    recipe,
		DeclRange: hb.DefRange,
		Attrs:     map[string]*hcl.Attribute{},
	}
	meta, rest, ds := b.Body.PartialContent(metaSchema())
	l.add(ds...)
	if a, ok := meta.Attributes["depends_on"]; ok {
		r.dependsOn = l.resourceRefs(a)
		for _, ref := range r.dependsOn {
			r.DependsOn = append(r.DependsOn, ref.name)
		}
	}
	if a, ok := meta.Attributes["notify"]; ok {
		r.notify = l.resourceRefs(a)
		for _, ref := range r.notify {
			r.Notify = append(r.Notify, ref.name)
		}
	}
	if a, ok := meta.Attributes["notify_now"]; ok {
		r.notifyNow = l.resourceRefs(a)
		for _, ref := range r.notifyNow {
			r.NotifyNow = append(r.NotifyNow, ref.name)
		}
	}
	for name, e := range map[string]*hcl.Expression{
		"retries": &r.Options.Retries, "retry_delay": &r.Options.RetryDelay, "timeout": &r.Options.Timeout,
		"ignore_errors": &r.Options.IgnoreErrors, "sensitive": &r.Options.Sensitive,
	} {
		if a, ok := meta.Attributes[name]; ok {
			*e = a.Expr
		}
	}
	if a, ok := meta.Attributes["only_if"]; ok {
		r.OnlyIf = a.Expr
	}
	if a, ok := meta.Attributes["not_if"]; ok {
		r.NotIf = a.Expr
	}
	attrs, ds := rest.JustAttributes()
	l.add(ds...)
	l.checkAttrs(r, typ, attrs, hb)
	return r
}

// checkAttrs keeps the arguments the type declares and reports the others
// and the missing required ones.
func (l *loader) checkAttrs(r *Resource, typ *modules.Type, attrs hcl.Attributes, b *hcl.Block) {
	decl := map[string]bool{}
	var names []string
	for _, a := range typ.Attrs {
		decl[a.Name] = true
		names = append(names, a.Name)
	}
	for _, m := range modules.MetaAttrs() {
		names = append(names, m.Name)
	}
	for name, a := range attrs {
		if !decl[name] {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("Resource type %q has no argument %q.%s Its arguments are %s.", r.Type, name, didYouMean(name, names), list(names)),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		r.Attrs[name] = a
	}
	for _, a := range typ.Attrs {
		if a.Required && attrs[a.Name] == nil {
			doc := ""
			if a.Doc != "" {
				doc = ": " + lowerFirst(strings.TrimSuffix(a.Doc, "."))
			}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("Resource %s needs the argument %q%s.", r.Addr, a.Name, doc),
				Subject:  b.DefRange.Ptr(),
			})
		}
	}
}

// resourceRefs reads depends_on or notify: a list of references written
// TYPE.NAME, not strings, so that editors and readers see them as names.
func (l *loader) resourceRefs(a *hcl.Attribute) []ref {
	bad := func(rng hcl.Range, why string) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   fmt.Sprintf("%s takes a list of resource references like [service.nginx, file.index]; %s.", a.Name, why),
			Subject:  rng.Ptr(),
		})
	}
	exprs, ds := hcl.ExprList(a.Expr)
	if ds.HasErrors() {
		bad(a.Expr.Range(), "this is not a list")
		return nil
	}
	var refs []ref
	for _, e := range exprs {
		tr, ds := hcl.AbsTraversalForExpr(e)
		if ds.HasErrors() {
			why := "this is not a reference"
			if _, ok := e.(*hclsyntax.TemplateExpr); ok {
				why = "write the reference without quotes"
			}
			bad(e.Range(), why)
			continue
		}
		if len(tr) != 2 {
			bad(e.Range(), "a reference is a resource type and a name, TYPE.NAME")
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			bad(e.Range(), "a reference is a resource type and a name, TYPE.NAME")
			continue
		}
		refs = append(refs, ref{name: tr.RootName() + "." + attr.Name, rng: e.Range()})
	}
	return refs
}

// checkEvent checks one layer event's resources, includes expanded:
// unique addresses, depends_on and notify naming resources of the event,
// and no cycle in either.
func (l *loader) checkEvent(ly *Layer, event string, rs []*Resource) {
	where := fmt.Sprintf("layer %q's %s event", ly.Name, event)
	byAddr := map[string]*Resource{}
	var addrs []string
	for _, r := range rs {
		if prev := byAddr[r.Addr]; prev != nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate resource",
				Detail:   fmt.Sprintf("Resource %s is declared at %s%s and again at %s%s; resource addresses must be unique within %s.", r.Addr, l.s.at(prev.DeclRange), l.fromRecipe(prev), l.s.at(r.DeclRange), l.fromRecipe(r), where),
				Subject:  r.site.Ptr(),
			})
			continue
		}
		byAddr[r.Addr] = r
		addrs = append(addrs, r.Addr)
	}
	deps := graph{nodes: addrs}
	notes := graph{nodes: addrs}
	for _, r := range rs {
		if byAddr[r.Addr] != r {
			continue // a duplicate, already reported
		}
		for _, refs := range []struct {
			g    *graph
			list []ref
		}{{&deps, r.dependsOn}, {&notes, r.notify}, {&notes, r.notifyNow}} {
			for _, ref := range refs.list {
				if byAddr[ref.name] == nil {
					l.add(&hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to undeclared resource",
						Detail:   fmt.Sprintf("Resource %s refers to %s, but %s has no such resource.%s", r.Addr, ref.name, where, didYouMean(ref.name, addrs)),
						Subject:  ref.rng.Ptr(),
					})
					continue
				}
				if refs.g == &notes && !l.notifiable(byAddr[ref.name].Type) {
					l.add(&hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Resource cannot be notified",
						Detail:   fmt.Sprintf("Resource %s notifies %s, but %s resources have no notify action; notify a service (restart or reload) or a command.", r.Addr, ref.name, byAddr[ref.name].Type),
						Subject:  ref.rng.Ptr(),
					})
					continue
				}
				refs.g.edge(r.Addr, ref.name, ref.rng)
			}
		}
	}
	for _, c := range deps.cycles() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Dependency cycle",
			Detail:   fmt.Sprintf("Resources of %s depend on each other in a cycle, so none could run first: %s.", where, c.path("")),
			Subject:  c.rng.Ptr(),
		})
	}
	for _, c := range notes.cycles() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Notification cycle",
			Detail:   fmt.Sprintf("Resources of %s notify each other in a cycle, so their handlers could run forever: %s.", where, c.path("")),
			Subject:  c.rng.Ptr(),
		})
	}
}

// fromRecipe says where an included resource came from.
func (l *loader) fromRecipe(r *Resource) string {
	switch {
	case r.Recipe == "":
		return ""
	case r.site != r.DeclRange:
		return fmt.Sprintf(" (recipe %q, included at %s)", r.Recipe, l.s.at(r.site))
	}
	return fmt.Sprintf(" (recipe %q)", r.Recipe)
}

// lowerFirst lowers a sentence's first letter to continue a sentence with
// it, unless the first word is an acronym ("URL of...").
func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 1 && unicode.IsUpper(r[0]) && !unicode.IsUpper(r[1]) {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// notifiable asks the registry whether resources of typ can be notified.
func (l *loader) notifiable(typ string) bool {
	if l.s.reg == nil {
		return true
	}
	t, ok := l.s.reg.Lookup(typ)
	return !ok || t.Notifiable // an unknown type is reported elsewhere
}
