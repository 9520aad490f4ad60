// Package cron is the `cron` resource type: one named entry of a user's
// crontab, written beside whatever else the crontab holds.
package cron

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/filediff"
	"github.com/opsrun/opsrun/modules/internal/textedit"
)

// Type is the `cron` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "cron",
		Doc: "One entry of a user's crontab, found by its name: a comment line \"#opsrun: NAME\" right above " +
			"it (as Ansible's cron module writes \"#Ansible: NAME\"). Only that entry, with its variables, is " +
			"written; every other line of the crontab is kept as it is. The crontab is read with crontab -l " +
			"and installed with crontab -u USER -, so cron (vixie cron, cronie or busybox crond) takes the " +
			"change at once. Plan and check mode show the crontab's diff.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String,
			Doc: "The entry's name, written in its marker comment; unique within the user's crontab. Null " +
				"uses the resource's label. Renaming an entry does not remove the old one: declare the old " +
				"name with state = \"absent\".",
			Example: `"backup"`},
		{Name: "user", Type: cty.String, Default: cty.StringVal("root"),
			Doc:     "The user whose crontab holds the entry: a user name (crontab -u does not take a uid).",
			Example: `"deploy"`},
		{Name: "schedule", Type: cty.String,
			Doc: "When the entry runs: the five fields minute, hour, day of month, month and day of week " +
				"(numbers, month and day names, * , - and /step), or one of @reboot, @yearly, @annually, " +
				"@monthly, @weekly, @daily, @midnight, @hourly. Checked when the stack is loaded. Required " +
				"unless state is absent.",
			Example: `"30 3 * * 1-5"`},
		{Name: "command", Type: cty.String,
			Doc: "The command line cron runs, with the user's crontab SHELL (/bin/sh by default). It is " +
				"written as it is, on one line: vixie cron and cronie turn an unescaped % into a newline " +
				"(and what follows into the command's input), so write \\% for a percent sign. Required " +
				"unless state is absent.",
			Example: `"/usr/local/bin/backup --quiet"`},
		{Name: "environment", Type: cty.Map(cty.String),
			Doc: "Variables written as NAME=value lines between the marker and the entry: MAILTO, PATH, " +
				"SHELL, CRON_TZ (cronie)... Cron applies a variable to every entry below it in the " +
				"crontab, not only to this one, and busybox crond (Alpine) honours MAILTO and SHELL only. " +
				"For a variable of this command alone, set it in command (\"FOO=bar /usr/bin/job\"). " +
				"Values are written unquoted: they cannot start or end with white space or start with a quote.",
			Example: `{ MAILTO = "ops@example.com" }`},
		{Name: "disabled", Type: cty.Bool, Default: cty.False,
			Doc: "true keeps the entry in the crontab but commented out (#), so cron does not run it; " +
				"false (re-)enables it.",
			Example: `true`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the entry is in the crontab as declared, replacing the named one where it is " +
				"or added at the end. absent: the marker, its variables and the entry are removed; a " +
				"crontab left with no line at all is deleted (crontab -r).",
			Example: `"absent"`},
	}
}

// envNameRE is a variable name cron and the shell both accept.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resource is a cron entry configured for one host.
type resource struct {
	name     string
	user     string
	schedule string // normalised
	command  string
	env      map[string]string
	disabled bool
	state    string
	// hidden is set when any of the entry's text comes from a sensitive
	// variable: the crontab's diff is not shown. hideName and hideUser
	// keep the name and the user out of summaries and errors too.
	hidden, hideName, hideUser bool
}

// New validates c and builds a cron resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		user:  r.Account("user"),
		state: r.OneOf("state", "present", "absent"),
		env:   r.StringMap("environment"),
	}
	res.disabled, _ = r.Bool("disabled")
	res.hideName, res.hideUser = c.Sensitive["name"], c.Sensitive["user"]
	for _, a := range []string{"command", "environment", "schedule", "name", "user"} {
		res.hidden = res.hidden || c.Sensitive[a]
	}
	if n, set := r.String("name"); set {
		res.name = n
	} else if r.Value("name").IsNull() {
		res.name = c.Name
	}
	switch {
	case res.name == "" && r.Value("name").IsKnown():
		r.Errorf("name", "must not be empty")
	case strings.ContainsAny(res.name, "\n\r"):
		r.Errorf("name", "%s must be one line: it is written in a comment line", r.Quote("name", res.name))
	case res.name != strings.TrimSpace(res.name):
		r.Errorf("name", "%s must not start or end with white space", r.Quote("name", res.name))
	}
	if res.user != "" && strings.Trim(res.user, "0123456789") == "" {
		r.Errorf("user", "%s is a uid: crontab -u takes a user name", r.Quote("user", res.user))
	}
	if s, set := r.String("schedule"); set {
		norm, err := parseSchedule(s)
		if err != nil {
			msg := err.Error()
			if c.Sensitive["schedule"] {
				msg = "is not a cron schedule (the value is sensitive, not shown)"
			}
			r.Errorf("schedule", "%s", msg)
		}
		res.schedule = norm
	} else if res.state == "present" && r.Value("schedule").IsNull() {
		r.Errorf("schedule", "is required unless state is \"absent\"")
	}
	if cmd, set := r.String("command"); set {
		switch {
		case strings.TrimSpace(cmd) == "":
			r.Errorf("command", "is empty or only white space")
		case strings.ContainsAny(cmd, "\n\r"):
			r.Errorf("command", "must be one line: a crontab entry cannot span lines (put longer scripts in a file)")
		}
		res.command = strings.TrimSpace(cmd)
	} else if res.state == "present" && r.Value("command").IsNull() {
		r.Errorf("command", "is required unless state is \"absent\"")
	}
	for k, v := range res.env {
		q := r.Quote("environment", v)
		switch {
		case !envNameRE.MatchString(k):
			r.Errorf("environment", "%q is not a variable name (letters, digits and _, not starting with a digit)", k)
		case strings.ContainsAny(v, "\n\r"):
			r.Errorf("environment", "%s: the value must be one line", k)
		case v != strings.TrimSpace(v):
			r.Errorf("environment", "%s = %s: cron would drop the white space around the value", k, q)
		case strings.HasPrefix(v, "'") || strings.HasPrefix(v, `"`):
			r.Errorf("environment", "%s = %s: cron would take the quotes around the value away", k, q)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// block is the entry's lines in the crontab: the marker, the variables
// (sorted, so the block is the same on every run) and the entry.
func (res *resource) block() []string {
	b := []string{markerPrefix + res.name}
	keys := make([]string, 0, len(res.env))
	for k := range res.env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, k+"="+res.env[k])
	}
	entry := res.schedule + " " + res.command
	if res.disabled {
		entry = "#" + entry
	}
	return append(b, entry)
}

// probe lists the user's crontab; the command holds the user's name.
func (res *resource) probe() modules.Probe {
	p := facts.CrontabProbe(res.user)
	p.Sensitive = res.hideUser
	return p
}

// Probes lists the user's crontab.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	return []modules.Probe{res.probe()}
}

// entry names the entry in summaries: `cron entry "backup"`.
func (res *resource) entry() string {
	if res.hideName {
		return "cron entry (sensitive name)"
	}
	return fmt.Sprintf("cron entry %q", res.name)
}

// crontab names the crontab in summaries and diffs: "opsrun's crontab".
func (res *resource) crontab() string {
	if res.hideUser {
		return "the crontab of a user (sensitive name)"
	}
	return res.user + "'s crontab"
}

// Plan rewrites the crontab when the entry differs from the declaration.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	r, err := facts.Get(f, res.probe())
	if err != nil {
		return nil, err
	}
	ct, err := facts.ParseCrontab(res.user, r)
	switch {
	case errors.Is(err, facts.ErrNoCrontab):
		return nil, fmt.Errorf("%w (%s): %w", err, installHint(h.OSFamily), modules.ErrMissingOnHost)
	case errors.Is(err, facts.ErrUnknownUser) && res.hideUser:
		return nil, fmt.Errorf("crontab: the user (sensitive name): %w: %w", facts.ErrUnknownUser, modules.ErrMissingOnHost)
	case errors.Is(err, facts.ErrUnknownUser):
		return nil, fmt.Errorf("%w: %w", err, modules.ErrMissingOnHost)
	case err != nil && res.hideUser:
		// crontab's message may name the user.
		return nil, fmt.Errorf("crontab -l failed for a user whose name is sensitive (exit status %d)", r.ExitStatus)
	case err != nil:
		return nil, err
	}
	old := textedit.SplitLines(ct.Content)
	var block []string
	if res.state == "present" {
		block = res.block()
	}
	lines, found := edit(old, markerPrefix+res.name, block)
	if slices.Equal(lines, old) {
		return nil, nil
	}
	var summary string
	switch {
	case res.state == "absent":
		summary = "remove " + res.entry() + " from " + res.crontab()
	case found == 0:
		summary = "add " + res.entry() + " to " + res.crontab()
	default:
		summary = "update " + res.entry() + " in " + res.crontab()
	}
	if res.state == "present" && res.disabled {
		summary += " (disabled)"
	}
	switch {
	case found == 2:
		summary += " (and remove a copy of it)"
	case found > 2:
		summary += fmt.Sprintf(" (and remove %d copies of it)", found-1)
	}
	from := filediff.Side{}
	if ct.Exists {
		from = filediff.Text([]byte(ct.Content))
	}
	label := res.crontab()
	user := transport.ShellQuote(res.user)
	if len(lines) == 0 {
		return []modules.Action{{
			Summary:   summary + " (and delete the crontab, left empty)",
			Diff:      filediff.Unified(label, from, filediff.Side{}, res.hidden),
			Command:   "crontab -u " + user + " -r",
			Sensitive: res.hidden,
		}}, nil
	}
	content := textedit.JoinLines(lines)
	// The new crontab goes through a root-only file and crontab's stdin:
	// busybox crontab opens a FILE argument as the target user, who cannot
	// read a root-only file, while stdin is opened by root's shell.
	tmp := "/tmp/.opsrun-crontab-" + res.user
	return []modules.Action{{
		Summary: summary,
		Diff:    filediff.Unified(label, from, filediff.Text([]byte(content)), res.hidden),
		Upload:  &modules.Upload{Path: tmp, Content: []byte(content), Mode: 0o600},
		Command: "trap " + transport.ShellQuote("rm -f "+transport.ShellQuote(tmp)) + " EXIT; " +
			"crontab -u " + user + " - < " + transport.ShellQuote(tmp),
		Sensitive: res.hidden,
	}}, nil
}

// installHint says which package gives the host a crontab command.
func installHint(family string) string {
	switch family {
	case "debian":
		return "install the cron package"
	case "rhel", "alpine":
		return "install the cronie package"
	}
	return "install cron, cronie or another cron with a crontab command"
}
