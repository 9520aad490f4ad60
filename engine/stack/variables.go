package stack

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

// given is a value set for a variable from outside the stack's files.
type given struct {
	val cty.Value
	rng hcl.Range // where it was written; synthetic for -var and env
	how string    // "-var", "-var-file", "the environment", for messages
}

func (l *loader) decodeVariables(blocks []*hcl.Block) {
	var order []*Variable
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.add(invalidName("variable", name, b))
			continue
		}
		if prev := l.s.Variables[name]; prev != nil {
			l.add(l.duplicate("variable", name, prev.DeclRange, b.DefRange, "variable names must be unique within a stack"))
			continue
		}
		v := l.decodeVariable(name, b)
		l.s.Variables[name] = v
		order = append(order, v)
	}

	inputs := l.givenValues()
	vals := map[string]cty.Value{}
	for _, v := range order {
		vals[v.Name] = l.finalValue(v, inputs[v.Name])
	}
	if len(vals) > 0 {
		l.s.Vars = cty.ObjectVal(vals)
	}
	for _, v := range order {
		l.checkValidations(v, vals[v.Name])
	}
}

func (l *loader) decodeVariable(name string, b *hcl.Block) *Variable {
	v := &Variable{Name: name, Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	content, ds := b.Body.Content(variableSchema)
	l.add(ds...)
	if a, ok := content.Attributes["type"]; ok {
		ty, defaults, ds := typeexpr.TypeConstraintWithDefaults(a.Expr)
		l.add(ds...)
		if !ds.HasErrors() {
			v.Type, v.typeDefaults = ty, defaults
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		if d, ok := l.evalAttr(a, nil, cty.String); ok {
			v.Description = d.AsString()
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		if s, ok := l.evalAttr(a, nil, cty.Bool); ok {
			v.Sensitive = s.True()
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		val, ds := a.Expr.Value(nil)
		l.add(ds...)
		if !ds.HasErrors() {
			cv, err := v.convert(val)
			if err != nil {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("The default of variable %q is not %s: %s.", name, typeName(v.Type), err),
					Subject:  a.Expr.Range().Ptr(),
				})
				// Still a default: the variable is not required, and its
				// users should not get a second error for it.
				cv = cty.DynamicVal
			}
			v.Default = cv
		} else {
			v.Default = cty.DynamicVal
		}
	}
	for _, vb := range content.Blocks {
		c, ds := vb.Body.Content(validationSchema)
		l.add(ds...)
		val := &Validation{DeclRange: vb.DefRange}
		if a, ok := c.Attributes["condition"]; ok {
			val.Condition = a.Expr
		}
		if a, ok := c.Attributes["error_message"]; ok {
			if m, ok := l.evalAttr(a, nil, cty.String); ok {
				val.ErrorMessage = m.AsString()
			}
		}
		if val.Condition != nil {
			v.Validations = append(v.Validations, val)
		}
	}
	return v
}

// convert applies the type's optional-attribute defaults and converts.
func (v *Variable) convert(val cty.Value) (cty.Value, error) {
	if v.typeDefaults != nil {
		val = v.typeDefaults.Apply(val)
	}
	return convert.Convert(val, v.Type)
}

// givenValues gathers the values set from outside, by precedence: later
// -var-files over earlier ones, OPSRUN_VAR_* over -var-files, -var over
// everything.
func (l *loader) givenValues() map[string]given {
	out := map[string]given{}
	declared := func(name string) bool { _, ok := l.s.Variables[name]; return ok }
	for _, path := range l.in.VarFiles {
		for name, g := range l.readVarFile(path) {
			if !declared(name) {
				// A var file is often shared by several stacks: a value
				// this one does not declare is worth a warning only.
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Value for undeclared variable",
					Detail:   fmt.Sprintf("The var file sets %q, which this stack does not declare; the value is ignored.%s", name, didYouMean(name, l.variableNames())),
					Subject:  g.rng.Ptr(),
				})
				continue
			}
			out[name] = g
		}
	}
	for _, kv := range l.in.Env {
		rest, ok := strings.CutPrefix(kv, varEnvPrefix)
		if !ok {
			continue
		}
		name, raw, ok := strings.Cut(rest, "=")
		if !ok || !declared(name) {
			// The environment is shared with everything else the user
			// runs; a stray variable is no reason to refuse to work.
			continue
		}
		out[name] = l.parseRaw(name, raw, varEnvPrefix+name, "the environment")
	}
	for _, opt := range l.in.Vars {
		name, raw, ok := strings.Cut(opt, "=")
		rng := cliRange("-var " + opt)
		if !ok || name == "" {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail:   fmt.Sprintf("The -var option takes a name and a value, like -var app_port=8080; %q has no name or no \"=\".", opt),
				Subject:  &rng,
			})
			continue
		}
		if !declared(name) {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("A value was given for variable %q with -var, but the stack declares no such variable; declare it with variable %q {}, or drop the option.%s", name, name, didYouMean(name, l.variableNames())),
				Subject:  &rng,
			})
			continue
		}
		out[name] = l.parseRaw(name, raw, "-var "+name, "-var")
	}
	return out
}

func (l *loader) variableNames() []string {
	var names []string
	for n := range l.s.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// cliRange is a stand-in source range for a value from the command line
// or the environment, so its diagnostics still say where it came from.
func cliRange(what string) hcl.Range {
	return hcl.Range{Filename: "<" + what + ">", Start: hcl.InitialPos, End: hcl.InitialPos}
}

// parseRaw reads a -var or environment value. As in Terraform, the raw
// string is the value of a string (or untyped) variable and HCL syntax for
// any other type, so -var 'ports=[80, 443]' works.
func (l *loader) parseRaw(name, raw, origin, how string) given {
	rng := cliRange(origin)
	v := l.s.Variables[name]
	if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
		return given{val: cty.StringVal(raw), rng: rng, how: how}
	}
	expr, ds := hclsyntax.ParseExpression([]byte(raw), rng.Filename, hcl.InitialPos)
	if !ds.HasErrors() {
		var val cty.Value
		val, ds = expr.Value(nil)
		if !ds.HasErrors() {
			return given{val: val, rng: expr.Range(), how: how}
		}
	}
	l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for variable",
		Detail:   fmt.Sprintf("The value given for variable %q with %s must be %s written in HCL syntax, like in a stack file: %s", name, how, typeName(v.Type), ds.Error()),
		Subject:  &rng,
	})
	return given{val: cty.DynamicVal, rng: rng, how: how}
}

// readVarFile parses a -var-file: attributes only, constant values.
func (l *loader) readVarFile(path string) map[string]given {
	rng := cliRange("-var-file " + path)
	src, err := os.ReadFile(path)
	if err != nil {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read var file",
			Detail:   fmt.Sprintf("Reading -var-file %s failed: %v.", path, unwrapPathError(err)),
			Subject:  &rng,
		})
		return nil
	}
	f, ds := l.parser.ParseHCL(src, path)
	l.add(ds...)
	if ds.HasErrors() {
		return nil
	}
	attrs, ds := f.Body.JustAttributes()
	l.add(ds...)
	out := map[string]given{}
	for name, a := range attrs {
		val, ds := a.Expr.Value(nil)
		l.add(ds...)
		if ds.HasErrors() {
			val = cty.DynamicVal
		}
		out[name] = given{val: val, rng: a.Expr.Range(), how: "-var-file " + path}
	}
	return out
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// finalValue picks the variable's value, converts it to the declared type
// and marks it when sensitive. A missing or bad value is reported and
// becomes unknown, so expressions using it report nothing more.
func (l *loader) finalValue(v *Variable, g given) cty.Value {
	val := g.val
	if val == cty.NilVal {
		if v.Default == cty.NilVal {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("Variable %q has no default, so it must be set: with -var %s=..., in a -var-file, or in the environment as %s%s.", v.Name, v.Name, varEnvPrefix, v.Name),
				Subject:  v.DeclRange.Ptr(),
			})
			return cty.DynamicVal
		}
		val = v.Default
	} else if val.IsWhollyKnown() {
		cv, err := v.convert(val)
		if err != nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("The value given for variable %q with %s is not %s: %s.", v.Name, g.how, typeName(v.Type), err),
				Subject:  g.rng.Ptr(),
			})
			return cty.DynamicVal
		}
		val = cv
	}
	if v.Sensitive {
		val = val.Mark(SensitiveMark)
	}
	return val
}

// checkValidations evaluates the variable's validation conditions against
// its final value.
func (l *loader) checkValidations(v *Variable, val cty.Value) {
	if len(v.Validations) == 0 || !val.IsWhollyKnown() {
		return
	}
	ctx := l.s.EvalContext(cty.DynamicVal, cty.DynamicVal)
	n := l.s.names()
	for _, vd := range v.Validations {
		if ds := checkRefs(vd.Condition, validationScope, n); ds.HasErrors() {
			l.add(ds...)
			continue
		}
		res, ds := vd.Condition.Value(ctx)
		l.add(ds...)
		if ds.HasErrors() {
			continue
		}
		res, _ = res.UnmarkDeep()
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() {
			msg := "it is null"
			if err != nil {
				msg = err.Error()
			}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation condition",
				Detail:   fmt.Sprintf("A validation condition must be true or false: %s.", msg),
				Subject:  vd.Condition.Range().Ptr(),
			})
			continue
		}
		if !res.IsKnown() || res.True() {
			continue
		}
		msg := vd.ErrorMessage
		if msg == "" {
			msg = fmt.Sprintf("The value of variable %q does not satisfy this condition.", v.Name)
		}
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", msg, l.s.at(vd.DeclRange)),
			Subject:  vd.Condition.Range().Ptr(),
		})
	}
}

func invalidName(kind, name string, b *hcl.Block) *hcl.Diagnostic {
	rng := b.DefRange
	if len(b.LabelRanges) > 0 {
		rng = b.LabelRanges[0]
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + kind + " name",
		Detail:   fmt.Sprintf("%s %s name must start with a letter and contain only letters, digits, '_' and '-', so that expressions can refer to it; %q does not.", article(kind), kind, name),
		Subject:  &rng,
	}
}

func (l *loader) duplicate(kind, name string, first, again hcl.Range, rule string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + kind,
		Detail:   fmt.Sprintf("%s %s named %q was already declared at %s; %s.", article(kind), kind, name, l.s.at(first), rule),
		Subject:  again.Ptr(),
	}
}

// article is "An" before a kind that starts with a vowel, else "A".
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "An"
	}
	return "A"
}
