package lifecycle

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport"
)

// derived is st with each layer's resources for event replaced by
// events(layer): nil drops the layer from the event. The layers
// themselves stay, so the topology (layer.X.instances, settings) recipes
// see is the stack's.
func derived(st *stack.Stack, event string, events func(*stack.Layer) []*stack.Resource) *stack.Stack {
	c := *st
	c.Layers = make([]*stack.Layer, len(st.Layers))
	for i, ly := range st.Layers {
		l := *ly
		l.Events = map[string][]*stack.Resource{}
		if rs := events(ly); len(rs) > 0 {
			l.Events[event] = rs
		}
		c.Layers[i] = &l
	}
	return &c
}

// steps builds the resources opsrun generates for an app: every argument
// a static value, reported against the app block.
type steps struct {
	app *stack.App
	src stack.AppSource // the source of this deploy (its ref may be --ref's)
}

// res is one generated resource. Its address, app.NAME.STEP, cannot clash
// with a resource of the stack's own (whose addresses are TYPE.NAME).
func (g steps) res(typ, step string, attrs map[string]hcl.Expression) *stack.Resource {
	rng := g.app.DeclRange
	r := &stack.Resource{Type: typ, Name: step, Addr: "app." + g.app.Name + "." + step, Attrs: map[string]*hcl.Attribute{}, DeclRange: rng}
	for name, e := range attrs {
		r.Attrs[name] = &hcl.Attribute{Name: name, Expr: e, Range: rng, NameRange: rng}
	}
	return r
}

// static is a value known before any host.
func (g steps) static(v cty.Value) hcl.Expression { return hcl.StaticExpr(v, g.app.DeclRange) }

func (g steps) str(s string) hcl.Expression { return g.static(cty.StringVal(s)) }

// env is the app's environment as a map argument; sensitive values keep
// their mark, so the resource's output and diffs are hidden.
func (g steps) env() hcl.Expression {
	if len(g.app.Environment) == 0 {
		return g.static(cty.MapValEmpty(cty.String))
	}
	return g.static(cty.MapVal(g.app.Environment))
}

// owner adds owner = user to attrs when the app has a user.
func (g steps) owner(attrs map[string]hcl.Expression) map[string]hcl.Expression {
	if g.app.User != "" {
		attrs["owner"] = g.str(g.app.User)
	}
	return attrs
}

// asUser adds user = the app's user to a command's attrs.
func (g steps) asUser(attrs map[string]hcl.Expression) map[string]hcl.Expression {
	if g.app.User != "" {
		attrs["user"] = g.str(g.app.User)
	}
	return attrs
}

// envFile is the release's .env: KEY="value" lines that both sh (.) and
// systemd (EnvironmentFile=) read the same way.
func envFile(env map[string]cty.Value) cty.Value {
	keys := slices.Sorted(maps.Keys(env))
	var b strings.Builder
	var marks cty.ValueMarks
	for _, k := range keys {
		v, m := env[k].Unmark()
		if len(m) > 0 {
			marks = m
		}
		s := ""
		if v.IsKnown() && !v.IsNull() {
			s = v.AsString()
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, r.Replace(s))
	}
	out := cty.StringVal(b.String())
	if len(marks) > 0 {
		out = out.WithMarks(marks)
	}
	return out
}

// perHost is an argument whose value depends on the host: the release
// each host switches back to differs. Hosts not in values get def.
type perHost struct {
	values map[string]cty.Value
	def    cty.Value
	rng    hcl.Range
}

func (e perHost) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if ctx != nil {
		if h, ok := ctx.Variables["host"]; ok && h.IsKnown() && h.Type().IsObjectType() && h.Type().HasAttribute("name") {
			if n := h.GetAttr("name"); n.IsKnown() && !n.IsNull() {
				if v, ok := e.values[n.AsString()]; ok {
					return v, nil
				}
			}
		}
	}
	return e.def, nil
}

func (e perHost) Variables() []hcl.Traversal {
	return []hcl.Traversal{{hcl.TraverseRoot{Name: "host", SrcRange: e.rng}, hcl.TraverseAttr{Name: "name", SrcRange: e.rng}}}
}
func (e perHost) Range() hcl.Range      { return e.rng }
func (e perHost) StartRange() hcl.Range { return e.rng }

// q quotes for the host's sh.
func q(s string) string { return transport.ShellQuote(s) }

// releaseIDPattern matches the release directories opsrun makes, so that
// pruning never touches anything else in the releases directory.
const releaseIDPattern = `^[0-9]{8}T[0-9]{6}Z$`

// pruneList prints the release directories beyond the keep newest,
// sparing the current one: the rule state.PruneKept applies to the store.
func pruneList(app *stack.App) string {
	return fmt.Sprintf("cur=$(basename \"$(readlink %s)\"); ls -1 %s | grep -E '%s' | sort -r | awk -v k=%d -v c=\"$cur\" 'NR>k && $0!=c'",
		q(app.CurrentLink()), q(app.ReleasesDir()), releaseIDPattern, app.KeepReleases)
}
