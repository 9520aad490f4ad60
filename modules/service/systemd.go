package service

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// systemd manages units with systemctl.
type systemd struct{}

func (systemd) probe(res *resource) modules.Probe { return facts.SystemdProbe(res.name) }

func (systemd) read(res *resource, f modules.Facts) (observed, error) {
	r, err := facts.Get(f, facts.SystemdProbe(res.name))
	if err != nil {
		return observed{}, err
	}
	u, err := facts.ParseSystemd(r)
	if err != nil {
		return observed{}, fmt.Errorf("%s: %w", unitName(res.name), err)
	}
	o := observed{
		found:        u.Found,
		missing:      "unit " + unitName(res.name) + " not found",
		enabled:      u.IsEnabled(),
		cannotEnable: u.CannotEnable(),
		daemonReload: u.Found && u.NeedDaemonReload,
		unit:         u,
	}
	switch {
	case u.Running():
		o.run = running
	case u.Stopped():
		o.run = stopped
	default:
		// activating, deactivating, maintenance: systemctl start or stop
		// waits for the pending job, then acts.
		o.run = transitional
	}
	return o, nil
}

func (systemd) command(res *resource, _ *modules.Host, o observed, verb string) (string, error) {
	if o.unit.Masked() && verb != "stop" && verb != "disable" {
		return "", fmt.Errorf("unit %s is masked, so it cannot %s; unmask it first (systemctl unmask %s)", unitName(res.name), verb, res.name)
	}
	return "systemctl " + verb + " " + res.quoted(), nil
}

// unitName is the full unit name for messages: systemctl adds .service to
// a name without a unit type suffix.
func unitName(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i >= 0 {
		switch name[i+1:] {
		case "service", "socket", "timer", "target", "path", "mount", "automount", "swap", "slice", "scope", "device":
			return name
		}
	}
	return name + ".service"
}
