// Package docs renders the resource types' schemas for people: the list
// and per-type pages of `opsrun doc`, and docs/resources.md. Everything
// comes from the types' own Attr declarations, so the documentation cannot
// drift from what the loader accepts.
package docs

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/mitchellh/go-wordwrap"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
)

// width is where text wraps in terminal output.
const width = 78

// List prints every type, one per line: its name, then the first sentence
// of its documentation, cut to fit a terminal line as ansible-doc -l does.
func List(w io.Writer, reg modules.Registry) error {
	names := reg.Names()
	col := 0
	for _, n := range names {
		col = max(col, len(n))
	}
	for _, n := range names {
		t, _ := reg.Lookup(n)
		if _, err := fmt.Fprintf(w, "%-*s  %s\n", col, n, cut(firstSentence(t.Doc), width-col-2)); err != nil {
			return err
		}
	}
	return nil
}

// cut shortens s to at most n bytes at a word boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:max(n-3, 0)]
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " ,:;") + "..."
}

// UnknownTypeError is a type name that is not in the registry.
type UnknownTypeError struct {
	Name  string
	Close []string // registered names that look like it
}

func (e *UnknownTypeError) Error() string {
	msg := fmt.Sprintf("no resource type %q", e.Name)
	if len(e.Close) > 0 {
		msg += "; did you mean " + strings.Join(e.Close, ", ") + "?"
	}
	return msg + " (opsrun doc lists them all)"
}

// Lookup finds a type, or returns an *UnknownTypeError naming the types
// whose names are close to name.
func Lookup(reg modules.Registry, name string) (*modules.Type, error) {
	if t, ok := reg.Lookup(name); ok && t != nil {
		return t, nil
	}
	return nil, &UnknownTypeError{Name: name, Close: Close(name, reg.Names())}
}

// Close returns the options that look like a typo of given, or share its
// start or contain it, closest first.
func Close(given string, options []string) []string {
	type cand struct {
		name string
		dist int
	}
	var cs []cand
	limit := max(2, len(given)/3)
	for _, o := range options {
		// A name the given one starts (dir: directory) ranks above a
		// typo of the same length (dir: git).
		switch d := levenshtein.Distance(given, o, nil); {
		case len(given) >= 3 && strings.HasPrefix(o, given):
			cs = append(cs, cand{o, 0})
		case len(given) >= 3 && (strings.Contains(o, given) || strings.Contains(given, o)):
			cs = append(cs, cand{o, 1})
		case d <= limit:
			cs = append(cs, cand{o, d + 1})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.dist - b.dist })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// Type prints one type's page, as ansible-doc does: what it is, each
// argument with its type, default and an example, an example block, and
// the arguments every resource takes.
func Type(w io.Writer, t *modules.Type) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n", strings.ToUpper(t.Name), indent(wrap(t.Doc, width-2), "  "))
	if t.Notifiable {
		fmt.Fprintf(&b, "\n%s\n", indent(wrap("Can be notified (notify = ["+t.Name+".NAME]).", width-2), "  "))
	}
	fmt.Fprintf(&b, "\nARGUMENTS\n")
	writeAttrs(&b, t.Attrs)
	fmt.Fprintf(&b, "EXAMPLE\n%s\n", indent(Example(t), "  "))
	fmt.Fprintf(&b, "META-ARGUMENTS (every resource takes them)\n")
	writeAttrs(&b, modules.MetaAttrs())
	_, err := io.WriteString(w, b.String())
	return err
}

func writeAttrs(b *strings.Builder, attrs []modules.Attr) {
	for _, a := range attrs {
		fmt.Fprintf(b, "  %s (%s)\n", a.Name, Summary(a))
		if a.Doc != "" {
			b.WriteString(indent(wrap(a.Doc, width-6), "      ") + "\n")
		}
		if a.Example != "" {
			fmt.Fprintf(b, "      example: %s = %s\n", a.Name, a.Example)
		}
		b.WriteString("\n")
	}
}

// Summary is an attribute's type, and "required" or its default.
func Summary(a modules.Attr) string {
	s := TypeName(a.Type)
	switch {
	case a.Required:
		s += ", required"
	case a.Default != cty.NilVal && !a.Default.IsNull():
		s += ", default " + Value(a.Default)
	}
	return s
}

// TypeName is a type as written in HCL: string, bool, list(string); "any"
// for attributes that take more than one type.
func TypeName(ty cty.Type) string {
	if ty == cty.NilType {
		return "any"
	}
	return typeexpr.TypeString(ty)
}

// Value is a value as written in HCL.
func Value(v cty.Value) string {
	return strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes()))
}

// Example is a resource block with the type's required arguments set to
// their examples.
func Example(t *modules.Type) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s \"example\" {\n", t.Name)
	n := 0
	for _, a := range t.Attrs {
		if a.Required {
			n = max(n, len(a.Name))
		}
	}
	for _, a := range t.Attrs {
		if !a.Required {
			continue
		}
		ex := a.Example
		if ex == "" {
			ex = "..."
		}
		fmt.Fprintf(&b, "  %-*s = %s\n", n, a.Name, ex)
	}
	b.WriteString("}\n")
	return b.String()
}

// firstSentence is the text up to the first ". " (or all of it).
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func wrap(s string, w int) string {
	return wordwrap.WrapString(strings.Join(strings.Fields(s), " "), uint(w))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
