package funcs

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func eval(t *testing.T, dir, src string, vars map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %v", src, diags)
	}
	return expr.Value(&hcl.EvalContext{Variables: vars, Functions: Functions(dir)})
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "motd.txt"), []byte("welcome\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl := "%{ for b in backends ~}\nserver ${b}:${port};\n%{ endfor ~}\n${upper(name)}"
	if err := os.WriteFile(filepath.Join(dir, "templates", "up.tpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  string
		want cty.Value
	}{
		{`format("%s:%d", "web", 80)`, cty.StringVal("web:80")},
		{`join(",", split(" ", "a b c"))`, cty.StringVal("a,b,c")},
		{`lookup({a = 1}, "b", 2)`, cty.NumberIntVal(2)},
		{`merge({a = 1}, {b = 2})`, cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1), "b": cty.NumberIntVal(2)})},
		{`length(concat([1], [2, 3]))`, cty.NumberIntVal(3)},
		{`length("héllo")`, cty.NumberIntVal(5)},
		{`length({a = 1, b = 2})`, cty.NumberIntVal(2)},
		{`contains(["a", "b"], "b")`, cty.True},
		{`replace("a-b-c", "-", "_")`, cty.StringVal("a_b_c")},
		{`replace("web-12", "/[0-9]+/", "N")`, cty.StringVal("web-N")},
		{`index(["a", "b", "c"], "c")`, cty.NumberIntVal(2)},
		{`element(["a", "b"], 3)`, cty.StringVal("b")},
		{`reverse([1, 2])`, cty.TupleVal([]cty.Value{cty.NumberIntVal(2), cty.NumberIntVal(1)})},
		{`jsonencode({port = 80})`, cty.StringVal(`{"port":80}`)},
		{`jsondecode("[1]")[0]`, cty.NumberIntVal(1)},
		{`base64decode(base64encode("hi"))`, cty.StringVal("hi")},
		{`sha256("abc")`, cty.StringVal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")},
		{`md5("abc")`, cty.StringVal("900150983cd24fb0d6963f7d28e17f72")},
		{`cidrhost("10.0.0.0/24", 5)`, cty.StringVal("10.0.0.5")},
		{`cidrsubnet("10.0.0.0/16", 8, 2)`, cty.StringVal("10.0.2.0/24")},
		{`cidrnetmask("10.0.0.0/20")`, cty.StringVal("255.255.240.0")},
		{`tonumber("42")`, cty.NumberIntVal(42)},
		{`coalesce("", "x")`, cty.StringVal("x")},
		{`try(nope.attr, "fallback")`, cty.StringVal("fallback")},
		{`can(tonumber("x"))`, cty.False},
		{`startswith("debian", "deb")`, cty.True},
		{`file("motd.txt")`, cty.StringVal("welcome\n")},
		{`fileexists("motd.txt")`, cty.True},
		{`fileexists("absent.txt")`, cty.False},
		{`filemd5("motd.txt")`, cty.StringVal(fmt.Sprintf("%x", md5.Sum([]byte("welcome\n"))))},
		{`templatefile("templates/up.tpl", {backends = ["a", "b"], port = 80, name = "lb"})`, cty.StringVal("server a:80;\nserver b:80;\nLB")},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, diags := eval(t, dir, tt.src, nil)
			if diags.HasErrors() {
				t.Fatalf("%s: %v", tt.src, diags)
			}
			if !got.RawEquals(tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.src, got, tt.want)
			}
		})
	}
}

func TestTemplatefileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.tpl"), []byte("${missing} ${templatefile(\"t.tpl\", {})}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := eval(t, dir, `templatefile("t.tpl", {})`, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `does not contain key "missing"`) {
		t.Errorf("want a missing-key error, got %v", diags)
	}
	_, diags = eval(t, dir, `templatefile("nope.tpl", {})`, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "no file exists") {
		t.Errorf("want a missing-file error, got %v", diags)
	}
	// A template cannot call templatefile: that would allow endless recursion.
	if err := os.WriteFile(filepath.Join(dir, "r.tpl"), []byte(`${templatefile("r.tpl", {})}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags = eval(t, dir, `templatefile("r.tpl", {})`, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "templatefile") {
		t.Errorf("want an error for recursive templatefile, got %v", diags)
	}
}

func TestUnknownAndSensitive(t *testing.T) {
	vars := map[string]cty.Value{
		"host":   cty.DynamicVal,
		"secret": cty.StringVal("hunter2").Mark(SensitiveMark),
	}
	got, diags := eval(t, "", `upper(host.name)`, vars)
	if diags.HasErrors() || got.IsKnown() {
		t.Errorf("unknown argument must give an unknown result, got %#v %v", got, diags)
	}
	got, diags = eval(t, "", `format("pw=%s", secret)`, vars)
	if diags.HasErrors() || !got.HasMark(SensitiveMark) {
		t.Errorf("a value computed from a sensitive one must stay sensitive, got %#v %v", got, diags)
	}
	got, diags = eval(t, "", `length(secret)`, vars)
	if diags.HasErrors() || !got.HasMark(SensitiveMark) || !got.IsKnown() {
		t.Errorf("length of a sensitive string: %#v %v", got, diags)
	}
	got, diags = eval(t, "", `length(host)`, vars)
	if diags.HasErrors() || got.IsKnown() {
		t.Errorf("length of an unknown value must be unknown: %#v %v", got, diags)
	}
	got, diags = eval(t, "", `nonsensitive(secret)`, vars)
	if diags.HasErrors() || got.IsMarked() {
		t.Errorf("nonsensitive must drop the mark, got %#v %v", got, diags)
	}
	got, diags = eval(t, "", `sensitive("x")`, vars)
	if diags.HasErrors() || !got.HasMark(SensitiveMark) {
		t.Errorf("sensitive must mark, got %#v %v", got, diags)
	}
}
