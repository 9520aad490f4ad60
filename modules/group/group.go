// Package group is the `group` resource type: a local group account
// present (with a gid) or absent.
package group

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/account"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Type is the `group` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "group",
		Doc: "A local group account, present with the declared gid or absent. Groups are made with " +
			"groupadd, groupmod and groupdel (shadow-utils, on Debian, RHEL, SUSE and Arch); on Alpine " +
			"without the shadow package, with busybox's addgroup and delgroup, which cannot change the gid " +
			"of an existing group.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String, Required: true,
			Doc: "The group's name: lowercase letters, digits, _ . and -, starting with a letter or _, " +
				"optionally ending with $, at most 32 characters.",
			Example: `"deploy"`},
		{Name: "gid", Type: cty.Number,
			Doc: "The numeric group id, enforced: an existing group with another gid is changed (groupmod " +
				"-g; files keep the old gid, fix them yourself). Null picks a free gid when the group is " +
				"created and leaves it alone afterwards.",
			Example: `1500`},
		{Name: "system", Type: cty.Bool, Default: cty.False,
			Doc: "Create a system group (a gid from the system range, groupadd -r). Only used when the " +
				"group is created.",
			Example: `true`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the group exists (with gid when set). absent: the group is removed when it " +
				"exists; removing a group that is some user's primary group fails on the host.",
			Example: `"absent"`},
	}
}

// resource is a group configured for one host.
type resource struct {
	name   string
	gid    uint32
	gidSet bool
	system bool
	state  string
}

// New validates c and builds a group resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		name:  r.Required("name"),
		state: r.OneOf("state", "present", "absent"),
	}
	res.system, _ = r.Bool("system")
	if res.name != "" && !account.ValidName(res.name) {
		r.Errorf("name", "%s is not a valid group name (lowercase letters, digits, _ . -, starting with a letter or _, at most 32 characters)", r.Quote("name", res.name))
	}
	res.gid, res.gidSet = account.ReadID(r, "gid")
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

func (res *resource) probe(h *modules.Host) modules.Probe {
	return facts.GroupProbe(res.name, account.ProbeTools(h))
}

// Probes asks for the group's entry (and on Alpine, the tools).
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	return []modules.Probe{res.probe(h)}
}

// Plan creates, changes or removes the group.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	r, err := facts.Get(f, res.probe(h))
	if err != nil {
		return nil, err
	}
	g, err := facts.ParseGroup(r)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", res.name, err)
	}
	busybox := g.Tools == "busybox"
	q := transport.ShellQuote(res.name)
	if res.state == "absent" {
		if !g.Exists {
			return nil, nil
		}
		cmd := "groupdel " + q
		if busybox {
			cmd = "delgroup " + q
		}
		return []modules.Action{{Summary: "remove group " + res.name, Command: cmd}}, nil
	}
	if !g.Exists {
		var what, cmd string
		switch {
		case busybox:
			cmd = "addgroup"
			if res.gidSet {
				cmd += fmt.Sprintf(" -g %d", res.gid)
			}
			if res.system {
				cmd += " -S"
			}
		default:
			cmd = "groupadd"
			if res.gidSet {
				cmd += fmt.Sprintf(" -g %d", res.gid)
			}
			if res.system {
				cmd += " -r"
			}
		}
		switch {
		case res.gidSet && res.system:
			what = fmt.Sprintf(" (system, gid %d)", res.gid)
		case res.gidSet:
			what = fmt.Sprintf(" (gid %d)", res.gid)
		case res.system:
			what = " (system)"
		}
		return []modules.Action{{Summary: "create group " + res.name + what, Command: cmd + " " + q}}, nil
	}
	if !res.gidSet || g.Group.GID == res.gid {
		return nil, nil
	}
	if busybox {
		return nil, fmt.Errorf("group %s has gid %d, not %d, and busybox has no groupmod to change it; "+
			"install the shadow package (apk add shadow) or recreate the group", res.name, g.Group.GID, res.gid)
	}
	return []modules.Action{{
		Summary: fmt.Sprintf("change group %s: gid %d → %d", res.name, g.Group.GID, res.gid),
		Command: fmt.Sprintf("groupmod -g %d %s", res.gid, q),
	}}, nil
}
