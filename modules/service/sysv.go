package service

import (
	"fmt"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// sysv manages SysV init scripts with service, and their runlevel links
// with update-rc.d (debian family) or chkconfig (rhel family).
type sysv struct{}

func (sysv) probe(res *resource) modules.Probe { return facts.SysVProbe(res.name) }

func (sysv) read(res *resource, f modules.Facts) (observed, error) {
	r, err := facts.Get(f, facts.SysVProbe(res.name))
	if err != nil {
		return observed{}, err
	}
	s, err := facts.ParseSysV(r)
	if err != nil {
		return observed{}, fmt.Errorf("init script %s: %w", res.name, err)
	}
	o := observed{
		found:   s.Found,
		missing: "no init script /etc/init.d/" + res.name,
		enabled: s.Enabled(),
		links:   len(s.Links) > 0,
	}
	switch {
	case !s.Found || s.Stopped():
		o.run = stopped
	case s.Running():
		o.run = running
	default:
		o.run = unknown
		o.why = fmt.Sprintf("/etc/init.d/%s status exited %d", res.name, s.Status)
		if s.Status == 4 {
			o.why += " (LSB: status unknown)"
		} else {
			o.why += ", not an LSB status (0 running, 1-3 not running, 4 unknown)"
		}
	}
	return o, nil
}

func (sysv) command(res *resource, h *modules.Host, o observed, verb string) (string, error) {
	q := res.quoted()
	switch verb {
	case "enable", "disable":
		switch h.OSFamily {
		case "debian":
			if verb == "enable" && !o.links {
				// update-rc.d enable only renames existing K links to S;
				// defaults makes the links the script's LSB header asks
				// for, and does nothing when any exist.
				return "update-rc.d " + q + " defaults", nil
			}
			return "update-rc.d " + q + " " + verb, nil
		case "rhel":
			on := map[string]string{"enable": "on", "disable": "off"}[verb]
			if verb == "enable" && !o.links {
				// chkconfig on refuses a script it does not manage yet.
				return "chkconfig --add " + q + " && chkconfig " + q + " on", nil
			}
			return "chkconfig " + q + " " + on, nil
		}
		fam := h.OSFamily
		if fam == "" {
			fam = "unknown"
		}
		return "", fmt.Errorf("cannot %s SysV script %s on a host of the %s family: only update-rc.d (debian family) and chkconfig (rhel family) are supported", verb, res.name, fam)
	}
	return "service " + q + " " + verb, nil
}
