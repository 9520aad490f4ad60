package stack

import (
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/opsrun/opsrun/engine/facts"
	"github.com/opsrun/opsrun/inventory"
)

// HostValue is the host object resources see: the gathered facts plus what
// the inventory says (name, address, layers, vars). With facts not
// gathered (cty.NilVal) the facts are unknown, as in validate.
func HostValue(h *inventory.Host, factsVal cty.Value) cty.Value {
	if factsVal == cty.NilVal {
		factsVal = facts.UnknownValue()
	}
	attrs := factsVal.AsValueMap()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	attrs["name"] = cty.StringVal(h.Name)
	attrs["address"] = cty.StringVal(h.Addr())
	attrs["layers"] = stringList(h.Layers)
	if len(h.Vars) > 0 {
		attrs["vars"] = cty.ObjectVal(h.Vars)
	} else {
		attrs["vars"] = cty.EmptyObjectVal
	}
	return cty.ObjectVal(attrs)
}

// unknownHost is the host object of validate: every fact unknown but
// typed, so a misspelt host.hostnme is caught before any host is contacted.
func unknownHost() cty.Value {
	attrs := facts.UnknownValue().AsValueMap()
	attrs["name"] = cty.UnknownVal(cty.String)
	attrs["address"] = cty.UnknownVal(cty.String)
	attrs["layers"] = cty.UnknownVal(cty.List(cty.String))
	attrs["vars"] = cty.DynamicVal
	return cty.ObjectVal(attrs)
}

// InstanceValue is one entry of layer.NAME.instances: the topology a
// configure recipe reads (an LB's backends, a DB's allowed clients).
func InstanceValue(h *inventory.Host, factsVal cty.Value) cty.Value {
	private := h.Addr()
	if factsVal != cty.NilVal && factsVal.Type().IsObjectType() && factsVal.Type().HasAttribute("private_ip") {
		if ip := factsVal.GetAttr("private_ip"); ip.IsKnown() && !ip.IsNull() && ip.AsString() != "" {
			private = ip.AsString()
		}
	}
	public := ""
	if v, ok := h.Vars["public_ip"]; ok {
		if sv, err := convert.Convert(v, cty.String); err == nil && sv.IsKnown() && !sv.IsNull() {
			public = sv.AsString()
		}
	}
	vars := cty.EmptyObjectVal
	if len(h.Vars) > 0 {
		vars = cty.ObjectVal(h.Vars)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":       cty.StringVal(h.Name),
		"address":    cty.StringVal(h.Addr()),
		"private_ip": cty.StringVal(private),
		"public_ip":  cty.StringVal(public),
		"vars":       vars,
	})
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}
