package inventory

import (
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestStringVarAndInstanceID(t *testing.T) {
	h := &Host{Name: "web-1", Vars: map[string]cty.Value{
		"instance_id": cty.StringVal("i-0abc"),
		"private_ip":  cty.StringVal("10.0.0.5"),
		"token":       cty.StringVal("s3cret").Mark("sensitive"),
		"weight":      cty.NumberIntVal(2),
		"pending":     cty.UnknownVal(cty.String),
	}}
	if got := h.InstanceID(); got != "i-0abc" {
		t.Errorf("InstanceID = %q", got)
	}
	if got := h.StringVar("private_ip"); got != "10.0.0.5" {
		t.Errorf("private_ip = %q", got)
	}
	for _, name := range []string{"token", "weight", "pending", "missing"} {
		if got := h.StringVar(name); got != "" {
			t.Errorf("%s = %q, want \"\" (sensitive, not a string, unknown or unset)", name, got)
		}
	}
	var none *Host
	if got := none.InstanceID(); got != "" {
		t.Errorf("nil host: %q", got)
	}
	if got := (&Host{Name: "static"}).InstanceID(); got != "" {
		t.Errorf("static host: %q", got)
	}
}
