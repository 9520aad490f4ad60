// Package link is the `link` resource type: a symbolic or hard link, or
// its absence.
package link

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Type is the `link` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "link",
		Doc: "A link on the host: a symbolic link (the default) pointing to target, or a hard link, a second " +
			"name for target's file; or its absence. A symbolic link pointing elsewhere is repointed. Anything " +
			"else already at path (a file, a link of the other kind) is an error unless force = true, which " +
			"replaces it; a directory is never replaced. Missing parent directories are not created (declare " +
			"them with a directory resource).",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "path", Type: cty.String, Required: true,
			Doc:     "Absolute path of the link itself on the host.",
			Example: `"/usr/local/bin/app"`},
		{Name: "target", Type: cty.String,
			Doc: "What the link points to. For a symbolic link it is stored exactly as written: an absolute " +
				"path, or one relative to the link's directory (\"../lib/app.so.1\"); it need not exist. For a " +
				"hard link it is the absolute path of an existing file that is not a directory or a symbolic " +
				"link, on the same filesystem as path; a file or template resource that later rewrites the " +
				"target gives it a new inode (writes are atomic renames), leaving the hard link on the old " +
				"content, so hard-link only files that are not rewritten. Required unless state is " +
				"\"absent\" for a symbolic link.",
			Example: `"/opt/app/current/bin/app"`},
		{Name: "type", Type: cty.String, Default: cty.StringVal("symbolic"),
			Doc:     "symbolic or hard.",
			Example: `"hard"`},
		{Name: "force", Type: cty.Bool, Default: cty.False,
			Doc: "Replace whatever else is at path (a regular file, a link of the other kind, a hard link to " +
				"another file) with the link. Without it that is an error, so a link never silently replaces " +
				"a file. A directory at path is an error either way. Only for state \"present\".",
			Example: `true`},
		{Name: "owner", Type: cty.String,
			Doc: "User name or numeric uid owning a symbolic link itself (chown -h; what it points to is " +
				"untouched). Null leaves it as it is (root for a new link). Not for hard links, which share " +
				"their target's owner: manage the target instead.",
			Example: `"deploy"`},
		{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid of a symbolic link itself (chgrp -h). Not for hard links.",
			Example: `"deploy"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the link exists as declared. absent: a symbolic link at path is removed whatever it " +
				"points to; for a hard link, path is removed only when it is the same file as target (target's " +
				"file stays). Anything else at path is an error, never removed.",
			Example: `"absent"`},
	}
}

// resource is a link configured for one host.
type resource struct {
	path   string
	target string
	hard   bool
	state  string
	force  bool
	owner  string
	group  string
	// shown is the target as summaries and errors show it: hidden when
	// it came from a sensitive variable.
	shown     string
	sensitive bool
}

// New validates c and builds a link resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		path:      r.AbsPath("path", true),
		state:     r.OneOf("state", "present", "absent"),
		hard:      r.OneOf("type", "symbolic", "hard") == "hard",
		owner:     r.Account("owner"),
		group:     r.Account("group"),
		sensitive: c.Sensitive["target"],
	}
	res.force, _ = r.Bool("force")
	if res.path == "/" {
		r.Errorf("path", "\"/\" cannot be a link")
	}
	target, set := r.String("target")
	known := r.Value("target").IsKnown()
	switch {
	case set && target == "":
		r.Errorf("target", "must not be empty")
	case set && strings.Contains(target, "\n"):
		r.Errorf("target", "must not contain a newline")
	case set && res.hard && !strings.HasPrefix(target, "/"):
		r.Errorf("target", "%s is not an absolute path: a hard link's target must be one", r.Quote("target", target))
	case set && res.hard:
		res.target = path.Clean(target)
	case set:
		res.target = target // kept exactly: readlink prints what was stored
	case known && (res.hard || res.state == "present"):
		r.Errorf("target", "is required (it may be left out only to remove a symbolic link)")
	}
	if res.target != "" && res.target == res.path {
		r.Errorf("target", "is path itself")
	}
	if res.hard && res.owner != "" {
		r.Errorf("owner", "a hard link has its target's owner; set it on the target's file instead")
	}
	if res.hard && res.group != "" {
		r.Errorf("group", "a hard link has its target's group; set it on the target's file instead")
	}
	if res.force && res.state == "absent" {
		r.Errorf("force", "only applies to state \"present\": absent never removes anything but the link")
	}
	res.shown = res.target
	if res.sensitive {
		res.shown = "(sensitive target)"
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// probe is the one probe a link needs: the path, and a hard link's target.
func (res *resource) probe() modules.Probe {
	if res.hard {
		p := facts.LinkProbe(res.path, res.target)
		p.Sensitive = res.sensitive
		return p
	}
	return facts.LinkProbe(res.path, "")
}

// Probes asks what is at path (and at a hard link's target).
func (res *resource) Probes(*modules.Host) []modules.Probe {
	if res.path == "" {
		return nil // attributes not known yet: New accepted them for validate
	}
	return []modules.Probe{res.probe()}
}

// Plan compares what is at path with the declared link.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.path == "" || res.target == "" && (res.hard || res.state == "present") {
		return nil, fmt.Errorf("link %s: its attributes are not known yet", res.path)
	}
	r, err := facts.Get(f, res.probe())
	if err != nil {
		return nil, err
	}
	l, err := facts.ParseLink(r, res.hard)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", res.path, err)
	}
	if l.Stat.Exists && l.Stat.Type == facts.Directory {
		return nil, fmt.Errorf("%s is a directory; a link resource never replaces or removes one (use a directory resource)", res.path)
	}
	if res.hard {
		return res.planHard(l)
	}
	return res.planSymbolic(l)
}

func (res *resource) planSymbolic(l facts.Link) ([]modules.Action, error) {
	st := l.Stat
	p, t := transport.ShellQuote(res.path), transport.ShellQuote(res.target)
	if res.state == "absent" {
		switch {
		case !st.Exists:
			return nil, nil
		case st.Type != facts.Symlink:
			return nil, fmt.Errorf("%s is a %s, not a symbolic link; a link resource removes only links", res.path, st.Type)
		}
		return []modules.Action{{Summary: "remove symbolic link " + res.path, Command: "rm -f " + p}}, nil
	}
	var summary, cmd string
	var notes []string // said in parentheses after the summary
	switch {
	case !st.Exists:
		summary = "create symbolic link " + res.path + " → " + res.shown
		cmd = "ln -s -- " + t + " " + p
	case st.Type == facts.Symlink && l.Target == res.target:
		changes, fix := res.ownership(st)
		if len(changes) == 0 {
			return nil, nil
		}
		return []modules.Action{{Summary: "change symbolic link " + res.path + " (" + strings.Join(changes, ", ") + ")", Command: fix}}, nil
	case st.Type == facts.Symlink:
		was := "was " + oneLine(l.Target)
		if res.sensitive {
			was = "was another target"
		}
		summary = "repoint symbolic link " + res.path + " → " + res.shown
		notes = append(notes, was)
		cmd = replaceLink(t, res.path)
	case !res.force:
		return nil, fmt.Errorf("%s is a %s, not a symbolic link to %s; set force = true to replace it", res.path, string(l.Stat.Type), res.shown)
	default:
		summary = "replace " + string(l.Stat.Type) + " " + res.path + " with symbolic link → " + res.shown
		cmd = replaceLink(t, res.path)
	}
	// A new link belongs to root: set the declared owner and group.
	if c := chownH(res.path, res.owner, res.group); c != "" {
		cmd += " && " + c
		notes = append(notes, describeOwner(res.owner, res.group))
	}
	if len(notes) > 0 {
		summary += " (" + strings.Join(notes, ", ") + ")"
	}
	return []modules.Action{{Summary: summary, Command: cmd, Sensitive: res.sensitive}}, nil
}

// replaceLink points path at the quoted target t by renaming a new link
// over it, so a reader of path finds the old target or the new one, never
// nothing (ln -sfn removes the old link before it makes the new one): what
// a release switch needs. mv -T renames onto a link to a directory rather
// than into the directory; where mv lacks -T, ln -sfn does it the
// non-atomic way.
func replaceLink(t, path string) string {
	p := transport.ShellQuote(path)
	tmp := transport.ShellQuote(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".opsrun-new"))
	return "ln -sfn -- " + t + " " + tmp + " && { mv -Tf -- " + tmp + " " + p + " 2>/dev/null || { rm -f -- " + tmp + " && ln -sfn -- " + t + " " + p + "; }; }"
}

func (res *resource) planHard(l facts.Link) ([]modules.Action, error) {
	st, p, t := l.Stat, transport.ShellQuote(res.path), transport.ShellQuote(res.target)
	same := st.Exists && l.Other.Exists && l.Inode == l.OtherInode
	if res.state == "absent" {
		switch {
		case !st.Exists:
			return nil, nil
		case !same:
			return nil, fmt.Errorf("%s is not a hard link to %s (%s); a link resource removes only its own link", res.path, res.shown, differs(l))
		}
		return []modules.Action{{Summary: "remove hard link " + res.path + " (to " + res.shown + ")", Command: "rm -f " + p, Sensitive: res.sensitive}}, nil
	}
	switch {
	case !l.Other.Exists:
		return nil, fmt.Errorf("hard link target %s does not exist: %w", res.shown, modules.ErrMissingOnHost)
	case l.Other.Type == facts.Directory || l.Other.Type == facts.Symlink:
		return nil, fmt.Errorf("hard link target %s is a %s; it must be a file (name the file a symbolic link points to)", res.shown, l.Other.Type)
	case same:
		return nil, nil
	case !st.Exists:
		return []modules.Action{{Summary: "create hard link " + res.path + " to " + res.shown, Command: "ln -- " + t + " " + p, Sensitive: res.sensitive}}, nil
	case !res.force:
		return nil, fmt.Errorf("%s is a %s, not a hard link to %s (%s); set force = true to replace it", res.path, string(l.Stat.Type), res.shown, differs(l))
	case devOf(l.Inode) != devOf(l.OtherInode):
		return nil, fmt.Errorf("%s and %s are on different filesystems: a hard link cannot join them", res.path, res.shown)
	}
	return []modules.Action{{
		Summary:   "replace " + string(l.Stat.Type) + " " + res.path + " with a hard link to " + res.shown,
		Command:   "ln -f -- " + t + " " + p,
		Sensitive: res.sensitive,
	}}, nil
}

// ownership lists how a symbolic link's own owner and group differ from
// the declared ones, and the command that fixes them.
func (res *resource) ownership(st facts.Stat) ([]string, string) {
	var changes []string
	owner, group := res.owner, res.group
	if owner != "" && !st.OwnedBy(owner) {
		changes = append(changes, "owner "+st.Owner+" → "+owner)
	} else {
		owner = ""
	}
	if group != "" && !st.InGroup(group) {
		changes = append(changes, "group "+st.Group+" → "+group)
	} else {
		group = ""
	}
	return changes, chownH(res.path, owner, group)
}

// chownH sets a symbolic link's own owner and/or group (-h: chown would
// otherwise follow the link and change what it points to); "" when both
// are empty.
func chownH(p, owner, group string) string {
	q := transport.ShellQuote(p)
	switch {
	case owner != "" && group != "":
		return "chown -h " + transport.ShellQuote(owner+":"+group) + " " + q
	case owner != "":
		return "chown -h " + transport.ShellQuote(owner) + " " + q
	case group != "":
		return "chgrp -h " + transport.ShellQuote(group) + " " + q
	}
	return ""
}

func describeOwner(owner, group string) string {
	var parts []string
	if owner != "" {
		parts = append(parts, "owner "+owner)
	}
	if group != "" {
		parts = append(parts, "group "+group)
	}
	return strings.Join(parts, ", ")
}

// differs says why path is not target's hard link.
func differs(l facts.Link) string {
	if !l.Other.Exists {
		return "the target does not exist"
	}
	return "inode " + l.Inode + ", target's " + l.OtherInode
}

// devOf is the device part of "DEVICE:INODE".
func devOf(id string) string {
	d, _, _ := strings.Cut(id, ":")
	return d
}

// oneLine keeps a summary on one line whatever a link on the host holds.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", `\n`)
}
