package stack

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// scope says which names an expression may use. Checking references
// before evaluating gives "undeclared variable" errors that say what to
// do, instead of hcl's "object has no attribute" ones.
type scope struct {
	// what names the expressions in a sentence: "Local values".
	what string
	// Which of var.*, local.*, layer.*, host.* and app.* are allowed;
	// stack.* and functions always are.
	var_, local, layer, host, app bool
}

var (
	validationScope = scope{what: "Validation conditions", var_: true}
	localScope      = scope{what: "Local values", var_: true, local: true}
	settingsScope   = scope{what: "Layer settings", var_: true, local: true}
	layerArgScope   = scope{what: "Layer arguments", var_: true, local: true}
	resourceScope   = scope{what: "Resource arguments", var_: true, local: true, layer: true, host: true, app: true}
)

// names are the declared names references are checked against.
type names struct {
	vars, locals, layers, apps map[string]bool
}

func (s *Stack) names() names {
	n := names{vars: map[string]bool{}, locals: map[string]bool{}, layers: map[string]bool{}, apps: map[string]bool{}}
	for name := range s.Variables {
		n.vars[name] = true
	}
	if s.Locals.Type().IsObjectType() {
		for name := range s.Locals.Type().AttributeTypes() {
			n.locals[name] = true
		}
	}
	for _, ly := range s.Layers {
		n.layers[ly.Name] = true
	}
	for _, a := range s.Apps {
		n.apps[a.Name] = true
	}
	return n
}

// checkRefs reports every reference in expr that sc does not allow or
// that names nothing declared.
func checkRefs(expr hcl.Expression, sc scope, n names) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(tr hcl.Traversal, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   detail,
			Subject:  tr.SourceRange().Ptr(),
		})
	}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		allowed, declared, kind, example := false, map[string]bool(nil), "", ""
		switch root {
		case "stack":
			continue
		case "var":
			allowed, declared, kind, example = sc.var_, n.vars, "input variable", `variable "%s" {}`
		case "local":
			allowed, declared, kind, example = sc.local, n.locals, "local value", `locals { %s = ... }`
		case "layer":
			allowed, declared, kind, example = sc.layer, n.layers, "layer", `layer "%s" { ... }`
		case "app":
			allowed, declared, kind, example = sc.app, n.apps, "app", `app "%s" { ... }`
		case "self":
			// The layer the resource runs in: what a built-in layer's
			// recipes read their settings and instances from, whatever the
			// stack named the layer.
			if !sc.layer {
				bad(tr, "Invalid reference", fmt.Sprintf("%s cannot use self: self is the layer a resource runs in. They can use %s.", sc.what, allowedRoots(sc)))
			}
			continue
		case "host":
			if !sc.host {
				bad(tr, "Invalid reference", fmt.Sprintf("%s cannot use host facts: they are evaluated once for the whole stack, before any host is known. Use host.* in resource arguments and conditions.", sc.what))
			}
			continue
		default:
			bad(tr, "Unknown variable", fmt.Sprintf("There is no variable named %q. %s can use %s.", root, sc.what, allowedRoots(sc)))
			continue
		}
		if !allowed {
			why := "they are evaluated before local values exist"
			switch root {
			case "layer":
				why = "a layer's instances are known only when a run starts"
			case "app":
				why = "apps are read after everything else, for resource arguments"
			}
			bad(tr, "Invalid reference", fmt.Sprintf("%s cannot use %s.*: %s. They can use %s.", sc.what, root, why, allowedRoots(sc)))
			continue
		}
		if len(tr) == 1 && (root == "layer" || root == "app") {
			continue // the whole object: [for a in app : a.name if ...]
		}
		name, ok := attrStep(tr)
		if !ok {
			bad(tr, "Invalid reference", fmt.Sprintf("A reference to %s must name one, like %s.name.", root, root))
			continue
		}
		if !declared[name] {
			var options []string
			for o := range declared {
				options = append(options, o)
			}
			sort.Strings(options)
			bad(tr, "Reference to undeclared "+kind,
				fmt.Sprintf("No %s named %q is declared; declare it with %s.%s", kind, name, fmt.Sprintf(example, name), didYouMean(name, options)))
		}
	}
	return diags
}

// attrStep returns NAME from a traversal ROOT.NAME..., also accepting
// ROOT["NAME"].
func attrStep(tr hcl.Traversal) (string, bool) {
	if len(tr) < 2 {
		return "", false
	}
	switch step := tr[1].(type) {
	case hcl.TraverseAttr:
		return step.Name, true
	case hcl.TraverseIndex:
		if k := step.Key; k.Type() == cty.String && k.IsKnown() && !k.IsNull() && !k.IsMarked() {
			return k.AsString(), true
		}
	}
	return "", false
}

func allowedRoots(sc scope) string {
	var roots []string
	if sc.var_ {
		roots = append(roots, "var.*")
	}
	if sc.local {
		roots = append(roots, "local.*")
	}
	if sc.layer {
		roots = append(roots, "layer.*", "self.*")
	}
	if sc.host {
		roots = append(roots, "host.*")
	}
	if sc.app {
		roots = append(roots, "app.*")
	}
	roots = append(roots, "stack.*")
	return strings.TrimSpace(list(roots))
}
