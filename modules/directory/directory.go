// Package directory is the `directory` resource type: a directory with its
// mode, owner and group, or its absence.
package directory

import (
	"fmt"
	"path"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/fsmeta"
)

// Type is the `directory` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "directory",
		Doc: "A directory on the host with its mode, owner and group, or its absence. Missing parent " +
			"directories are created too (owned by root, mode from the umask); only the directory itself " +
			"gets the declared metadata. Contents are never managed, except that state = \"absent\" " +
			"removes the directory with everything in it.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "path", Type: cty.String, Required: true,
			Doc:     "Absolute path of the directory on the host.",
			Example: `"/srv/app"`},
		{Name: "mode", Type: cty.String, Default: cty.StringVal("0755"),
			Doc: "Permission bits as an octal string: 3 or 4 digits, setgid and sticky included " +
				"(\"2775\", \"1777\"). Always enforced exactly: a setgid bit inherited from the parent is " +
				"cleared unless declared.",
			Example: `"2775"`},
		{Name: "owner", Type: cty.String,
			Doc:     "User name or numeric uid that owns the directory. Null leaves the owner as it is (root for a new directory).",
			Example: `"deploy"`},
		{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid of the directory. Null leaves the group as it is.",
			Example: `"deploy"`},
		{Name: "recursive", Type: cty.Bool, Default: cty.False,
			Doc: "true: owner and group are also enforced on everything inside the directory (chown -R), " +
				"checked on each run by looking for the first entry owned otherwise. The mode stays the " +
				"directory's own: files and directories inside rarely want the same one. Needs owner or group.",
			Example: `true`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the directory exists as declared. absent: the directory and everything in it is " +
				"removed when it exists. Top-level and system directories (/, /etc, /usr/lib, ...) are refused. " +
				"A file or symbolic link at path is an error either way.",
			Example: `"absent"`},
	}
}

// resource is a directory configured for one host.
type resource struct {
	path      string
	state     string
	meta      fsmeta.Want
	recursive bool
}

// New validates c and builds a directory resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		path:  r.AbsPath("path", true),
		state: r.OneOf("state", "present", "absent"),
	}
	res.meta.Mode, _ = r.Mode("mode")
	res.meta.Owner = r.Account("owner")
	res.meta.Group = r.Account("group")
	res.recursive, _ = r.Bool("recursive")
	if res.recursive && res.meta.Owner == "" && res.meta.Group == "" && r.Err() == nil {
		r.Errorf("recursive", "applies owner and group to the directory's contents, but neither is set")
	}
	if res.state == "absent" && res.path != "" && isProtected(res.path) {
		r.Errorf("path", "refusing to remove %s: it is a top-level or system directory", res.path)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// isProtected reports whether removing p would wreck the system: / and
// every top-level directory (removing /srv or /home is never what a
// recipe means), and the system directories below them.
func isProtected(p string) bool {
	if p == "/" || path.Dir(p) == "/" {
		return true
	}
	switch p {
	case "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/include",
		"/usr/share", "/usr/local", "/usr/src",
		"/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/tmp", "/var/backups", "/var/mail",
		"/var/run", "/var/lock",
		"/etc/systemd", "/etc/ssh", "/etc/apt", "/etc/default", "/etc/init.d", "/etc/pam.d",
		"/etc/security", "/etc/sudoers.d",
		"/lib/systemd", "/usr/lib/systemd", "/boot/efi":
		return true
	}
	return false
}

// Probes asks for the path's stat and, when recursive, for the first
// entry inside owned otherwise than declared.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	ps := []modules.Probe{facts.StatProbe(res.path)}
	if p, ok := res.ownersProbe(); ok {
		ps = append(ps, p)
	}
	return ps
}

// ownersProbe prints the first path under the directory whose owner or
// group is not the declared one; nothing when all are right or the
// directory is missing. find takes a name or a numeric id for both.
func (res *resource) ownersProbe() (modules.Probe, bool) {
	if !res.recursive || res.state != "present" {
		return modules.Probe{}, false
	}
	var tests []string
	if res.meta.Owner != "" {
		tests = append(tests, "! -user "+transport.ShellQuote(res.meta.Owner))
	}
	if res.meta.Group != "" {
		tests = append(tests, "! -group "+transport.ShellQuote(res.meta.Group))
	}
	q := transport.ShellQuote(res.path)
	return modules.Probe{
		ID:      "owners:" + res.path + ":" + res.meta.Owner + ":" + res.meta.Group,
		Command: "if [ -d " + q + " ] && [ ! -h " + q + " ]; then find " + q + " -mindepth 1 \\( " + strings.Join(tests, " -o ") + " \\) -print -quit; fi",
	}, true
}

// Plan compares the host's directory with the declaration.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	st, err := facts.GetStat(f, res.path)
	if err != nil {
		return nil, err
	}
	if st.Exists && st.Type != facts.Directory {
		// A symbolic link to a directory is refused too: chmod would follow
		// it, rm -rf would remove only the link, and neither is declared.
		return nil, fmt.Errorf("%s exists and is a %s, not a directory", res.path, st.Type)
	}
	q := transport.ShellQuote(res.path)
	if res.state == "absent" {
		if !st.Exists {
			return nil, nil
		}
		return []modules.Action{{Summary: "remove " + res.path + " and everything in it", Command: "rm -rf " + q}}, nil
	}
	if !st.Exists {
		cmds := []string{"mkdir -p " + q}
		if c := fsmeta.Chown(res.path, res.meta.Owner, res.meta.Group); c != "" {
			cmds = append(cmds, c)
		}
		// mkdir's mode comes from the umask; chmod makes it exact.
		cmds = append(cmds, fsmeta.Chmod(res.path, res.meta.Mode, true))
		return []modules.Action{{
			Summary: "create " + res.path + " (" + res.meta.Describe() + ")",
			Command: strings.Join(cmds, " && "),
		}}, nil
	}
	actions := fsmeta.Change(res.path, st, res.meta, true)
	if p, ok := res.ownersProbe(); ok {
		r, err := facts.Get(f, p)
		if err != nil {
			return nil, err
		}
		if r.ExitStatus != 0 {
			return nil, fmt.Errorf("%s: cannot check the owners of its contents (find exited %d)", res.path, r.ExitStatus)
		}
		if first := strings.TrimSpace(r.Stdout); first != "" {
			actions = append(actions, modules.Action{
				Summary: fmt.Sprintf("change everything in %s to %s (%s differs, maybe more)", res.path, res.owners(), first),
				Command: fsmeta.ChownR(res.path, res.meta.Owner, res.meta.Group),
			})
		}
	}
	return actions, nil
}

// owners words the declared owner and group: "owner deploy, group www".
func (res *resource) owners() string {
	var parts []string
	if res.meta.Owner != "" {
		parts = append(parts, "owner "+res.meta.Owner)
	}
	if res.meta.Group != "" {
		parts = append(parts, "group "+res.meta.Group)
	}
	return strings.Join(parts, ", ")
}
