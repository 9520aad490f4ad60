// Package command is the `command` resource type: a shell command run on
// the host, every time or only when guards or a notification say so.
package command

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
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
	return []modules.Attr{
		{Name: "command", Type: cty.String, Required: true,
			Doc: "The command, run by sh -c as root (or as user). Its exit status decides success; a " +
				"non-zero status fails the resource. Stdin is /dev/null.",
			Example: `"make install"`},
		{Name: "creates", Type: cty.String,
			Doc: "Absolute path the command creates: when anything exists there, the command is skipped. " +
				"Makes one-time commands (extracting, initialising a database) idempotent.",
			Example: `"/srv/app/.initialised"`},
		{Name: "unless", Type: cty.String,
			Doc: "A check command: when it exits 0 the command is skipped. It runs with the same cwd, user " +
				"and environment, in the probe round before any change, and again after earlier resources " +
				"changed the host, so it must have no side effects.",
			Example: `"test -x /usr/local/bin/tool"`},
		{Name: "cwd", Type: cty.String,
			Doc:     "Absolute directory the command (and its unless check) runs in; the command fails when it does not exist.",
			Example: `"/srv/app/current"`},
		{Name: "environment", Type: cty.Map(cty.String),
			Doc:     "Environment variables set for the command and its unless check. Names must be valid shell variable names.",
			Example: `{ RAILS_ENV = "production" }`},
		{Name: "user", Type: cty.String,
			Doc: "Run the command (and its unless check) as this user (name or uid), through runuser, " +
				"which util-linux ships on Debian and RHEL alike: root switches user without a password " +
				"prompt or PAM authentication, and the command is passed as arguments, never re-parsed by a " +
				"login shell (so users with a nologin shell work too). Needs become (the default), as runuser only works for root. Null runs it as root.",
			Example: `"deploy"`},
		{Name: "run", Type: cty.String, Default: cty.StringVal("always"),
			Doc: "always: run on every run (unless guarded). on_notify: a handler; run only when notified " +
				"by another resource's change.",
			Example: `"on_notify"`},
	}
}

// envNameRE is a POSIX shell variable name: env(1) would treat anything
// else as the command to run.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resource is a command configured for one host.
type resource struct {
	command string
	creates string
	unless  string
	cwd     string
	env     map[string]string
	user    string
	run     string
	hidden  bool // some value comes from a sensitive variable
}

// New validates c and builds a command resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		command: r.Required("command"),
		creates: r.AbsPath("creates", false),
		cwd:     r.AbsPath("cwd", false),
		env:     r.StringMap("environment"),
		user:    r.Account("user"),
		run:     r.OneOf("run", "always", "on_notify"),
	}
	res.unless, _ = r.String("unless")
	if res.command != "" && strings.TrimSpace(res.command) == "" {
		r.Errorf("command", "is only white space")
	}
	for k := range res.env {
		if !envNameRE.MatchString(k) {
			r.Errorf("environment", "%q is not a valid variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	for _, name := range []string{"command", "unless", "environment", "cwd", "creates", "user"} {
		res.hidden = res.hidden || c.Sensitive[name]
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// wrap builds the host command that runs script with the resource's cwd,
// user and environment. The script always runs in its own sh -c, so an
// `exit` or `set -e` in it cannot affect whatever the engine runs around
// it; cd comes first so runuser inherits the directory.
func (res *resource) wrap(script string) string {
	var b strings.Builder
	if res.cwd != "" {
		b.WriteString("cd " + transport.ShellQuote(res.cwd) + " && ")
	}
	if res.user != "" {
		b.WriteString("runuser -u " + transport.ShellQuote(res.user) + " -- ")
	}
	if len(res.env) > 0 {
		b.WriteString("env")
		keys := make([]string, 0, len(res.env))
		for k := range res.env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(" " + transport.ShellQuote(k+"="+res.env[k]))
		}
		b.WriteString(" ")
	}
	b.WriteString("sh -c " + transport.ShellQuote(script))
	return b.String()
}

func (res *resource) unlessProbe() modules.Probe {
	p := facts.StatusProbe("unless", res.wrap(res.unless))
	p.Sensitive = res.hidden
	return p
}

// Probes asks for the guards' facts: whether creates exists, and the exit
// status of unless.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	var ps []modules.Probe
	if res.creates != "" {
		ps = append(ps, facts.StatProbe(res.creates))
	}
	if res.unless != "" {
		ps = append(ps, res.unlessProbe())
	}
	return ps
}

// Plan runs the command unless a guard skips it or it is a handler.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.run == "on_notify" {
		return nil, nil
	}
	return res.Notified(h, f)
}

// Notified runs the command unless a guard skips it: a handler with
// creates stays a one-time command.
func (res *resource) Notified(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.creates != "" {
		r, err := facts.Get(f, facts.StatProbe(res.creates))
		if err != nil {
			return nil, err
		}
		st, err := facts.ParseStat(r)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", res.creates, err)
		}
		if st.Exists {
			return nil, nil
		}
	}
	if res.unless != "" {
		r, err := facts.Get(f, res.unlessProbe())
		if err != nil {
			return nil, err
		}
		status, err := facts.ParseStatus(r)
		if err != nil {
			return nil, fmt.Errorf("unless: %w", err)
		}
		if status == 0 {
			return nil, nil
		}
	}
	return []modules.Action{{
		Summary:   res.summary(),
		Command:   res.wrap(res.command) + " </dev/null",
		Sensitive: res.hidden,
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
	s := "run `" + first + "`"
	if res.user != "" {
		s += " as " + res.user
	}
	if res.cwd != "" {
		s += " in " + res.cwd
	}
	return s
}
