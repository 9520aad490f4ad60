package run

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	ec2inv "github.com/opsrun/opsrun/inventory/ec2"
)

// DynamicHosts resolves the stack's dynamic inventories (its inventory
// "ec2" blocks) and returns hosts followed by their hosts, with the
// stack's SSH defaults filled in as Hosts does for static ones. It is a
// step of its own, apart from Hosts, because it calls cloud APIs: commands
// that only check the stack (validate) never take it. A name already taken
// by an earlier host is an error naming both declarations.
func DynamicHosts(ctx context.Context, s *stack.Stack, hosts []*inventory.Host, log *slog.Logger) ([]*inventory.Host, error) {
	all := &inventory.Inventory{Hosts: slices.Clone(hosts)}
	for _, cfg := range s.EC2Inventories {
		found, err := ec2inv.Resolve(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		s.ApplySSHDefaults(found)
		for _, h := range found {
			if prev := all.Host(h.Name); prev != nil {
				return nil, fmt.Errorf("%s:%d: inventory \"ec2\" found host %q, a name already declared at %s; host names must be unique across inventories (rename one, or narrow the filters)", cfg.DeclRange.Filename, cfg.DeclRange.Start.Line, h.Name, prev.DeclRange)
			}
			all.Hosts = append(all.Hosts, h)
		}
	}
	return all.Hosts, nil
}
