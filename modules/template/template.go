// Package template is the `template` resource type: a file rendered on the
// controller from an HCL template with the host's facts and the stack's
// topology, then written exactly as the file type writes content.
package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/internal/attr"
)

// Type is the `template` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "template",
		Doc: "A file rendered on the controller from a template beside the stack, then written exactly like " +
			"a file resource: atomically, with mode, owner and group, an optional backup, a diff in plan and " +
			"check mode, or removed with state = \"absent\". The template uses HCL's template syntax, as " +
			"Terraform's templatefile does: ${expr} inserts a value, %{ if cond }...%{ else }...%{ endif } " +
			"and %{ for x in list }...%{ endfor } choose and repeat, a ~ inside the braces (${~ x ~}, " +
			"%{ for ... ~}) strips the whitespace on that side, and $${ or %%{ write a literal ${ or %{. " +
			"Expressions see what the resource's attributes see (host, layer, stack, var, local and every " +
			"function) plus each entry of vars by its own name. For example, with vars = { port = 8080 }, " +
			"the line `%{ for i in layer.app.instances }server ${i.private_ip}:${port}; %{ endfor }` " +
			"lists every instance of layer app, and `# ${host.hostname}` names the host. " +
			"Errors name the template's file, line and column. Content rendered from a sensitive value is " +
			"sensitive as a whole: no diff is shown and plan, check mode and logs show the summary only.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return file.WriteAttrs(
		modules.Attr{Name: "source", Type: cty.String, Required: true,
			Doc: "Path of the template on the controller; relative paths are resolved against the stack " +
				"directory. It is rendered for each host when the run is planned, so a mistake in it fails " +
				"before that host is changed.",
			Example: `"templates/nginx.conf.tmpl"`},
		modules.Attr{Name: "vars", Type: cty.DynamicPseudoType,
			Doc: "Extra values for the template, an object whose attributes it reads by name (port, not " +
				"vars.port), as with templatefile. Names must not hide the stack's own variables (host, " +
				"layer, stack, var, local).",
			Example: `{ port = 8080, workers = ["a", "b"] }`},
	)
}

// scopeNames are the variables the engine puts in every resource's scope;
// a vars entry of that name would hide them from the template.
var scopeNames = []string{"host", "layer", "stack", "var", "local"}

// New validates c, renders the template and builds the file resource that
// writes it. A template that does not parse or evaluate fails here, for
// this host, before anything is changed.
func New(c modules.Config) (modules.Resource, error) {
	return file.NewContent(c, schema(), func() (file.Content, error) { return render(c) })
}

// render reads the template named by source and evaluates it in c's scope
// plus vars. Its errors name source or vars.
func render(c modules.Config) (file.Content, error) {
	r := attr.NewReader(c, schema())
	if !r.Value("source").IsKnown() {
		return file.Content{Unknown: true}, nil
	}
	source := r.Required("source")
	vars, known := readVars(r, c)
	if err := r.Err(); err != nil || source == "" {
		return file.Content{}, err
	}
	if !known {
		return file.Content{Unknown: true}, nil
	}
	hideName := c.Sensitive["source"]
	p := source
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Dir, p)
	}
	src, err := os.ReadFile(p)
	if err != nil {
		var pe *fs.PathError
		if hideName && errors.As(err, &pe) {
			err = pe.Err // the path itself is the secret
		}
		r.Errorf("source", "%v", err)
		return file.Content{}, r.Err()
	}
	name := source
	if hideName {
		name = "template"
	}
	tmpl, diags := hclsyntax.ParseTemplate(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		r.Errorf("source", "%s", describe(diags, false))
		return file.Content{}, r.Err()
	}
	ctx := &hcl.EvalContext{}
	if c.Eval != nil {
		ctx = c.Eval.NewChild()
	}
	ctx.Variables = vars
	out, diags := tmpl.Value(ctx)
	if diags.HasErrors() {
		// A function's error may quote its argument: say what and where,
		// but not the details, when the template reads a sensitive value.
		r.Errorf("source", "%s", describe(diags, c.Sensitive["vars"] || readsMarked(tmpl, ctx)))
		return file.Content{}, r.Err()
	}
	if !out.IsWhollyKnown() {
		return file.Content{Unknown: true}, nil
	}
	sensitive := out.ContainsMarked() || c.Sensitive["vars"] || c.Sensitive["source"]
	out, _ = out.UnmarkDeep()
	s, err := convert.Convert(out, cty.String)
	if err != nil || s.IsNull() {
		r.Errorf("source", "%s renders a %s, not text", name, out.Type().FriendlyName())
		return file.Content{}, r.Err()
	}
	return file.Content{Bytes: []byte(s.AsString()), Sensitive: sensitive}, nil
}

// readVars is vars as template variables; known is false when a value is
// not known yet. Marks are kept, so what a sensitive value renders into is
// sensitive too.
func readVars(r *attr.Reader, c modules.Config) (map[string]cty.Value, bool) {
	v, ok := c.Attrs["vars"]
	if !ok || v == cty.NilVal || v.IsNull() {
		return nil, true
	}
	if !v.IsWhollyKnown() {
		return nil, false
	}
	v, marks := v.Unmark()
	if ty := v.Type(); !ty.IsObjectType() && !ty.IsMapType() {
		r.Errorf("vars", "must be an object of values by name, like { port = 8080 }, not %s", ty.FriendlyName())
		return nil, true
	}
	out := map[string]cty.Value{}
	for k, e := range v.AsValueMap() {
		switch {
		case !hclsyntax.ValidIdentifier(k):
			r.Errorf("vars", "%q is not a name a template can read (letters, digits, _ and -, not starting with a digit)", k)
		case slices.Contains(scopeNames, k) || c.Eval != nil && inScope(c.Eval, k):
			r.Errorf("vars", "%q would hide the stack's %s in the template; choose another name", k, k)
		default:
			out[k] = e.WithMarks(marks)
		}
	}
	return out, true
}

// inScope reports whether name is a variable of ctx or its parents.
func inScope(ctx *hcl.EvalContext, name string) bool {
	for ; ctx != nil; ctx = ctx.Parent() {
		if _, ok := ctx.Variables[name]; ok {
			return true
		}
	}
	return false
}

// readsMarked reports whether a value the template refers to (var.pw,
// or all of var) holds a sensitive (marked) value anywhere inside.
func readsMarked(tmpl hclsyntax.Expression, ctx *hcl.EvalContext) bool {
	for _, tr := range tmpl.Variables() {
		if v, diags := tr.TraverseAbs(ctx); !diags.HasErrors() && v.ContainsMarked() {
			return true
		}
	}
	return false
}

// describe words diagnostics as FILE:LINE:COL: what is wrong, joined with
// "; ". Without details it keeps the location and the summary only.
func describe(diags hcl.Diagnostics, noDetail bool) string {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		var b strings.Builder
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		switch detail := strings.TrimSuffix(strings.Join(strings.Fields(d.Detail), " "), "."); {
		case noDetail:
			b.WriteString(" (details hidden: the template reads a sensitive value)")
		case detail != "":
			b.WriteString(": " + detail)
		}
		msgs = append(msgs, b.String())
	}
	return strings.Join(msgs, "; ")
}
