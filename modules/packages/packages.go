// Package packages is the `package` resource type: system packages
// installed (at a version, or the newest) or removed, through the host's
// package manager: apt, dnf, yum, apk or zypper.
package packages

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Type is the `package` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "package",
		Doc: "System packages, installed, upgraded or removed with the host's package manager. " +
			"That is apt (Debian, Ubuntu), dnf (RHEL 8 and later, Rocky, Alma, Fedora), yum (CentOS 7), apk " +
			"(Alpine) or zypper (openSUSE, SLES), chosen from the host's pkg_mgr fact unless provider is set. " +
			"All packages of one resource that need installing go in one package-manager call, and so do " +
			"those to remove. The package index is refreshed (apt-get update, dnf or yum makecache, apk " +
			"update, zypper refresh) at most once per run on a host, and only when a package to install is " +
			"missing from it or it was never downloaded; what state = \"latest\" upgrades to is read from " +
			"the index as it is. Recommended (weak) dependencies are not installed (apt, dnf, zypper), and " +
			"apt keeps changed configuration files.",
		Attrs: schema(),
		New:   New,
	}
}

// providers are the package managers the resource drives, in the order
// errors list them.
var providers = []string{"apt", "dnf", "yum", "apk", "zypper"}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.DynamicPseudoType, Required: true,
			Doc: "A package name, or a list of them: the package's own name, as the package manager " +
				"lists installed packages (not a virtual package, a file or a capability). apt takes an " +
				"architecture as \"name:arch\" (\"libc6:i386\"); rpm-based names are given without one.",
			Example: `["nginx", "curl"]`},
		{Name: "version", Type: cty.String,
			Doc: "Exact version to install, only with a single name; downgrades are allowed. As the " +
				"package manager prints it: apt \"1:2.3-1\" (epoch included, as apt-cache policy shows it); " +
				"dnf, yum and zypper \"[epoch:]version[-release]\" (\"1.20.1\" accepts any release of " +
				"1.20.1, yum ignores the epoch); apk \"version-rN\" (\"8.5.0-r0\"; apk keeps the package at " +
				"that version in /etc/apk/world). Null installs whatever the index offers and leaves an " +
				"installed package at its version.",
			Example: `"1.22.1-9"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: installed (at version when given). latest: installed and upgraded to the newest " +
				"version the host's package index offers as it is; the index is not refreshed just for this. " +
				"absent: removed (apt-get remove keeps configuration files; dnf, yum and zypper also remove " +
				"the packages that depend on them; apk del keeps a package that another one needs).",
			Example: `"latest"`},
		{Name: "provider", Type: cty.String,
			Doc: "Package manager to use: apt, dnf, yum, apk or zypper. Null uses the host's (the pkg_mgr " +
				"fact); set it on a host whose manager was not recognised, or to use dnf where yum is found first.",
			Example: `"dnf"`},
	}
}

// What New accepts before it knows the package manager: the union of the
// families' rules, none of which lets a name or a version start with "-"
// (read as an option). Plan checks the chosen manager's own rule.
var (
	anyNameRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*(:[a-z0-9-]+)?$`)
	anyVersionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~^:_-]*$`)
)

// resource is a package set configured for one host.
type resource struct {
	names    []string // sorted, unique
	version  string
	state    string
	provider string // "" chooses from the host's facts
	// hideNames and hideVersion are set when the names or the version
	// came from a sensitive variable (or sensitive = true): they stay out
	// of summaries, errors and probe IDs, and the commands are marked.
	hideNames, hideVersion bool
}

// New validates c and builds a package resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		state:       r.OneOf("state", "present", "absent", "latest"),
		provider:    r.OneOf("provider", providers...),
		hideNames:   r.Sensitive("name"),
		hideVersion: r.Sensitive("version"),
	}
	var m manager
	if res.provider != "" {
		m = managerFor(res.provider)
	}
	v := r.Value("name")
	switch {
	case v.IsNull():
		r.Errorf("name", "is required")
	case v.IsWhollyKnown():
		names := r.Strings("name")
		if len(names) == 0 && r.Err() == nil {
			r.Errorf("name", "lists no package")
		}
		for _, n := range names {
			switch {
			case m != nil:
				if why := m.checkName(n); why != "" {
					r.Errorf("name", "%s %s", r.Quote("name", n), why)
				}
			case !anyNameRE.MatchString(n):
				r.Errorf("name", "%s is not a package name (letters, digits, + - . _, for apt optionally :arch)", r.Quote("name", n))
			}
		}
		slices.Sort(names)
		res.names = slices.Compact(names)
	}
	if ver, set := r.String("version"); set {
		why := ""
		switch {
		case m != nil:
			why = m.checkVersion(ver)
		case !anyVersionRE.MatchString(ver):
			why = "is not a package version like \"1.22.1-9\", \"1:2.3-1\" or \"8.5.0-r0\""
		}
		switch {
		case why != "":
			r.Errorf("version", "%s %s", r.Quote("version", ver), why)
		case res.state == "latest":
			r.Errorf("version", "cannot be combined with state = \"latest\"")
		case len(res.names) > 1:
			r.Errorf("version", "pins one package, but name lists %d", len(res.names))
		case res.state == "present":
			res.version = ver
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// manager is one package manager: its naming rules, the facts it needs
// and the commands that change the host.
type manager interface {
	// checkName and checkVersion are "" for a name or version the
	// manager accepts, else what is wrong with it, to follow the quoted
	// value ("is not a package name (...)").
	checkName(n string) string
	checkVersion(v string) string
	// probes are the facts read needs.
	probes(res *resource) []modules.Probe
	// read returns what is installed of each of res.names and, for
	// state = "latest", the newer versions the index offers.
	read(res *resource, f modules.Facts) (*hostState, error)
	// remove is the command that removes names (all installed).
	remove(names []string) string
	// install is the command that makes items true.
	install(h *modules.Host, res *resource, items []item) string
}

// hostState is what a manager read from its facts, by the names of the
// resource.
type hostState struct {
	// installed is the installed version of each installed name (the
	// newest, when several instances are installed).
	installed map[string]string
	// pinned reports whether name has an installed instance at version
	// (several may be installed: kernels, multilib).
	pinned func(name, version string) bool
	// newer is the version state = "latest" upgrades name to, for names
	// whose index offers a newer one than installed.
	newer map[string]string
}

// item is one package to install or change.
type item struct {
	name string
	from string // installed version; "" when not installed
	to   string // version to install: pinned or newer; "" for what the index offers
}

func managerFor(name string) manager {
	switch name {
	case "apt":
		return apt{}
	case "dnf":
		return dnf{}
	case "yum":
		return yum{}
	case "apk":
		return apk{}
	case "zypper":
		return zypper{}
	}
	return nil
}

// manager is the package manager of res on h, forced or from the facts,
// with the names and version checked against its rules.
func (res *resource) manager(h *modules.Host) (manager, error) {
	name := res.provider
	if name == "" {
		name = h.PkgMgr
	}
	m := managerFor(name)
	if m == nil {
		if name == "" || name == "unknown" {
			return nil, fmt.Errorf("the host's package manager was not recognised (none of %s was found): "+
				"set provider to the one it has", strings.Join(providers, ", "))
		}
		return nil, fmt.Errorf("the host's package manager %q is not supported: set provider to one of %s",
			name, strings.Join(providers, ", "))
	}
	for _, n := range res.names {
		if why := m.checkName(n); why != "" {
			return nil, &modules.AttrError{Attr: "name", Msg: res.quoteName(n) + " " + why}
		}
	}
	if res.version != "" {
		if why := m.checkVersion(res.version); why != "" {
			return nil, &modules.AttrError{Attr: "version", Msg: res.quoteVersion() + " " + why}
		}
	}
	return m, nil
}

// Probes are the facts of the host's package manager: the installed
// versions of the names and, for latest, the newer versions the index
// offers. None when the manager is unknown or refuses a name: Plan says so.
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	m, err := res.manager(h)
	if err != nil {
		return nil
	}
	ps := m.probes(res)
	for i, p := range ps {
		ps[i] = res.hide(p)
	}
	return ps
}

// hide marks a probe sensitive when the names are, and replaces an ID
// that lists them by a hash of it: IDs appear in logs and engine errors.
func (res *resource) hide(p modules.Probe) modules.Probe {
	if !res.hideNames {
		return p
	}
	p.Sensitive = true
	if kind, rest, ok := strings.Cut(p.ID, ":"); ok && rest != "" {
		sum := sha256.Sum256([]byte(p.ID))
		p.ID = kind + ":sensitive-" + hex.EncodeToString(sum[:8])
	}
	return p
}

// get is the result of probe p as Probes declared it.
func (res *resource) get(f modules.Facts, p modules.Probe) (modules.ProbeResult, error) {
	return facts.Get(f, res.hide(p))
}

// Plan installs, upgrades or removes what differs, in one call of the
// package manager.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	m, err := res.manager(h)
	if err != nil {
		return nil, err
	}
	st, err := m.read(res, f)
	if err != nil {
		if res.hideNames {
			// Parse errors quote the host's output, which names packages.
			return nil, &hiddenError{err}
		}
		return nil, err
	}
	if res.state == "absent" {
		var remove []string
		for _, n := range res.names {
			if _, ok := st.installed[n]; ok {
				remove = append(remove, n)
			}
		}
		if len(remove) == 0 {
			return nil, nil
		}
		return []modules.Action{{Summary: "remove " + res.list(remove), Command: m.remove(remove),
			Sensitive: res.hideNames}}, nil
	}
	var items []item
	var installs, upgrades []string
	for _, n := range res.names {
		from, ok := st.installed[n]
		switch {
		case !ok && res.version != "":
			items = append(items, item{name: n, to: res.version})
			installs = append(installs, n+" "+res.shownVersion())
		case !ok:
			items = append(items, item{name: n})
			installs = append(installs, n)
		case res.version != "" && !st.pinned(n, res.version):
			items = append(items, item{name: n, from: from, to: res.version})
			upgrades = append(upgrades, fmt.Sprintf("%s %s → %s", n, from, res.shownVersion()))
		case res.state == "latest" && st.newer[n] != "":
			items = append(items, item{name: n, from: from, to: st.newer[n]})
			upgrades = append(upgrades, fmt.Sprintf("%s %s → %s", n, from, st.newer[n]))
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	var summary []string
	if len(installs) > 0 {
		summary = append(summary, "install "+res.list(installs))
	}
	if len(upgrades) > 0 {
		verb := "upgrade "
		if res.version != "" {
			verb = "change "
		}
		summary = append(summary, verb+res.list(upgrades))
	}
	return []modules.Action{{Summary: strings.Join(summary, "; "), Command: m.install(h, res, items),
		Sensitive: res.hideNames || res.hideVersion}}, nil
}

// list joins the packages of a summary, or counts them when their names
// are sensitive.
func (res *resource) list(what []string) string {
	switch {
	case !res.hideNames:
		return strings.Join(what, ", ")
	case len(what) == 1:
		return "1 package (sensitive, not shown)"
	}
	return fmt.Sprintf("%d packages (sensitive, not shown)", len(what))
}

// quoteName is a name for an error, hidden when names are sensitive.
func (res *resource) quoteName(n string) string {
	if res.hideNames {
		return "(sensitive value)"
	}
	return strconv.Quote(n)
}

// hiddenError stands for an error whose text may quote sensitive package
// names: it says what failed without it, and unwraps to it.
type hiddenError struct{ err error }

func (e *hiddenError) Error() string {
	return "reading the package manager's facts failed (details not shown: the package names are sensitive)"
}

func (e *hiddenError) Unwrap() error { return e.err }

// shownVersion is the pinned version for a summary.
func (res *resource) shownVersion() string {
	if res.hideVersion {
		return "(sensitive version)"
	}
	return res.version
}

// refreshIfNeeded is the shell snippet that refreshes a package index
// before an install, only when need (a shell condition) says it can help
// and at most once per run: a marker under /run, which a reboot clears,
// records that this run refreshed. marker names it per manager
// ("dnf-refreshed", "apt-updated"), so that managers sharing a host do
// not skip each other's refresh. Without a run ID there is no marker, and
// the index is refreshed whenever need holds.
func refreshIfNeeded(runID, marker, need, refresh string) string {
	if runID == "" {
		return "if " + need + "; then " + refresh + "; fi"
	}
	m := transport.ShellQuote("/run/opsrun-" + marker + "-" + sanitize(runID))
	return "if [ ! -e " + m + " ] && " + need + "; then " + refresh + " && touch " + m + "; fi"
}

// sanitize keeps a run ID usable as a file name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// quoteVersion is the pinned version for a message, hidden when it came
// from a sensitive variable.
func (res *resource) quoteVersion() string {
	if res.hideVersion {
		return "(sensitive value)"
	}
	return strconv.Quote(res.version)
}

// exact is the pinned-version test of managers whose installed version
// is one string compared whole (apt, apk).
func exact(installed map[string]string) func(name, version string) bool {
	return func(name, version string) bool { return installed[name] == version }
}

// pinSpecs are the install arguments of items for the managers that take
// a pinned version as name=version (apt, apk, zypper); without a pin each
// is the bare name, which the manager installs or upgrades to its
// candidate.
func pinSpecs(items []item, version string) []string {
	specs := make([]string, len(items))
	for i, it := range items {
		specs[i] = it.name
		if version != "" {
			specs[i] += "=" + version
		}
	}
	return specs
}
