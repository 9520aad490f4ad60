package run

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
)

// Hosts gathers a stack's hosts: those declared in its own files and those
// of extra inventories (-i), with the stack's SSH defaults filled in where
// a host says nothing. A host name declared twice is an error.
func Hosts(s *stack.Stack, extra *inventory.Inventory) ([]*inventory.Host, hcl.Diagnostics) {
	all := &inventory.Inventory{}
	var diags hcl.Diagnostics
	if s.Inventory != nil {
		diags = append(diags, all.Add(s.Inventory.Hosts...)...)
	}
	if extra != nil {
		diags = append(diags, all.Add(extra.Hosts...)...)
	}
	s.ApplySSHDefaults(all.Hosts)
	// A declared host in an rds layer is the stack's mistake, shown with
	// the others; EC2's hosts are checked when they are found.
	for _, h := range all.Hosts {
		for _, ly := range s.Layers {
			if ly.RDS != nil && h.InLayer(ly.Name) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Host in an RDS layer", Detail: inRDSLayer(h, ly) + ".", Subject: h.DeclRange.Ptr()})
			}
		}
	}
	return all.Hosts, diags
}

// Targets selects the hosts an event runs on: hosts in one of the stack's
// layers (or in layer, when given), narrowed by a host pattern.
func Targets(s *stack.Stack, hosts []*inventory.Host, layer, pattern string) ([]*inventory.Host, error) {
	declared := map[string]bool{}
	var names []string
	for _, l := range s.Layers {
		declared[l.Name] = true
		names = append(names, l.Name)
	}
	if layer != "" && !declared[layer] {
		return nil, fmt.Errorf("layer %q is not declared in stack %s; its layers are: %s", layer, s.Name, strings.Join(names, ", "))
	}
	inLayers := &inventory.Inventory{}
	for _, h := range hosts {
		for _, l := range h.Layers {
			if (layer == "" && declared[l]) || l == layer {
				inLayers.Hosts = append(inLayers.Hosts, h)
				break
			}
		}
	}
	if len(inLayers.Hosts) == 0 {
		what := "any of its layers (" + strings.Join(names, ", ") + ")"
		if layer != "" {
			what = "layer " + layer
		}
		return nil, fmt.Errorf("no host is in %s: add hosts with layers = [...] to the stack or an inventory given with -i", what)
	}
	return inLayers.Select(pattern)
}
