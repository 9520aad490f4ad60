// Package sysctl is the `sysctl` resource type: a kernel parameter set
// now and persisted for the next boot in a sysctl.d file.
package sysctl

import (
	"fmt"
	"path"
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

// DefaultFile is where settings are persisted unless file says otherwise:
// late in the name order of sysctl.d, so it overrides the distribution's
// files, and one file for all of opsrun's settings.
const DefaultFile = "/etc/sysctl.d/99-opsrun.conf"

// Type is the `sysctl` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "sysctl",
		Doc: "A kernel parameter (sysctl): its running value, written to /proc/sys, and its line in a " +
			"sysctl.d file that systemd-sysctl, procps' sysctl --system or OpenRC's sysctl service applies " +
			"at boot. The file may be shared by many sysctl resources: only the key's own line is " +
			"written, and every other line is kept. Plan and check mode show the file's diff and the " +
			"running value it replaces. Other sysctl.d files are not read: one that is applied later and " +
			"sets the same key wins at boot.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.String, Required: true,
			Doc: "The key, as sysctl names it: levels separated by dots. For a level that holds a dot itself " +
				"(an interface eth0.100), write the dot as a slash (net.ipv4.conf.eth0/100.rp_filter) or give " +
				"the key as a path (net/ipv4/conf/eth0.100/rp_filter), as sysctl.d(5) reads it.",
			Example: `"net.ipv4.ip_forward"`},
		{Name: "value", Type: cty.String,
			Doc: "The value; a number is fine. Several values (net.ipv4.ip_local_port_range) are separated " +
				"by white space, and any white space compares the same. The running value is compared with " +
				"what the kernel prints, so write it as the kernel does (\"1\", not \"01\"). Required unless " +
				"state is absent.",
			Example: `"32768 60999"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the key is set in file (and now, with apply). absent: its lines are removed from " +
				"file, which is deleted when nothing at all is left in it; the running value is left as it " +
				"is (the kernel has no \"unset\": it goes back to its default at the next boot, unless " +
				"another file sets it).",
			Example: `"absent"`},
		{Name: "file", Type: cty.String, Default: cty.StringVal(DefaultFile),
			Doc: "The file the setting is persisted in. It must end in .conf (sysctl.d reads no other " +
				"file) and may hold other keys, comments and blank lines, which are kept. Its directory is " +
				"created when missing.",
			Example: `"/etc/sysctl.d/60-network.conf"`},
		{Name: "apply", Type: cty.Bool, Default: cty.True,
			Doc: "true: set the running value too, when it differs, by writing it to /proc/sys. Where " +
				"/proc/sys is read-only (an unprivileged container) or the key cannot be changed at run " +
				"time, that is an error: set apply = false to only persist the value. false: only the file " +
				"is managed; the running value is not even read.",
			Example: `false`},
	}
}

// resource is a kernel parameter configured for one host.
type resource struct {
	key   key
	value string // normalised
	state string
	file  string
	apply bool
	// hidden is set when the value, the key or the file comes from a
	// sensitive variable: the diff is not shown and the actions are
	// sensitive. hideKey and hideFile keep the key and the file out of
	// summaries and errors too.
	hidden, hideKey, hideFile bool
}

// New validates c and builds a sysctl resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		state:    r.OneOf("state", "present", "absent"),
		file:     r.AbsPath("file", false),
		hideKey:  c.Sensitive["name"],
		hideFile: c.Sensitive["file"],
	}
	res.hidden = res.hideKey || res.hideFile || c.Sensitive["value"]
	res.apply, _ = r.Bool("apply")
	if name := r.Required("name"); name != "" {
		k, err := parseKey(name)
		switch {
		case err != nil && res.hideKey:
			r.Errorf("name", "is not a sysctl key like \"net.ipv4.ip_forward\" (the value is sensitive, not shown)")
		case err != nil:
			r.Errorf("name", "%v", err)
		}
		res.key = k
	}
	if res.file != "" && (!strings.HasSuffix(res.file, ".conf") || path.Base(res.file) == ".conf") {
		r.Errorf("file", "%s must end in .conf: systemd-sysctl and sysctl --system read no other file", r.Quote("file", res.file))
	}
	if v, set := r.String("value"); set {
		res.value = normValue(v)
		switch {
		case strings.ContainsAny(v, "\n\r"):
			r.Errorf("value", "must be one line")
		case res.value == "":
			r.Errorf("value", "is empty or only white space")
		}
	} else if res.state == "present" && r.Value("value").IsNull() {
		r.Errorf("value", "is required unless state is \"absent\"")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// live reports whether the running value is managed: only for a key
// that is present, with apply.
func (res *resource) live() bool { return res.state == "present" && res.apply }

// fileProbe reads the file; its command holds the file's path.
func (res *resource) fileProbe() modules.Probe {
	p := facts.ConfFileProbe(res.file)
	p.Sensitive = res.hideFile
	return p
}

// liveProbe reads the key; its command holds the key's path.
func (res *resource) liveProbe() modules.Probe {
	p := facts.SysctlProbe(res.key.path)
	p.Sensitive = res.hideKey
	return p
}

// Probes asks for the file and, when the running value is managed, the
// key under /proc/sys and whether /proc/sys is mounted read-only.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	ps := []modules.Probe{res.fileProbe()}
	if res.live() {
		ps = append(ps, res.liveProbe(), facts.ProcSysMountProbe())
	}
	return ps
}

// keyName names the key in summaries and errors.
func (res *resource) keyName() string {
	if res.hideKey {
		return "a kernel parameter (sensitive name)"
	}
	return res.key.name
}

// fileName names the file in summaries and errors.
func (res *resource) fileName() string {
	if res.hideFile {
		return "a file (sensitive path)"
	}
	return res.file
}

// shown is "KEY = VALUE", or without the value when anything is sensitive.
func (res *resource) shown() string {
	if res.hidden {
		return res.keyName() + " (value not shown)"
	}
	return res.key.name + " = " + res.value
}

// Plan sets the running value first, so a value the kernel refuses is
// not persisted for the next boot, then writes the file.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	var acts []modules.Action
	if res.live() {
		a, err := res.planLive(f)
		if err != nil {
			return nil, err
		}
		acts = append(acts, a...)
	}
	a, err := res.planFile(f)
	if err != nil {
		return nil, err
	}
	return append(acts, a...), nil
}

// planLive compares the running value and writes the new one to /proc/sys.
// No sysctl binary is needed: minimal images have no procps, and sysctl
// -w does just this write.
func (res *resource) planLive(f modules.Facts) ([]modules.Action, error) {
	r, err := facts.Get(f, res.liveProbe())
	if err != nil {
		return nil, err
	}
	s, err := facts.ParseSysctl(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", res.keyName(), err)
	}
	switch {
	case !s.Exists && res.hideKey:
		return nil, fmt.Errorf("%s does not exist on this host: %w", res.keyName(), modules.ErrMissingOnHost)
	case !s.Exists:
		return nil, fmt.Errorf("kernel parameter %s does not exist on this host (no %s): the name is misspelt, or "+
			"the module that provides it is not loaded: %w", res.key.name, res.key.path, modules.ErrMissingOnHost)
	case !s.Readable:
		return nil, fmt.Errorf("%s cannot be read (a write-only key), so its value cannot be compared", res.keyName())
	case normValue(s.Value) == res.value:
		return nil, nil
	}
	r, err = facts.Get(f, facts.ProcSysMountProbe())
	if err != nil {
		return nil, err
	}
	readOnly, err := facts.ParseProcSysMount(r)
	if err != nil {
		return nil, err
	}
	switch {
	case readOnly:
		return nil, fmt.Errorf("/proc/sys is mounted read-only on this host (an unprivileged container?), so %s "+
			"cannot be set now; set apply = false to only persist it", res.keyName())
	case !s.Writable:
		return nil, fmt.Errorf("%s is read-only: it cannot be set while the system runs; set apply = false to "+
			"only persist it", res.keyName())
	}
	summary := "set " + res.shown()
	if !res.hidden {
		summary += " (was " + normValue(s.Value) + ")"
	}
	return []modules.Action{{
		Summary:   summary,
		Command:   "printf '%s\\n' " + transport.ShellQuote(res.value) + " > " + transport.ShellQuote(res.key.path),
		Sensitive: res.hidden,
	}}, nil
}

// planFile writes the key's line into the file, keeping every other line.
func (res *resource) planFile(f modules.Facts) ([]modules.Action, error) {
	r, err := facts.Get(f, res.fileProbe())
	if err != nil {
		return nil, err
	}
	cf, err := facts.ParseConfFile(res.fileName(), r)
	if err != nil {
		return nil, err
	}
	old := textedit.SplitLines(cf.Content)
	var line string
	if res.state == "present" {
		line = res.key.name + " = " + res.value
	}
	lines := edit(old, res.key, res.value, line)
	if cf.Exists && slices.Equal(lines, old) || !cf.Exists && len(lines) == 0 {
		return nil, nil
	}
	from := filediff.Side{}
	if cf.Exists {
		from = filediff.Text([]byte(cf.Content))
	}
	q := transport.ShellQuote(res.file)
	if res.state == "absent" {
		summary := "remove " + res.keyName() + " from " + res.fileName()
		if len(lines) == 0 {
			return []modules.Action{{
				Summary:   summary + " (and delete the file, left empty)",
				Diff:      filediff.Unified(res.file, from, filediff.Side{}, res.hidden),
				Command:   "rm -f " + q,
				Sensitive: res.hidden,
			}}, nil
		}
		return []modules.Action{res.upload(summary, from, lines)}, nil
	}
	var acts []modules.Action
	if cf.NoDir {
		dir := path.Dir(res.file)
		summary := "create directory " + dir
		if res.hideFile {
			summary = "create the file's directory"
		}
		acts = append(acts, modules.Action{Summary: summary, Command: "mkdir -p " + transport.ShellQuote(dir), Sensitive: res.hidden})
	}
	return append(acts, res.upload("persist "+res.shown()+" in "+res.fileName(), from, lines)), nil
}

// upload writes lines as the file, world-readable as sysctl.d files are.
func (res *resource) upload(summary string, from filediff.Side, lines []string) modules.Action {
	content := []byte(textedit.JoinLines(lines))
	return modules.Action{
		Summary:   summary,
		Diff:      filediff.Unified(res.file, from, filediff.Text(content), res.hidden),
		Upload:    &modules.Upload{Path: res.file, Content: content, Mode: 0o644},
		Sensitive: res.hidden,
	}
}
