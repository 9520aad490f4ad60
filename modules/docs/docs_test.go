package docs_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/docs"
	"github.com/opsrun/opsrun/modules/registry"
)

func TestListOneTypePerLineNameFirst(t *testing.T) {
	reg := registry.Builtin()
	var b bytes.Buffer
	if err := docs.List(&b, reg); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != len(reg.Names()) {
		t.Fatalf("%d lines for %d types:\n%s", len(lines), len(reg.Names()), b.String())
	}
	for i, n := range reg.Names() {
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != n {
			t.Errorf("line %d = %q, want %s first, then its summary", i, lines[i], n)
		}
		if len(lines[i]) > 80 {
			t.Errorf("line %d is wider than 80 columns: %q", i, lines[i])
		}
	}
}

func TestEveryAttributeDocumented(t *testing.T) {
	reg := registry.Builtin()
	for _, n := range reg.Names() {
		typ, _ := reg.Lookup(n)
		if typ.Doc == "" {
			t.Errorf("%s has no Doc", n)
		}
		for _, a := range append(slices.Clone(typ.Attrs), modules.MetaAttrs()...) {
			if a.Doc == "" || a.Example == "" {
				t.Errorf("%s.%s lacks a Doc or an Example", n, a.Name)
			}
		}
	}
}

func TestTypePage(t *testing.T) {
	typ, err := docs.Lookup(registry.Builtin(), "file")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := docs.Type(&b, typ); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"FILE\n",
		"  path (string, required)\n",
		`  mode (string`,
		"      example: path = ",
		"EXAMPLE\n  file \"example\" {\n",
		"META-ARGUMENTS",
		"  retries (number, default 0)\n",
		`  retry_delay (any, default "5s")`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	for _, line := range strings.Split(page, "\n") {
		if len(line) > 80 {
			t.Errorf("line wider than 80 columns: %q", line)
		}
	}
}

func TestUnknownTypeNamesCloseOnes(t *testing.T) {
	reg := registry.Builtin()
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"servce", []string{"service"}},
		{"files", []string{"file"}},
		{"pkg", nil},
		{"dir", []string{"directory"}},
	} {
		_, err := docs.Lookup(reg, tc.name)
		var ue *docs.UnknownTypeError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: %v, want an UnknownTypeError", tc.name, err)
		}
		for _, w := range tc.want {
			if !slices.Contains(ue.Close, w) {
				t.Errorf("%s: close names %v lack %s", tc.name, ue.Close, w)
			}
		}
		if len(tc.want) > 0 && ue.Close[0] != tc.want[0] {
			t.Errorf("%s: closest is %s, want %s", tc.name, ue.Close[0], tc.want[0])
		}
		if !strings.Contains(err.Error(), `"`+tc.name+`"`) {
			t.Errorf("error %q does not name what was asked", err)
		}
	}
}

// The committed docs/resources.md must be what the schemas generate now.
func TestResourcesMarkdownIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := docs.Markdown(&b, registry.Builtin()); err != nil {
		t.Fatal(err)
	}
	const path = "../../docs/resources.md"
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("docs/resources.md is stale: run make docs and commit it")
	}
	for _, n := range registry.Builtin().Names() {
		if !strings.Contains(b.String(), "\n## "+n+"\n") {
			t.Errorf("no section for %s", n)
		}
	}
}
