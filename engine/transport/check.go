package transport

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/inventory"
)

// CheckAll validates every host's connection settings before anything runs,
// so a missing key or a broken ProxyJump stops the run whole instead of
// failing host by host. Hosts with the same problem are reported together,
// one line per problem.
func CheckAll(d Dialer, hosts []*inventory.Host) error {
	type problem struct {
		hosts []string
		err   error
	}
	var order []string
	byMsg := map[string]*problem{}
	for _, h := range hosts {
		err := d.Check(h)
		if err == nil {
			continue
		}
		cause := err
		var he *HostError
		if errors.As(err, &he) {
			cause = he.Err
		}
		msg := cause.Error()
		p := byMsg[msg]
		if p == nil {
			p = &problem{err: cause}
			byMsg[msg] = p
			order = append(order, msg)
		}
		p.hosts = append(p.hosts, h.Name)
	}
	var errs []error
	for _, msg := range order {
		p := byMsg[msg]
		names := strings.Join(p.hosts, ", ")
		if len(p.hosts) > 5 {
			names = fmt.Sprintf("%s and %d more hosts", strings.Join(p.hosts[:5], ", "), len(p.hosts)-5)
		}
		errs = append(errs, fmt.Errorf("%s: %w", names, p.err))
	}
	return errors.Join(errs...)
}
