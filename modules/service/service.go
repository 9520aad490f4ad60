// Package service is the `service` resource type: a system service
// running or stopped, enabled at boot or not, restarted or reloaded when
// notified. This issue supports systemd.
package service

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Type is the `service` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Notifiable: true,
		Name:       "service",
		Doc: "A system service (a systemd unit for now): running or stopped, started at boot or not. " +
			"Notify it from the resources that change its configuration: it restarts (or reloads) once, " +
			"after them, and only when something changed.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String, Required: true,
			Doc:     "The unit's name; without a suffix it is a .service (\"nginx\" is nginx.service).",
			Example: `"nginx"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("started"),
			Doc: "started: running (started when it is not). stopped: not running. restarted and reloaded " +
				"restart or reload it on EVERY run, so they always report a change: they are not idempotent " +
				"and are rarely what you want. To restart after a configuration change, keep state = " +
				"\"started\" and notify the service from the resource that changes it. reloaded starts a " +
				"service that is not running.",
			Example: `"stopped"`},
		{Name: "enabled", Type: cty.Bool,
			Doc: "true: started at boot (systemctl enable); false: not (systemctl disable). Null leaves it " +
				"as it is. Units that cannot be enabled themselves (static, generated, indirect) count as enabled.",
			Example: `true`},
		{Name: "on_notify", Type: cty.String, Default: cty.StringVal("restart"),
			Doc: "What a notification does: restart, or reload (which starts the service when it is not " +
				"running). Nothing happens when state = \"stopped\".",
			Example: `"reload"`},
	}
}

// unitRE is a systemd unit name: letters, digits and :-_.\@ (systemd
// escapes anything else with \x..). Checked so no name can be an option.
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$`)

// resource is a service configured for one host.
type resource struct {
	name       string // as declared, what systemctl is given
	state      string
	enabled    bool
	enabledSet bool
	onNotify   string
}

// New validates c and builds a service resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		name:     r.Required("name"),
		state:    r.OneOf("state", "started", "stopped", "restarted", "reloaded"),
		onNotify: r.OneOf("on_notify", "restart", "reload"),
	}
	res.enabled, res.enabledSet = r.Bool("enabled")
	if res.name != "" && (len(res.name) > 255 || !unitRE.MatchString(res.name)) {
		r.Errorf("name", "%q is not a systemd unit name", res.name)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// unit is the full unit name for messages: systemctl adds .service to a
// name without a unit type suffix.
func (res *resource) unit() string {
	i := strings.LastIndexByte(res.name, '.')
	if i >= 0 {
		switch res.name[i+1:] {
		case "service", "socket", "timer", "target", "path", "mount", "automount", "swap", "slice", "scope", "device":
			return res.name
		}
	}
	return res.name + ".service"
}

// Probes asks systemd whether the unit is active and enabled.
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	if h.Init != "systemd" {
		return nil
	}
	return []modules.Probe{facts.SystemdProbe(res.name)}
}

// unitState reads the unit's state, refusing init systems other than systemd.
func (res *resource) unitState(h *modules.Host, f modules.Facts) (facts.Unit, error) {
	if h.Init != "systemd" {
		sys := h.Init
		if sys == "" {
			sys = "unknown"
		}
		return facts.Unit{}, fmt.Errorf("init system %s is not supported yet (only systemd is)", sys)
	}
	r, err := facts.Get(f, facts.SystemdProbe(res.name))
	if err != nil {
		return facts.Unit{}, err
	}
	u, err := facts.ParseSystemd(r)
	if err != nil {
		return facts.Unit{}, fmt.Errorf("%s: %w", res.unit(), err)
	}
	return u, nil
}

// Plan starts, stops, restarts, reloads, enables or disables as declared.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	u, err := res.unitState(h, f)
	if err != nil {
		return nil, err
	}
	var verbs []string // systemctl verbs, in the order they run
	switch res.state {
	case "started":
		if !u.Running() {
			verbs = append(verbs, "start")
		}
	case "stopped":
		if !u.Stopped() {
			verbs = append(verbs, "stop")
		}
	case "restarted":
		verbs = append(verbs, "restart")
	case "reloaded":
		if u.Running() {
			verbs = append(verbs, "reload")
		} else {
			// systemctl reload fails on a stopped unit; starting it loads
			// the current configuration, which is what a reload is for.
			verbs = append(verbs, "start")
		}
	}
	if res.enabledSet {
		switch {
		case res.enabled && !u.IsEnabled() && !u.CannotEnable():
			verbs = append(verbs, "enable")
		case !res.enabled && u.IsEnabled():
			verbs = append(verbs, "disable")
		}
	}
	if len(verbs) == 0 {
		return nil, nil
	}
	if err := res.canAct(u, verbs); err != nil {
		return nil, err
	}
	return []modules.Action{res.action(verbs...)}, nil
}

// canAct explains why systemctl cannot do verbs to the unit: it does not
// exist (maybe the package that ships it is not installed yet), or it is
// masked.
func (res *resource) canAct(u facts.Unit, verbs []string) error {
	if !u.Found {
		return fmt.Errorf("unit %s not found: %w", res.unit(), modules.ErrMissingOnHost)
	}
	if u.Masked() {
		for _, v := range verbs {
			if v != "stop" && v != "disable" {
				return fmt.Errorf("unit %s is masked, so it cannot %s; unmask it first (systemctl unmask %s)", res.unit(), v, res.name)
			}
		}
	}
	return nil
}

// action runs systemctl with each verb in turn; the summary joins them:
// "start and enable nginx".
func (res *resource) action(verbs ...string) modules.Action {
	cmds := make([]string, len(verbs))
	for i, v := range verbs {
		cmds[i] = "systemctl " + v + " " + transport.ShellQuote(res.name)
	}
	return modules.Action{
		Summary: strings.Join(verbs, " and ") + " " + res.name,
		Command: strings.Join(cmds, " && "),
	}
}

// Notified restarts or reloads the service after another resource changed
// something it depends on; a service declared stopped stays stopped.
func (res *resource) Notified(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	u, err := res.unitState(h, f)
	if err != nil {
		return nil, err
	}
	if res.state == "stopped" {
		return nil, nil
	}
	verb := res.onNotify
	if verb == "reload" && !u.Running() {
		verb = "start"
	}
	if err := res.canAct(u, []string{verb}); err != nil {
		return nil, err
	}
	a := res.action(verb)
	if verb != res.onNotify {
		a.Summary += " (notified to reload, but it was not running)"
	}
	return []modules.Action{a}, nil
}
