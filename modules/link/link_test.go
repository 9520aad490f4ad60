package link_test

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/link"
)

func TestFixtures(t *testing.T) { fixture.Run(t, link.Type()) }

// TestUnknown checks attributes not known yet are accepted by New and
// make Plan fail rather than act on empty values.
func TestUnknown(t *testing.T) {
	cfg := modules.Config{Attrs: map[string]cty.Value{}, Dir: t.TempDir()}
	for _, a := range link.Type().Attrs {
		cfg.Attrs[a.Name] = cty.UnknownVal(a.Type)
	}
	res, err := link.New(cfg)
	if err != nil {
		t.Fatalf("unknown attributes: %v", err)
	}
	if ps := res.Probes(fixture.DefaultHost()); len(ps) != 0 {
		t.Errorf("probes for an unknown path: %+v", ps)
	}
	if _, err := res.Plan(fixture.DefaultHost(), modules.Facts{}); err == nil {
		t.Error("Plan with unknown attributes: no error")
	}
}
