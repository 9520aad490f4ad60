package playbooks

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/stack"
)

// Doc documents one built-in layer, from its doc.hcl.
type Doc struct {
	Name        string
	Summary     string // one line
	Description string
	Settings    []SettingDoc // sorted by name
	Events      []EventDoc   // in lifecycle order
	// Extend says how a stack adds to the layer: its own recipes,
	// settings to override, resources to notify.
	Extend string
}

// SettingDoc is one setting: its default, as HCL, and what it does.
type SettingDoc struct {
	Name, Default, Doc string
}

// EventDoc says what the layer does on one lifecycle event.
type EventDoc struct {
	Event, Doc string
}

var docSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "summary", Required: true},
		{Name: "description", Required: true},
		{Name: "settings"},
		{Name: "events", Required: true},
		{Name: "extend", Required: true},
	},
}

// loadDoc reads doc.hcl and checks it against the layer: every setting
// and every lifecycle event documented, nothing documented that is not
// there.
func loadDoc(fsys fs.FS, dir, name string, ly *stack.Layer) (*Doc, hcl.Diagnostics) {
	file := path.Join(dir, "doc.hcl")
	src, err := fs.ReadFile(fsys, "doc.hcl")
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Built-in layer undocumented", Detail: fmt.Sprintf("%s: %v", file, err)}}
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	content, ds := f.Body.Content(docSchema)
	if diags = append(diags, ds...); diags.HasErrors() {
		return nil, diags
	}
	doc := &Doc{Name: name}
	str := func(attr string) string {
		a := content.Attributes[attr]
		if a == nil {
			return ""
		}
		v, ds := a.Expr.Value(nil)
		diags = append(diags, ds...)
		if ds.HasErrors() || v.Type() != cty.String || v.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid layer doc", Detail: attr + " must be a string.", Subject: a.Expr.Range().Ptr()})
			return ""
		}
		return strings.TrimSpace(v.AsString())
	}
	strMap := func(attr string) (map[string]string, *hcl.Range) {
		a := content.Attributes[attr]
		if a == nil {
			return map[string]string{}, nil
		}
		v, ds := a.Expr.Value(nil)
		diags = append(diags, ds...)
		out := map[string]string{}
		if ds.HasErrors() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid layer doc", Detail: attr + " must be an object of strings.", Subject: a.Expr.Range().Ptr()})
			return out, a.Expr.Range().Ptr()
		}
		for k, e := range v.AsValueMap() {
			if e.Type() != cty.String || e.IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid layer doc", Detail: attr + "." + k + " must be a string.", Subject: a.Expr.Range().Ptr()})
				continue
			}
			out[k] = strings.TrimSpace(e.AsString())
		}
		return out, a.Expr.Range().Ptr()
	}
	doc.Summary, doc.Description, doc.Extend = str("summary"), str("description"), str("extend")
	if ly == nil {
		return doc, diags
	}
	events, erng := strMap("events")
	for _, e := range stack.Events {
		d, ok := events[e]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Built-in layer event undocumented",
				Detail: fmt.Sprintf("%s: events must say what %q does on this layer (\"nothing\" is an answer).", file, e), Subject: erng})
			continue
		}
		doc.Events = append(doc.Events, EventDoc{Event: e, Doc: d})
		delete(events, e)
	}
	for e := range events {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown event documented", Detail: fmt.Sprintf("%s: %q is not a lifecycle event.", file, e), Subject: erng})
	}
	settings, srng := strMap("settings")
	defaults := map[string]cty.Value{}
	if s := ly.Settings; s != cty.NilVal && s.IsKnown() && !s.IsNull() && (s.Type().IsObjectType() || s.Type().IsMapType()) {
		defaults = s.AsValueMap()
	}
	for k, v := range defaults {
		d, ok := settings[k]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Built-in layer setting undocumented",
				Detail: fmt.Sprintf("%s: setting %q has no doc in settings.", file, k), Subject: srng})
			continue
		}
		doc.Settings = append(doc.Settings, SettingDoc{Name: k, Default: strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes())), Doc: d})
		delete(settings, k)
	}
	for k := range settings {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown setting documented",
			Detail: fmt.Sprintf("%s: %q is not one of the layer's settings (give every setting a default in layer.hcl).", file, k), Subject: srng})
	}
	sort.Slice(doc.Settings, func(i, j int) bool { return doc.Settings[i].Name < doc.Settings[j].Name })
	return doc, diags
}

// List prints one built-in layer per line, name first, then its summary.
func (s *Set) List(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, n := range s.Names() {
		fmt.Fprintf(tw, "%s\t%s\n", n, s.docs[n].Summary)
	}
	return tw.Flush()
}

// Text prints one layer's documentation for a terminal.
func (d *Doc) Text(w io.Writer) error {
	fmt.Fprintf(w, "%s: %s\n\n%s\n\nUse it:  layer \"NAME\" { use = %q }\n", d.Name, d.Summary, d.Description, d.Name)
	if len(d.Settings) > 0 {
		fmt.Fprintln(w, "\nSettings (settings = { ... } in the stack's layer block overrides them key by key):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range d.Settings {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Default, s.Doc)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nEvents:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range d.Events {
		fmt.Fprintf(tw, "  %s\t%s\n", e.Event, e.Doc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nExtending it:\n%s\n", indent(d.Extend, "  "))
	return err
}

// Markdown prints every layer as docs/layers.md.
func (s *Set) Markdown(w io.Writer) error {
	fmt.Fprint(w, `# Built-in layers

Generated by `+"`make docs`"+` from playbooks/layers/*/doc.hcl; a test fails when it
is stale. `+"`opsrun doc layers`"+` lists them and `+"`opsrun doc layer NAME`"+` shows one.

A stack layer uses a built-in one with `+"`use`"+`:

`+"```hcl"+`
layer "lb" {
  use      = "haproxy"
  settings = { backends = ["app"] }   # overrides the built-in's defaults key by key
  on "configure" {                    # runs after the built-in's configure recipes
    file "motd" { ... }
  }
}
`+"```"+`

The built-in's recipes run first in each event, then the stack layer's
own; resources of both can notify each other. Built-in recipes read their
settings as `+"`self.settings`"+`, so the stack layer may have any name.

| layer | what it is |
|---|---|
`)
	for _, n := range s.Names() {
		fmt.Fprintf(w, "| [`%s`](#%s) | %s |\n", n, n, s.docs[n].Summary)
	}
	for _, n := range s.Names() {
		d := s.docs[n]
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n%s\n", n, d.Summary, d.Description)
		if len(d.Settings) > 0 {
			fmt.Fprint(w, "\n| setting | default | what it does |\n|---|---|---|\n")
			for _, st := range d.Settings {
				fmt.Fprintf(w, "| `%s` | `%s` | %s |\n", st.Name, strings.ReplaceAll(st.Default, "|", `\|`), oneLine(st.Doc))
			}
		}
		fmt.Fprint(w, "\n| event | what it does |\n|---|---|\n")
		for _, e := range d.Events {
			fmt.Fprintf(w, "| %s | %s |\n", e.Event, oneLine(e.Doc))
		}
		fmt.Fprintf(w, "\n**Extending it.** %s\n", d.Extend)
	}
	return nil
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
}

func indent(s, by string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "\n")
}
