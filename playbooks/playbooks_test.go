package playbooks

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/modules/registry"
)

// TestLoad: every built-in layer loads, validates and is documented.
func TestLoad(t *testing.T) {
	set, diags := Load(registry.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(set.Names()) == 0 {
		t.Fatal("no built-in layers")
	}
	for _, n := range set.Names() {
		ly, _ := set.Layer(n)
		doc, _ := set.Doc(n)
		if ly == nil || doc == nil || doc.Summary == "" || len(doc.Events) != len(stack.Events) {
			t.Errorf("%s: layer %v doc %+v", n, ly, doc)
		}
	}
}

// TestUsable: a stack uses every built-in layer under another name and
// validates.
func TestUsable(t *testing.T) {
	set, diags := Load(registry.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	dir := t.TempDir()
	var src bytes.Buffer
	for _, n := range set.Names() {
		src.WriteString("layer \"my_" + n + "\" {\n  use = \"" + n + "\"\n}\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, diags := stack.LoadDir(dir, stack.Inputs{Builtins: set}, registry.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ds := s.Validate(); ds.HasErrors() {
		t.Fatal(ds)
	}
}

// TestDocsUpToDate: docs/layers.md is what `make docs` writes.
func TestDocsUpToDate(t *testing.T) {
	set, diags := Load(registry.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var b bytes.Buffer
	if err := set.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "docs", "layers.md"))
	if err != nil || !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/layers.md is stale: run make docs (%v)", err)
	}
}
