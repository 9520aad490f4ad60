// Package guard is what the resource types that run something on the host
// (command, script) share: the guards that skip the run (creates, unless,
// onlyif), the context it runs in (cwd, environment, user), when it runs
// (always, or only when notified), and the host command that wraps a run
// or a guard in that context. One implementation keeps the quoting, the
// probes and the wording the same for every such type.
package guard

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Attrs are the guard and context attributes, worded for noun ("command",
// "script"). withOnlyIf adds onlyif beside unless.
func Attrs(noun string, withOnlyIf bool) []modules.Attr {
	checks := "its unless check"
	if withOnlyIf {
		checks = "its unless and onlyif checks"
	}
	as := []modules.Attr{
		{Name: "creates", Type: cty.String,
			Doc: "Absolute path the " + noun + " creates: when anything exists there, the " + noun + " is skipped. " +
				"Makes one-time commands (extracting, initialising a database) idempotent.",
			Example: `"/srv/app/.initialised"`},
		{Name: "unless", Type: cty.String,
			Doc: "A check command: when it exits 0 the " + noun + " is skipped. It runs with the same cwd, user " +
				"and environment, in the probe round before any change, and again after earlier resources " +
				"changed the host, so it must have no side effects.",
			Example: `"test -x /usr/local/bin/tool"`},
	}
	if withOnlyIf {
		as = append(as, modules.Attr{Name: "onlyif", Type: cty.String,
			Doc: "A check command: unless it exits 0 the " + noun + " is skipped (the opposite of unless; with " +
				"both, the " + noun + " runs only when unless fails and onlyif succeeds). It runs like unless: " +
				"on the host, with the same cwd, user and environment, in the probe round, so it must have no " +
				"side effects. Named as in Puppet's exec; not the only_if argument every resource has, which " +
				"is a condition evaluated on the controller.",
			Example: `"grep -q '^legacy' /etc/app/mode"`})
	}
	return append(as,
		modules.Attr{Name: "cwd", Type: cty.String,
			Doc:     "Absolute directory the " + noun + " (and " + checks + ") runs in; the " + noun + " fails when it does not exist.",
			Example: `"/srv/app/current"`},
		modules.Attr{Name: "environment", Type: cty.Map(cty.String),
			Doc:     "Environment variables set for the " + noun + " and " + checks + ". Names must be valid shell variable names.",
			Example: `{ RAILS_ENV = "production" }`},
		modules.Attr{Name: "user", Type: cty.String,
			Doc: "Run the " + noun + " (and " + checks + ") as this user (name or uid), through runuser, " +
				"which util-linux ships on Debian and RHEL alike: root switches user without a password " +
				"prompt or PAM authentication, and the " + noun + " is passed as arguments, never re-parsed by a " +
				"login shell (so users with a nologin shell work too). Needs become (the default), as runuser only works for root. Null runs it as root.",
			Example: `"deploy"`},
	)
}

// RunAttr is the `run` attribute: always, or only when notified.
func RunAttr() modules.Attr {
	return modules.Attr{Name: "run", Type: cty.String, Default: cty.StringVal("always"),
		Doc: "always: run on every run (unless guarded). on_notify: a handler; run only when notified " +
			"by another resource's change.",
		Example: `"on_notify"`}
}

// names are the attributes Read reads; a sensitive value in any of them
// makes the guards' probes and the run's command sensitive.
var names = []string{"creates", "unless", "onlyif", "cwd", "environment", "user"}

// envNameRE is a POSIX shell variable name: env(1) would treat anything
// else as the command to run.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Guards are a run's guards and context as declared.
type Guards struct {
	Creates string            // skip when this path exists
	Unless  string            // skip when this check exits 0
	OnlyIf  string            // skip unless this check exits 0
	Cwd     string            // directory to run in
	Env     map[string]string // environment variables
	User    string            // run as this user through runuser
	// OnNotify is run = "on_notify": Plan does nothing, only Notified runs.
	OnNotify bool
	// Hidden is set when one of these values came from a sensitive
	// variable: the probes and the wrapped command embed them.
	Hidden bool
}

// Read reads the guard and context attributes (onlyif only when the
// schema declares it; undeclared attributes read as null) and records
// errors on r.
func Read(r *attr.Reader) Guards {
	g := Guards{
		Creates:  r.AbsPath("creates", false),
		Cwd:      r.AbsPath("cwd", false),
		Env:      r.StringMap("environment"),
		User:     r.Account("user"),
		OnNotify: r.OneOf("run", "always", "on_notify") == "on_notify",
	}
	g.Unless, _ = r.String("unless")
	g.OnlyIf, _ = r.String("onlyif")
	keys := make([]string, 0, len(g.Env))
	for k := range g.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report bad names in a stable order
	for _, k := range keys {
		if !envNameRE.MatchString(k) {
			r.Errorf("environment", "%q is not a valid variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	for _, n := range names {
		g.Hidden = g.Hidden || r.Sensitive(n)
	}
	return g
}

// Wrap builds the host command that runs script with the cwd, user and
// environment. The script always runs in its own sh -c, so an `exit` or
// `set -e` in it cannot affect whatever the engine runs around it; cd
// comes first so runuser inherits the directory.
func (g *Guards) Wrap(script string) string {
	var b strings.Builder
	if g.Cwd != "" {
		b.WriteString("cd " + transport.ShellQuote(g.Cwd) + " && ")
	}
	if g.User != "" {
		b.WriteString("runuser -u " + transport.ShellQuote(g.User) + " -- ")
	}
	if len(g.Env) > 0 {
		b.WriteString("env")
		keys := make([]string, 0, len(g.Env))
		for k := range g.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(" " + transport.ShellQuote(k+"="+g.Env[k]))
		}
		b.WriteString(" ")
	}
	b.WriteString("sh -c " + transport.ShellQuote(script))
	return b.String()
}

// check is the probe of a check command: its exit status, run in the
// same context as what it guards.
func (g *Guards) check(kind, cmd string) modules.Probe {
	p := facts.StatusProbe(kind, g.Wrap(cmd))
	p.Sensitive = g.Hidden
	return p
}

// Probes asks for the guards' facts: whether creates exists, and the exit
// status of unless and onlyif.
func (g *Guards) Probes() []modules.Probe {
	var ps []modules.Probe
	if g.Creates != "" {
		ps = append(ps, facts.StatProbe(g.Creates))
	}
	if g.Unless != "" {
		ps = append(ps, g.check("unless", g.Unless))
	}
	if g.OnlyIf != "" {
		ps = append(ps, g.check("onlyif", g.OnlyIf))
	}
	return ps
}

// Skip reports whether a guard says not to run: creates exists, unless
// exits 0, or onlyif exits non-zero.
func (g *Guards) Skip(f modules.Facts) (bool, error) {
	if g.Creates != "" {
		r, err := facts.Get(f, facts.StatProbe(g.Creates))
		if err != nil {
			return false, err
		}
		st, err := facts.ParseStat(r)
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", g.Creates, err)
		}
		if st.Exists {
			return true, nil
		}
	}
	for _, c := range []struct {
		kind, cmd string
		skipOK    bool // skip when the check exits 0
	}{{"unless", g.Unless, true}, {"onlyif", g.OnlyIf, false}} {
		if c.cmd == "" {
			continue
		}
		r, err := facts.Get(f, g.check(c.kind, c.cmd))
		if err != nil {
			return false, err
		}
		status, err := facts.ParseStatus(r)
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.kind, err)
		}
		if (status == 0) == c.skipOK {
			return true, nil
		}
	}
	return false, nil
}

// Describe is the end of a summary: " as deploy in /srv/app", or "".
func (g *Guards) Describe() string {
	s := ""
	if g.User != "" {
		s += " as " + g.User
	}
	if g.Cwd != "" {
		s += " in " + g.Cwd
	}
	return s
}
