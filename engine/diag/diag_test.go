package diag

import (
	"bytes"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

func TestWrite(t *testing.T) {
	p := hclparse.NewParser()
	_, diags := p.ParseHCL([]byte("a = 1\nb = = 2\n"), "x.hcl")
	if !diags.HasErrors() {
		t.Fatal("want a syntax error")
	}
	var buf bytes.Buffer
	Write(&buf, diags, p.Files())
	want := "x.hcl:2:5: error: Invalid expression; Expected the start of an expression, but found an invalid expression token.\n  b = = 2\n      ^\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}
