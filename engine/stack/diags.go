package stack

import (
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// evalAttr evaluates a, converts it to want and returns it unmarked. A
// null value counts as unset. ok is false when there is no usable value:
// an error (reported), null, or an unknown value (which only a failed
// variable or local yields, already reported).
func (l *loader) evalAttr(a *hcl.Attribute, ctx *hcl.EvalContext, want cty.Type) (cty.Value, bool) {
	v, ds := a.Expr.Value(ctx)
	l.add(ds...)
	if ds.HasErrors() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		l.add(typeError(a, err, want))
		return cty.NilVal, false
	}
	return cv, true
}

// evalInt evaluates a whole number in [lo, hi].
func (l *loader) evalInt(a *hcl.Attribute, ctx *hcl.EvalContext, lo, hi int) (int, bool) {
	v, ok := l.evalAttr(a, ctx, cty.Number)
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < int64(lo) || n > int64(hi) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + a.Name,
			Detail:   fmt.Sprintf("%s is %s; it must be a whole number from %d to %d.", a.Name, bf.Text('g', 10), lo, hi),
			Subject:  a.Expr.Range().Ptr(),
		})
		return 0, false
	}
	return int(n), true
}

func typeError(a *hcl.Attribute, err error, want cty.Type) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s.", a.Name, err),
		Subject:  a.Expr.Range().Ptr(),
	}
}

// at names a place in a diagnostic's detail briefly: "web.hcl:12", the
// file relative to the stack's directory.
func (s *Stack) at(r hcl.Range) string {
	name := r.Filename
	if rel, err := filepath.Rel(s.Dir, name); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	return fmt.Sprintf("%s:%d", name, r.Start.Line)
}

// typeName says what a type is, with an article: "a string", "a list of
// string".
func typeName(t cty.Type) string {
	if t == cty.DynamicPseudoType {
		return "any value"
	}
	n := t.FriendlyNameForConstraint()
	switch n[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + n
	}
	return "a " + n
}

// didYouMean returns " Did you mean "x"?" for the closest of options when
// it is close enough to be a likely typo, else "".
func didYouMean(given string, options []string) string {
	best, bestDist := "", 3 // hcl's own threshold for suggestions
	for _, o := range options {
		if d := levenshtein.Distance(given, o, nil); d < bestDist {
			best, bestDist = o, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// sortDiags drops exact duplicates (a recipe included in several events
// has the same problem in each) and orders the rest by file and position,
// diagnostics without a place first.
func sortDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	out := diags[:0:0]
	for _, d := range diags {
		key := fmt.Sprintf("%d\x00%s\x00%s", d.Severity, d.Summary, d.Detail)
		if d.Subject != nil {
			key = fmt.Sprintf("%s\x00%s", key, d.Subject.String())
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Subject, out[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		default:
			return a.Start.Column < b.Start.Column
		}
	})
	return out
}

// list joins names for a sentence: "a, b and c".
func list(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
