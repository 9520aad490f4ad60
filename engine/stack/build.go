package stack

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/modules"
)

// Built is a resource configured for one scope: a host's, or during
// Validate one with unknown host facts.
type Built struct {
	Module  modules.Resource
	Options Options
	// Sensitive is true when any argument came from a sensitive value, or
	// the resource says sensitive = true.
	Sensitive bool
}

// Build evaluates the resource's arguments in ctx into typ's Config
// (defaults applied, values converted, sensitive marks noted and removed)
// and builds it with typ.New. Errors point at the argument they concern
// when the type names it (modules.AttrError), else at the resource.
func (r *Resource) Build(ctx *hcl.EvalContext, typ *modules.Type, dir string) (*Built, hcl.Diagnostics) {
	opts, diags := r.EvalOptions(ctx)
	b := &Built{Options: opts, Sensitive: opts.Sensitive}
	cfg := modules.Config{Name: r.Name, Attrs: map[string]cty.Value{}, Dir: dir, Sensitive: map[string]bool{}, Eval: ctx}
	for _, a := range typ.Attrs {
		attr, set := r.Attrs[a.Name]
		if !set {
			v := a.Default
			if v == cty.NilVal {
				v = cty.NullVal(a.Type)
			}
			cfg.Attrs[a.Name] = v
			continue
		}
		v, ds := attr.Expr.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		if v.ContainsMarked() {
			cfg.Sensitive[a.Name] = true
			b.Sensitive = true
			v, _ = v.UnmarkDeep()
		}
		cv, err := convert.Convert(v, a.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail:  fmt.Sprintf("Inappropriate value for attribute %q of %s: %s.", a.Name, r.Addr, err),
				Subject: attr.Expr.Range().Ptr()})
			continue
		}
		cfg.Attrs[a.Name] = cv
	}
	if diags.HasErrors() {
		return b, diags
	}
	if opts.Sensitive {
		// sensitive = true: every value is treated as a secret's.
		for _, a := range typ.Attrs {
			cfg.Sensitive[a.Name] = true
		}
	}
	if typ.New == nil {
		return b, nil // a schema without a builder (tests of the loader)
	}
	m, err := typ.New(cfg)
	if err != nil {
		return b, r.configDiags(err)
	}
	b.Module = m
	return b, nil
}

// configDiags turns New's error into diagnostics: one per AttrError at
// its argument when every part of the error is one about an argument the
// resource sets, else one at the resource.
func (r *Resource) configDiags(err error) hcl.Diagnostics {
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	var diags hcl.Diagnostics
	for _, p := range parts {
		var ae *modules.AttrError
		a := r.Attrs[""]
		if errors.As(p, &ae) {
			a = r.Attrs[ae.Attr]
		}
		if a == nil {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid resource configuration",
				Detail: fmt.Sprintf("%s: %v.", r.Addr, err), Subject: r.DeclRange.Ptr()}}
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource configuration",
			Detail: fmt.Sprintf("%s: %s.", r.Addr, ae.Error()), Subject: a.Expr.Range().Ptr()})
	}
	return diags
}
