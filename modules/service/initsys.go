package service

import (
	"fmt"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// providers are the init systems a service can be managed with, as
// host.init names them.
var providers = []string{"systemd", "openrc", "sysvinit"}

// initSystem is one init system's way to ask about a service and act on
// it.
type initSystem interface {
	// probe is the one probe that tells everything read needs.
	probe(res *resource) modules.Probe
	// read parses the probe's result.
	read(res *resource, f modules.Facts) (observed, error)
	// command is the shell command for one verb: start, stop, restart,
	// reload, enable, disable.
	command(res *resource, h *modules.Host, o observed, verb string) (string, error)
}

// initSystem picks the init system: the provider attribute, or the host's.
func (res *resource) initSystem(h *modules.Host) (initSystem, error) {
	name := res.provider
	if name == "" {
		name = h.Init
	}
	switch name {
	case "systemd":
		return systemd{}, nil
	case "openrc":
		return openrc{}, nil
	case "sysvinit":
		return sysv{}, nil
	}
	if name == "" {
		name = "unknown"
	}
	return nil, fmt.Errorf("the host's init system is %s, which service does not support: set provider to systemd, openrc or sysvinit", name)
}

// runState is whether the service runs, whichever the init system.
type runState int

const (
	stopped runState = iota
	running
	// transitional: systemd's activating, deactivating, maintenance.
	// Neither running nor stopped: systemctl start or stop waits for the
	// pending job, then acts.
	transitional
	// crashed: OpenRC marks it started but its daemon died. start would
	// do nothing, so it is restarted.
	crashed
	// unknown: a SysV script's status said neither (LSB 4, or not an LSB
	// status at all).
	unknown
)

// observed is what an init system tells of a service.
type observed struct {
	found   bool
	missing string // what is missing, for the error when !found
	run     runState
	why     string // why run is unknown
	enabled bool
	// cannotEnable: enabled = true has nothing to do (a static unit).
	cannotEnable bool
	// daemonReload: systemd must reload units before acting.
	daemonReload bool
	// unit is systemd's state, for masked units.
	unit facts.Unit
	// runlevels are the OpenRC runlevels the service is in.
	runlevels []string
	// links is whether a SysV script has any runlevel link (S or K).
	links bool
}

// quoted is the service name as one shell word.
func (res *resource) quoted() string { return transport.ShellQuote(res.name) }
