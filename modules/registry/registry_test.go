package registry_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/registry"
)

func TestBuiltin(t *testing.T) {
	r := registry.Builtin()
	want := []string{
		"archive", "blockinfile", "command", "cron", "directory", "file", "git", "group", "line", "link",
		"package", "remote_file", "script", "service", "sysctl", "template", "user",
	}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, n := range want {
		if typ, ok := r.Lookup(n); !ok || typ.Name != n {
			t.Errorf("Lookup(%q) = %v, %v", n, typ, ok)
		}
	}
	if _, ok := r.Lookup("templates"); ok {
		t.Error("Lookup found a type that does not exist")
	}
}

// The loader reads the meta-arguments first, so a type's own attribute
// with one of their names could never be set.
func TestNoAttributeShadowsAMetaArgument(t *testing.T) {
	meta := map[string]bool{}
	for _, a := range modules.MetaAttrs() {
		meta[a.Name] = true
	}
	r := registry.Builtin()
	for _, name := range r.Names() {
		typ, _ := r.Lookup(name)
		for _, a := range typ.Attrs {
			if meta[a.Name] {
				t.Errorf("%s.%s has the name of a meta-argument every resource takes", name, a.Name)
			}
		}
	}
}

// TestSchemas checks what `opsrun doc` and the loader rely on: every
// attribute documented, with an example that parses as HCL and converts to
// its type, defaults of the declared type, and no duplicate names.
func TestSchemas(t *testing.T) {
	r := registry.Builtin()
	for _, name := range r.Names() {
		typ, _ := r.Lookup(name)
		if typ.Doc == "" || typ.New == nil {
			t.Errorf("%s: missing Doc or New", name)
		}
		seen := map[string]bool{}
		for _, a := range typ.Attrs {
			where := name + "." + a.Name
			if seen[a.Name] {
				t.Errorf("%s declared twice", where)
			}
			seen[a.Name] = true
			if a.Doc == "" || !strings.HasSuffix(a.Doc, ".") {
				t.Errorf("%s: Doc must be a sentence: %q", where, a.Doc)
			}
			if a.Type == cty.NilType {
				t.Errorf("%s: no type", where)
			}
			if a.Required && a.Default != cty.NilVal {
				t.Errorf("%s: required attributes have no default", where)
			}
			if a.Default != cty.NilVal && !a.Default.Type().Equals(a.Type) {
				t.Errorf("%s: default of type %s, attribute of type %s", where, a.Default.Type().FriendlyName(), a.Type.FriendlyName())
			}
			expr, diags := hclsyntax.ParseExpression([]byte(a.Example), where, hcl.InitialPos)
			if diags.HasErrors() {
				t.Errorf("%s: example %s does not parse: %s", where, a.Example, diags)
				continue
			}
			// Examples may interpolate host facts; give them unknown values.
			v, diags := expr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{
				"host": cty.DynamicVal, "var": cty.DynamicVal,
			}})
			if diags.HasErrors() {
				t.Errorf("%s: example %s: %s", where, a.Example, diags)
				continue
			}
			if _, err := convert.Convert(v, a.Type); err != nil {
				t.Errorf("%s: example %s is not a %s: %v", where, a.Example, a.Type.FriendlyName(), err)
			}
		}
	}
}

// TestUnknownValuesValidate checks New accepts attributes that depend on
// host facts (unknown at `opsrun validate` time) without errors.
func TestUnknownValuesValidate(t *testing.T) {
	r := registry.Builtin()
	for _, name := range r.Names() {
		typ, _ := r.Lookup(name)
		cfg := modules.Config{Attrs: map[string]cty.Value{}, Dir: t.TempDir()}
		for _, a := range typ.Attrs {
			cfg.Attrs[a.Name] = cty.UnknownVal(a.Type)
		}
		if _, err := typ.New(cfg); err != nil {
			t.Errorf("%s with unknown attributes: %v", name, err)
		}
	}
}

// TestMarkedValues checks New copes with values still carrying marks (a
// sensitive variable's value that the engine did not unmark).
func TestMarkedValues(t *testing.T) {
	typ, _ := registry.Builtin().Lookup("file")
	cfg := fixture.Config(t, typ, map[string]json.RawMessage{"path": json.RawMessage(`"/etc/x"`)}, nil, t.TempDir())
	cfg.Attrs["content"] = cty.StringVal("secret").Mark("sensitive")
	if _, err := typ.New(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestSharedProbes checks that resources needing the same fact ask with
// the same ID and the same command, so the engine runs it once.
func TestSharedProbes(t *testing.T) {
	r := registry.Builtin()
	mk := func(typ string, attrs map[string]any) modules.Resource {
		ty, _ := r.Lookup(typ)
		return fixture.New(t, ty, attrs, t.TempDir())
	}
	h := fixture.DefaultHost()
	cmds := map[string]string{}
	for _, res := range []modules.Resource{
		mk("file", map[string]any{"path": "/srv/app/ready", "content": "x"}),
		mk("directory", map[string]any{"path": "/srv/app/ready"}),
		mk("command", map[string]any{"command": "touch /srv/app/ready", "creates": "/srv/app/ready"}),
		mk("file", map[string]any{"path": "/srv/app/ready", "state": "absent"}),
	} {
		for _, p := range res.Probes(h) {
			if prev, ok := cmds[p.ID]; ok && prev != p.Command {
				t.Errorf("probe %s has two commands:\n%s\n%s", p.ID, prev, p.Command)
			}
			cmds[p.ID] = p.Command
		}
	}
	if _, ok := cmds["stat:/srv/app/ready"]; !ok || len(cmds) != 2 {
		t.Errorf("want the shared stat probe and the file's content probe, got %q", cmds)
	}
}
