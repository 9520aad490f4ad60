package ec2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// BlockType and BlockLabel name the block this package decodes:
// `inventory "ec2" { ... }`.
const (
	BlockType  = "inventory"
	BlockLabel = "ec2"
)

var bodySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "region"},
	{Name: "profile"},
	{Name: "filters"},
	{Name: "layer_tag"},
	{Name: "address"},
	{Name: "user"},
	{Name: "port"},
	{Name: "identity_file"},
	{Name: "bastion"},
}}

// Decode reads an `inventory "ec2"` block, evaluating its expressions in
// ectx (the caller's variables and functions) and resolving identity_file
// against dir. Every problem is reported with the attribute's range.
func Decode(block *hcl.Block, ectx *hcl.EvalContext, dir string) (Config, hcl.Diagnostics) {
	cfg := Config{DeclRange: block.DefRange, LayerTag: DefaultLayerTag, Address: DefaultAddress, Port: DefaultPort}
	content, diags := block.Body.Content(bodySchema)
	attrs := content.Attributes

	// value evaluates name as want and calls set with it when present.
	value := func(name string, want cty.Type, set func(cty.Value, *hcl.Attribute)) {
		a, ok := attrs[name]
		if !ok {
			return
		}
		v, ds := a.Expr.Value(ectx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return
		}
		cv, err := convert.Convert(v, want)
		if err != nil || cv.IsNull() || !cv.IsWhollyKnown() {
			why := "it is null or not known"
			if err != nil {
				why = err.Error()
			}
			diags = append(diags, invalid(a, fmt.Sprintf("Invalid %s", name), fmt.Sprintf("%s must be %s: %s.", name, want.FriendlyName(), why)))
			return
		}
		set(cv, a)
	}
	str := func(name string, dst *string) {
		value(name, cty.String, func(v cty.Value, _ *hcl.Attribute) { *dst = v.AsString() })
	}
	str("region", &cfg.Region)
	str("profile", &cfg.Profile)
	str("layer_tag", &cfg.LayerTag)
	str("user", &cfg.User)
	str("bastion", &cfg.Bastion)
	value("identity_file", cty.String, func(v cty.Value, _ *hcl.Attribute) { cfg.IdentityFile = absPath(dir, v.AsString()) })
	value("address", cty.String, func(v cty.Value, a *hcl.Attribute) {
		switch s := v.AsString(); s {
		case AddressPrivateIP, AddressPublicIP, AddressPrivateDNS:
			cfg.Address = s
		default:
			diags = append(diags, invalid(a, "Invalid address", fmt.Sprintf("address is %q; it must be %q, %q or %q.", s, AddressPrivateIP, AddressPublicIP, AddressPrivateDNS)))
		}
	})
	value("port", cty.Number, func(v cty.Value, a *hcl.Attribute) {
		bf := v.AsBigFloat()
		p, acc := bf.Int64()
		if !bf.IsInt() || acc != 0 || p < 1 || p > 65535 {
			diags = append(diags, invalid(a, "Invalid port", "port must be a whole number from 1 to 65535."))
			return
		}
		cfg.Port = int(p)
	})
	value("filters", cty.Map(cty.List(cty.String)), func(v cty.Value, a *hcl.Attribute) {
		cfg.Filters = map[string][]string{}
		for k, vals := range v.AsValueMap() {
			if k == stateFilter {
				diags = append(diags, invalid(a, "Invalid filter", "instance-state-name cannot be filtered: the EC2 inventory always selects running instances only."))
				continue
			}
			if vals.LengthInt() == 0 {
				diags = append(diags, invalid(a, "Invalid filter", fmt.Sprintf("filter %q has no values; give at least one, e.g. %q = [\"prod\"].", k, k)))
				continue
			}
			for _, e := range vals.AsValueSlice() {
				cfg.Filters[k] = append(cfg.Filters[k], e.AsString())
			}
		}
	})
	if cfg.LayerTag == "" {
		diags = append(diags, invalid(attrs["layer_tag"], "Invalid layer_tag", "layer_tag must name the tag that holds an instance's layers, e.g. \"opsrun:layer\"."))
	}
	return cfg, diags
}

func invalid(a *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Expr.Range().Ptr()}
}

// absPath resolves p against dir, expanding a leading ~ as OpenSSH does.
func absPath(dir, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
