// Package service is the `service` resource type: a system service
// running or stopped, enabled at boot or not, restarted or reloaded when
// notified, through the host's init system: systemd, OpenRC or SysV init
// scripts.
package service

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
)

// Type is the `service` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Notifiable: true,
		Name:       "service",
		Doc: "A system service: a systemd unit, an OpenRC service or a SysV init script, following the " +
			"host's init system (host.init) unless provider says otherwise. Running or stopped, started at " +
			"boot or not. Notify it from the resources that change its configuration: it restarts (or " +
			"reloads) once, after them, and only when something changed. With systemd, a unit file changed " +
			"on disk is loaded (systemctl daemon-reload) before the service is started, stopped, restarted " +
			"or reloaded, so a `file` resource that writes the unit and notifies the service is enough.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String, Required: true,
			Doc: "The service's name. systemd: the unit, a .service without a suffix (\"nginx\" is " +
				"nginx.service). OpenRC: the script in /etc/init.d. SysV: the script /etc/init.d/NAME.",
			Example: `"nginx"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("started"),
			Doc: "started: running (started when it is not; an OpenRC service that crashed is restarted). " +
				"stopped: not running. restarted and reloaded restart or reload it on EVERY run, so they " +
				"always report a change: they are not idempotent and are rarely what you want. To restart " +
				"after a configuration change, keep state = \"started\" and notify the service from the " +
				"resource that changes it. reloaded starts a service that is not running.",
			Example: `"stopped"`},
		{Name: "enabled", Type: cty.Bool,
			Doc: "true: started at boot; false: not. Null leaves it as it is. systemd: systemctl " +
				"enable/disable; units that cannot be enabled themselves (static, generated, indirect) count " +
				"as enabled. OpenRC: enabled when the service is in any runlevel (rc-update show); enabling " +
				"adds it to default, disabling removes it from every runlevel it is in. SysV: enabled when an " +
				"/etc/rc?.d/S??NAME link exists; update-rc.d (debian family) or chkconfig (rhel family) " +
				"change the links.",
			Example: `true`},
		{Name: "on_notify", Type: cty.String, Default: cty.StringVal("restart"),
			Doc: "What a notification does: restart, or reload (which starts the service when it is not " +
				"running). Nothing happens when state = \"stopped\".",
			Example: `"reload"`},
		{Name: "provider", Type: cty.String,
			Doc: "The init system to manage the service with: systemd, openrc or sysvinit. Null uses the " +
				"host's (host.init); set it when that is unknown, or to manage a SysV script directly.",
			Example: `"sysvinit"`},
	}
}

// nameRE is a service name: a systemd unit name (letters, digits and
// :-_.\@; systemd escapes anything else with \x..), which also covers
// init script names. Checked so no name can be an option or a path.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$`)

// resource is a service configured for one host.
type resource struct {
	name       string // as declared, what the init system is given
	state      string
	enabled    bool
	enabledSet bool
	onNotify   string
	provider   string // "" follows the host
}

// New validates c and builds a service resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		name:     r.Required("name"),
		state:    r.OneOf("state", "started", "stopped", "restarted", "reloaded"),
		onNotify: r.OneOf("on_notify", "restart", "reload"),
		provider: r.OneOf("provider", providers...),
	}
	res.enabled, res.enabledSet = r.Bool("enabled")
	switch {
	case res.name == "":
	case r.Sensitive("name"):
		// A name is in every probe, summary and log line; it cannot be hidden.
		r.Errorf("name", "must not come from a sensitive variable: a service name is shown in plans and logs")
	case len(res.name) > 255 || !nameRE.MatchString(res.name) || res.name == "." || res.name == "..":
		r.Errorf("name", "%q is not a service name (letters, digits and :_.\\@-, not starting with -)", res.name)
	case isTemplate(res.name):
		r.Errorf("name", "%q is a systemd template: name an instance, such as %q", res.name,
			strings.Replace(res.name, "@", "@instance", 1))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// isTemplate reports whether name is a systemd template without an
// instance ("getty@", "getty@.service"): systemd can neither start it nor
// show its state.
func isTemplate(name string) bool {
	at := strings.IndexByte(name, '@')
	if at < 0 {
		return false
	}
	rest := name[at+1:]
	return rest == "" || strings.HasPrefix(rest, ".")
}

// Probes asks the init system about the service: one probe.
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	sys, err := res.initSystem(h)
	if err != nil {
		return nil
	}
	return []modules.Probe{sys.probe(res)}
}

// observe reads the service's state with the host's init system.
func (res *resource) observe(h *modules.Host, f modules.Facts) (initSystem, observed, error) {
	sys, err := res.initSystem(h)
	if err != nil {
		return nil, observed{}, err
	}
	o, err := sys.read(res, f)
	if err != nil {
		return nil, observed{}, err
	}
	return sys, o, nil
}

// Plan starts, stops, restarts, reloads, enables or disables as declared.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	sys, o, err := res.observe(h, f)
	if err != nil {
		return nil, err
	}
	var verbs []string // in the order they run
	var note string
	switch res.state {
	case "started":
		switch o.run {
		case running:
		case crashed:
			verbs, note = append(verbs, "restart"), "it crashed; start would do nothing"
		case unknown:
			return nil, res.unknownError(o)
		default:
			verbs = append(verbs, "start")
		}
	case "stopped":
		switch o.run {
		case stopped:
		case unknown:
			return nil, res.unknownError(o)
		default:
			verbs = append(verbs, "stop")
		}
	case "restarted":
		verbs = append(verbs, "restart")
	case "reloaded":
		switch o.run {
		case running, unknown:
			// unknown: the operator asked for a reload; it says itself
			// whether it worked.
			verbs = append(verbs, "reload")
		case crashed:
			verbs, note = append(verbs, "restart"), "it crashed"
		default:
			// A reload fails on a stopped service; starting it loads the
			// current configuration, which is what a reload is for.
			verbs = append(verbs, "start")
		}
	}
	if res.enabledSet {
		switch {
		case res.enabled && !o.enabled && !o.cannotEnable:
			verbs = append(verbs, "enable")
		case !res.enabled && o.enabled:
			verbs = append(verbs, "disable")
		}
	}
	if len(verbs) == 0 {
		return nil, nil
	}
	a, err := res.action(sys, h, o, verbs, note)
	if err != nil {
		return nil, err
	}
	return []modules.Action{a}, nil
}

// Notified restarts or reloads the service after another resource changed
// something it depends on; a service declared stopped stays stopped.
func (res *resource) Notified(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	sys, o, err := res.observe(h, f)
	if err != nil {
		return nil, err
	}
	if res.state == "stopped" {
		return nil, nil
	}
	verb, note := res.onNotify, ""
	if verb == "reload" {
		switch o.run {
		case running, unknown:
		case crashed:
			verb, note = "restart", "notified to reload, but it crashed"
		default:
			verb, note = "start", "notified to reload, but it was not running"
		}
	}
	a, err := res.action(sys, h, o, []string{verb}, note)
	if err != nil {
		return nil, err
	}
	return []modules.Action{a}, nil
}

// action does verbs to the service in one command, each in turn; the
// summary joins them: "start and enable nginx".
func (res *resource) action(sys initSystem, h *modules.Host, o observed, verbs []string, note string) (modules.Action, error) {
	if !o.found {
		return modules.Action{}, fmt.Errorf("%s: %w", o.missing, modules.ErrMissingOnHost)
	}
	cmds := make([]string, 0, len(verbs)+1)
	if o.daemonReload {
		cmds = append(cmds, "systemctl daemon-reload")
		if note != "" {
			note += "; "
		}
		note += "after systemctl daemon-reload: its unit file changed on disk"
	}
	for _, v := range verbs {
		cmd, err := sys.command(res, h, o, v)
		if err != nil {
			return modules.Action{}, err
		}
		cmds = append(cmds, cmd)
	}
	summary := strings.Join(verbs, " and ") + " " + res.name
	if note != "" {
		summary += " (" + note + ")"
	}
	return modules.Action{Summary: summary, Command: strings.Join(cmds, " && ")}, nil
}

// unknownError says the service's status cannot be told, so neither
// started nor stopped can be checked.
func (res *resource) unknownError(o observed) error {
	return fmt.Errorf("cannot tell whether %s runs: %s", res.name, o.why)
}
