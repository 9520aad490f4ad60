package service

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// openrc manages services with rc-service and rc-update (Alpine, Gentoo).
type openrc struct{}

func (openrc) probe(res *resource) modules.Probe { return facts.OpenRCProbe(res.name) }

func (openrc) read(res *resource, f modules.Facts) (observed, error) {
	r, err := facts.Get(f, facts.OpenRCProbe(res.name))
	if err != nil {
		return observed{}, err
	}
	s, err := facts.ParseOpenRC(res.name, r)
	if err != nil {
		return observed{}, fmt.Errorf("OpenRC service %s: %w", res.name, err)
	}
	o := observed{
		found:     s.Found,
		missing:   "no OpenRC service " + res.name + " (no /etc/init.d/" + res.name + ")",
		enabled:   len(s.Runlevels) > 0,
		runlevels: s.Runlevels,
	}
	// OpenRC refuses to start a service again while it is starting or
	// inactive (started, waiting for something, as network interfaces
	// do), and to stop it while it is stopping: rc-service exits 1 with
	// "WARNING: ... is already starting" (openrc-run.c, svc_start_check).
	// So those count as done; a crashed one is restarted.
	switch s.Status {
	case "started", "starting", "inactive":
		o.run = running
	case "stopped", "stopping", "":
		o.run = stopped
	default: // crashed, unsupervised
		o.run = crashed
	}
	return o, nil
}

func (openrc) command(res *resource, _ *modules.Host, o observed, verb string) (string, error) {
	switch verb {
	case "enable":
		// default is the runlevel a booted system ends in; a service in
		// any runlevel already counts as enabled.
		return "rc-update add " + res.quoted() + " default", nil
	case "disable":
		// rc-update del fails for a runlevel the service is not in, so
		// it is given exactly the ones rc-update show listed.
		levels := make([]string, len(o.runlevels))
		for i, l := range o.runlevels {
			levels[i] = transport.ShellQuote(l)
		}
		return "rc-update del " + res.quoted() + " " + strings.Join(levels, " "), nil
	}
	return "rc-service " + res.quoted() + " " + verb, nil
}
