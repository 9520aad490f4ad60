package attr_test

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/archive"
	"github.com/opsrun/opsrun/modules/git"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/remotefile"
)

// TestUnknownRefused checks, for each type that uses attr.Unknown, that values
// not known yet (validate) pass New and Plan refuses them rather than
// planning with empty values.
func TestUnknownRefused(t *testing.T) {
	for _, typ := range []*modules.Type{remotefile.Type(), archive.Type(), git.Type()} {
		cfg := modules.Config{Attrs: map[string]cty.Value{}}
		for _, a := range typ.Attrs {
			cfg.Attrs[a.Name] = cty.UnknownVal(a.Type)
		}
		res, err := typ.New(cfg)
		if err != nil {
			t.Errorf("%s: New: %v", typ.Name, err)
			continue
		}
		if _, err := res.Plan(fixture.DefaultHost(), modules.Facts{}); err == nil || !strings.Contains(err.Error(), "not known yet") {
			t.Errorf("%s: Plan: %v", typ.Name, err)
		}
	}
}

// TestUnknown checks the error names the unknown attributes in a fixed
// order, sensitive marks and all, and is nil when everything is known.
func TestUnknown(t *testing.T) {
	c := modules.Config{Attrs: map[string]cty.Value{
		"b":    cty.UnknownVal(cty.String),
		"a":    cty.UnknownVal(cty.String).Mark("sensitive"),
		"m":    cty.MapVal(map[string]cty.Value{"k": cty.UnknownVal(cty.String)}),
		"ok":   cty.StringVal("x"),
		"null": cty.NullVal(cty.String),
	}}
	err := attr.Unknown(c)
	if err == nil || err.Error() != "a, b, m depends on values that are not known yet" {
		t.Errorf("Unknown: %v", err)
	}
	if err := attr.Unknown(modules.Config{Attrs: map[string]cty.Value{"ok": cty.StringVal("x")}}); err != nil {
		t.Errorf("all known: %v", err)
	}
}

// TestInt checks the range and whole-number checks, and that null and
// unknown read as 0 without an error.
func TestInt(t *testing.T) {
	schema := []modules.Attr{{Name: "n", Type: cty.Number}}
	for _, c := range []struct {
		v    cty.Value
		want int
		err  string
	}{
		{cty.NumberIntVal(3), 3, ""},
		{cty.StringVal("7"), 7, ""},
		{cty.NullVal(cty.Number), 0, ""},
		{cty.UnknownVal(cty.Number), 0, ""},
		{cty.NumberFloatVal(1.5), 0, "1.5 is not a whole number from 1 to 10"},
		{cty.NumberIntVal(0), 0, "0 is not a whole number from 1 to 10"},
		{cty.NumberIntVal(11), 0, "11 is not a whole number from 1 to 10"},
		{cty.StringVal("x"), 0, "must be a whole number"},
	} {
		r := attr.NewReader(modules.Config{Attrs: map[string]cty.Value{"n": c.v}}, schema)
		got := r.Int("n", 1, 10)
		err := r.Err()
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%#v: %d %v, want %d %q", c.v, got, err, c.want, c.err)
		}
	}
}
