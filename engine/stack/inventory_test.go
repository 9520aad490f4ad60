package stack

import (
	"slices"
	"strings"
	"testing"

	ec2inv "github.com/opsrun/opsrun/inventory/ec2"
)

func TestEC2InventoryBlock(t *testing.T) {
	s := mustLoad(t, Inputs{Vars: []string{"env=prod"}}, map[string]string{"main.hcl": `
stack "shop" {}
variable "env" { type = string }
locals { key = "keys/${var.env}" }
inventory "ec2" {
  filters       = { "tag:stack" = [var.env] }
  layer_tag     = "role"
  identity_file = local.key
  bastion       = "jump@bastion"
}
`})
	if len(s.EC2Inventories) != 1 {
		t.Fatalf("EC2Inventories = %+v", s.EC2Inventories)
	}
	cfg := s.EC2Inventories[0]
	if !slices.Equal(cfg.Filters["tag:stack"], []string{"prod"}) || cfg.LayerTag != "role" || cfg.IdentityFile != memDir+"/keys/prod" || cfg.Bastion != "jump@bastion" {
		t.Errorf("cfg = %+v", cfg)
	}
	if cfg.DeclRange.Start.Line != 5 || !strings.HasSuffix(cfg.DeclRange.Filename, "main.hcl") {
		t.Errorf("DeclRange = %v", cfg.DeclRange)
	}
	if cfg.Port != ec2inv.DefaultPort || cfg.Address != ec2inv.DefaultAddress {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestEC2InventoryBlockErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`inventory "ec3" {}`, `Did you mean "ec2"`},
		{`inventory "ec2" { address = "nowhere" }`, "Invalid address"},
		{`inventory "ec2" { region = var.missing }`, "Unsupported attribute"},
	}
	for _, tc := range cases {
		_, diags := loadMem(t, Inputs{}, map[string]string{"main.hcl": "stack \"s\" {}\n" + tc.src + "\n"})
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s: diags = %v, want %q", tc.src, diags, tc.want)
			continue
		}
		if d := diags[0]; d.Subject == nil || d.Subject.Start.Line != 2 {
			t.Errorf("%s: diagnostic not on line 2: %v", tc.src, d.Subject)
		}
	}
}
