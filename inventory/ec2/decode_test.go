package ec2

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeSrc parses src as a file holding one inventory "ec2" block.
func decodeSrc(t *testing.T, src string) (Config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "stack.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: BlockType, LabelNames: []string{"kind"}}}})
	if diags.HasErrors() || len(content.Blocks) != 1 {
		t.Fatalf("%v (%d blocks)", diags, len(content.Blocks))
	}
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"stack": cty.StringVal("prod")}),
	}}
	return Decode(content.Blocks[0], ectx, "/stack")
}

func TestDecode(t *testing.T) {
	cfg, diags := decodeSrc(t, `
inventory "ec2" {
  region        = "eu-west-1"
  profile       = "ops"
  filters       = { "tag:stack" = [var.stack], "tag-key" = ["team", "owner"] }
  layer_tag     = "role"
  address       = "public_ip"
  user          = "admin"
  port          = 2222
  identity_file = "keys/id_ed25519"
  bastion       = "jump@bastion.example.com"
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Region != "eu-west-1" || cfg.Profile != "ops" || cfg.LayerTag != "role" || cfg.Address != AddressPublicIP ||
		cfg.User != "admin" || cfg.Port != 2222 || cfg.IdentityFile != "/stack/keys/id_ed25519" || cfg.Bastion != "jump@bastion.example.com" {
		t.Errorf("cfg = %+v", cfg)
	}
	if !slices.Equal(cfg.Filters["tag:stack"], []string{"prod"}) || !slices.Equal(cfg.Filters["tag-key"], []string{"team", "owner"}) || len(cfg.Filters) != 2 {
		t.Errorf("filters = %v", cfg.Filters)
	}
	if cfg.DeclRange.Filename != "stack.hcl" || cfg.DeclRange.Start.Line != 2 {
		t.Errorf("range = %v", cfg.DeclRange)
	}
}

func TestDecodeDefaults(t *testing.T) {
	cfg, diags := decodeSrc(t, `inventory "ec2" {}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.LayerTag != DefaultLayerTag || cfg.Address != DefaultAddress || cfg.Port != DefaultPort || cfg.Filters != nil || cfg.Region != "" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{`address = "public_dns"`, `address is "public_dns"`},
		{`port = 0`, "port must be a whole number"},
		{`port = "x"`, "Invalid port"},
		{`filters = { "instance-state-name" = ["stopped"] }`, "always selects running"},
		{`filters = { "tag:a" = [] }`, `filter "tag:a" has no values`},
		{`filters = ["tag:a"]`, "Invalid filters"},
		{`layer_tag = ""`, "layer_tag must name"},
		{`regoin = "x"`, "Unsupported argument"},
		{`region = var.nope`, "Unsupported attribute"},
	}
	for _, tc := range cases {
		_, diags := decodeSrc(t, fmt.Sprintf("inventory \"ec2\" {\n  %s\n}", tc.body))
		if !diags.HasErrors() {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		if !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, diags, tc.want)
		}
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Start.Line != 2 {
				t.Errorf("%s: diagnostic %q does not point at line 2: %v", tc.body, d.Summary, d.Subject)
			}
		}
	}
}
