package run

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	rdsinv "github.com/opsrun/opsrun/inventory/rds"
)

// ResolveRDS asks RDS for the DB instance of each of the stack's rds
// layers and records it in s.External as that layer's one instance,
// shaped as a host's entry (stack.InstanceValue): name the identifier,
// address and private_ip the endpoint's address ("" while it has none),
// public_ip "", and the DB instance's metadata as vars (see
// rdsinv.Instance.Vars). So a configure recipe reads
// layer.db.instances[0].address, .vars.port and .vars.engine as it would
// a DB layer's host. The instances are returned in layer order, for
// listing. Like DynamicHosts it is a step of its own because it calls a
// cloud API; with no rds layer it asks nothing.
//
// A host in an rds layer is an error, found before any API call: the DB
// instance is reached without SSH, so the layer has no hosts.
func ResolveRDS(ctx context.Context, s *stack.Stack, hosts []*inventory.Host, log *slog.Logger) ([]*rdsinv.Instance, error) {
	var layers []*stack.Layer
	for _, ly := range s.Layers {
		if ly.RDS == nil {
			continue
		}
		for _, h := range hosts {
			if h.InLayer(ly.Name) {
				return nil, fmt.Errorf("%s: %s", h.DeclRange, inRDSLayer(h, ly))
			}
		}
		layers = append(layers, ly)
	}
	if len(layers) == 0 {
		return nil, nil
	}
	var found []*rdsinv.Instance
	external := map[string][]cty.Value{}
	for _, ly := range layers {
		inst, err := rdsinv.Resolve(ctx, rdsinv.Config{
			Layer: ly.Name, Identifier: ly.RDS.Identifier, Region: ly.RDS.Region, Profile: ly.RDS.Profile, DeclRange: ly.RDS.DeclRange,
		}, log)
		if err != nil {
			return nil, err
		}
		found = append(found, inst)
		h := &inventory.Host{Name: inst.Identifier, Address: inst.Address, Layers: []string{ly.Name}, Vars: inst.Vars()}
		v := stack.InstanceValue(h, cty.NilVal)
		if inst.Address == "" {
			// No endpoint yet (being created): an empty address says so,
			// where the host's would fall back to its name.
			m := v.AsValueMap()
			m["address"], m["private_ip"] = cty.StringVal(""), cty.StringVal("")
			v = cty.ObjectVal(m)
		}
		external[ly.Name] = []cty.Value{v}
	}
	s.External = external
	return found, nil
}

// inRDSLayer says why h cannot be in ly, an rds layer.
func inRDSLayer(h *inventory.Host, ly *stack.Layer) string {
	r := ly.RDS.DeclRange
	return fmt.Sprintf("host %q is in layer %q, which is the RDS DB instance %q (%s:%d) and has no hosts: opsrun never connects to it; take %q out of the host's layers",
		h.Name, ly.Name, ly.RDS.Identifier, r.Filename, r.Start.Line, ly.Name)
}
