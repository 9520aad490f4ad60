// Package command is the `command` resource type: a shell command run on
// the host, every time or only when guards or a notification say so.
package command

import (
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/guard"
)

// Type is the `command` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Notifiable: true,
		Name:       "command",
		Doc: "A shell command run on the host with sh -c. A command cannot know whether the host is " +
			"already right, so it runs (and reports a change) on every run unless guarded: creates skips " +
			"it when a path exists, unless skips it when a check exits 0. With run = \"on_notify\" it is a " +
			"handler and runs only when another resource's change notifies it. Guards apply in every case.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	as := []modules.Attr{
		{Name: "command", Type: cty.String, Required: true,
			Doc: "The command, run by sh -c as root (or as user). Its exit status decides success; a " +
				"non-zero status fails the resource. Stdin is /dev/null.",
			Example: `"make install"`},
	}
	as = append(as, guard.Attrs("command", false)...)
	return append(as, guard.RunAttr())
}

// resource is a command configured for one host.
type resource struct {
	command string
	guard.Guards
	hidden bool // some value comes from a sensitive variable
}

// New validates c and builds a command resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		command: r.Required("command"),
		Guards:  guard.Read(r),
	}
	if res.command != "" && strings.TrimSpace(res.command) == "" {
		r.Errorf("command", "is only white space")
	}
	res.hidden = res.Hidden || c.Sensitive["command"]
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Probes asks for the guards' facts: whether creates exists, and the exit
// status of unless.
func (res *resource) Probes(*modules.Host) []modules.Probe { return res.Guards.Probes() }

// Plan runs the command unless a guard skips it or it is a handler.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.OnNotify {
		return nil, nil
	}
	return res.Notified(h, f)
}

// Notified runs the command unless a guard skips it: a handler with
// creates stays a one-time command.
func (res *resource) Notified(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if skip, err := res.Skip(f); err != nil || skip {
		return nil, err
	}
	return []modules.Action{{
		Summary:   res.summary(),
		Command:   res.Wrap(res.command) + " </dev/null",
		Sensitive: res.hidden,
		Output:    true,
	}}, nil
}

// summary is "run `make install` as deploy in /srv/app": the command's
// first line, shortened, unless it is sensitive.
func (res *resource) summary() string {
	if res.hidden {
		return "run a command (sensitive, not shown)"
	}
	cmd := strings.TrimSpace(res.command)
	first, rest, multi := strings.Cut(cmd, "\n")
	first = strings.TrimSpace(first)
	if utf8.RuneCountInString(first) > 60 {
		first = string([]rune(first)[:59]) + "…"
	} else if multi && strings.TrimSpace(rest) != "" {
		first += " …"
	}
	return "run `" + first + "`" + res.Describe()
}
