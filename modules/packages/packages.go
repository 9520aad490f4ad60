// Package packages is the `package` resource type: system packages
// installed (at a version, or the newest) or removed, through the host's
// package manager. This issue supports apt.
package packages

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

// Type is the `package` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "package",
		Doc: "System packages, installed or removed with the host's package manager (apt for now). " +
			"All packages of one resource that need installing go in one apt-get call. The package " +
			"index is refreshed (apt-get update) at most once per run on a host, and only when a package " +
			"to install has no install candidate or the index was never downloaded. Recommended packages " +
			"are not installed, and changed configuration files are kept.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "name", Type: cty.DynamicPseudoType, Required: true,
			Doc: "A package name, or a list of them. An architecture may be given as " +
				"\"name:arch\" (\"libc6:i386\").",
			Example: `["nginx", "curl"]`},
		{Name: "version", Type: cty.String,
			Doc: "Exact version to install (as apt-cache policy shows it, epoch included: \"1:2.3-1\"). " +
				"Only with a single name; downgrades are allowed. Null installs whatever is the candidate " +
				"and leaves an installed package at its version.",
			Example: `"1.22.1-9"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: installed (at version when given). latest: installed and upgraded to the " +
				"candidate version of the host's package index as it is; the index is not refreshed just " +
				"for this. absent: removed (apt-get remove: configuration files stay).",
			Example: `"latest"`},
	}
}

// Debian package names are lowercase letters, digits and + - . (policy
// 5.6.1), optionally with an architecture; versions are [epoch:]upstream
// [-revision]. Checked so that no name can be read as an option.
var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)
	versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~:_-]*$`)
)

// resource is a package set configured for one host.
type resource struct {
	names   []string // sorted, unique
	version string
	state   string
}

// New validates c and builds a package resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{state: r.OneOf("state", "present", "absent", "latest")}
	v := r.Value("name")
	if v.IsNull() {
		r.Errorf("name", "is required")
	} else if v.IsWhollyKnown() {
		names := r.Strings("name")
		if len(names) == 0 && r.Err() == nil {
			r.Errorf("name", "lists no package")
		}
		for _, n := range names {
			if !nameRE.MatchString(n) {
				r.Errorf("name", "%q is not a package name (lowercase letters, digits, + - ., optionally :arch)", n)
			}
		}
		slices.Sort(names)
		res.names = slices.Compact(names)
	}
	if ver, set := r.String("version"); set {
		switch {
		case !versionRE.MatchString(ver):
			r.Errorf("version", "%q is not a package version like \"1.22.1-9\" or \"1:2.3-1\"", ver)
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

// Probes asks dpkg for the packages' status, and for latest apt for their
// candidate versions. Other package managers are refused in Plan.
func (res *resource) Probes(h *modules.Host) []modules.Probe {
	if h.PkgMgr != "apt" {
		return nil
	}
	ps := []modules.Probe{facts.DpkgProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, facts.AptPolicyProbe(res.names))
	}
	return ps
}

// Plan installs, upgrades or removes what differs, in one apt-get call.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if h.PkgMgr != "apt" {
		return nil, fmt.Errorf("package manager %s is not supported yet (only apt is)", orUnknown(h.PkgMgr))
	}
	r, err := facts.Get(f, facts.DpkgProbe(res.names))
	if err != nil {
		return nil, err
	}
	installed, err := facts.ParseDpkg(r)
	if err != nil {
		return nil, err
	}
	lookup := func(name string) (facts.DpkgPackage, bool) {
		base, _, _ := strings.Cut(name, ":") // dpkg prints names without :arch
		p, ok := installed[base]
		return p, ok && p.Installed()
	}
	if res.state == "absent" {
		var remove []string
		for _, n := range res.names {
			if _, ok := lookup(n); ok {
				remove = append(remove, n)
			}
		}
		if len(remove) == 0 {
			return nil, nil
		}
		return []modules.Action{{
			Summary: "remove " + strings.Join(remove, ", "),
			Command: "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q " + lockTimeout + " " + transport.ShellJoin(remove...),
		}}, nil
	}
	var policy map[string]facts.AptPolicy
	if res.state == "latest" {
		r, err := facts.Get(f, facts.AptPolicyProbe(res.names))
		if err != nil {
			return nil, err
		}
		if policy, err = facts.ParseAptPolicy(r); err != nil {
			return nil, err
		}
	}
	// args go to apt-get; want are their names, for the candidate check.
	var args, want, installs, upgrades []string
	for _, n := range res.names {
		p, ok := lookup(n)
		switch {
		case !ok && res.version != "":
			args = append(args, n+"="+res.version)
			installs = append(installs, n+" "+res.version)
		case !ok:
			args = append(args, n)
			installs = append(installs, n)
		case res.version != "" && p.Version != res.version:
			args = append(args, n+"="+res.version)
			upgrades = append(upgrades, fmt.Sprintf("%s %s → %s", n, p.Version, res.version))
		case res.state == "latest":
			// A package without a candidate (dropped from the archive) or
			// missing from the output stays as it is.
			c := candidate(policy, n)
			if c != "" && c != p.Version {
				args = append(args, n)
				upgrades = append(upgrades, fmt.Sprintf("%s %s → %s", n, p.Version, c))
			}
		}
	}
	if len(args) == 0 {
		return nil, nil
	}
	for _, a := range args {
		n, _, _ := strings.Cut(a, "=")
		want = append(want, n)
	}
	var summary []string
	if len(installs) > 0 {
		summary = append(summary, "install "+strings.Join(installs, ", "))
	}
	if len(upgrades) > 0 {
		verb := "upgrade "
		if res.version != "" {
			verb = "change "
		}
		summary = append(summary, verb+strings.Join(upgrades, ", "))
	}
	install := "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " +
		"-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold " + lockTimeout + " "
	if res.version != "" {
		// The user pinned this version: going back to it is intended.
		install += "--allow-downgrades "
	}
	return []modules.Action{{
		Summary: strings.Join(summary, "; "),
		Command: updateIfNeeded(h.RunID, want) + " && " + install + transport.ShellJoin(args...),
	}}, nil
}

// lockTimeout makes apt wait for the dpkg lock instead of failing at once:
// on a freshly booted host apt-daily and unattended-upgrades hold it for a
// while.
const lockTimeout = "-o DPkg::Lock::Timeout=300"

// updateIfNeeded is the shell snippet that runs apt-get update before an
// install, only when it can help and at most once per run: when the index
// was never downloaded (minimal images ship without lists) or some package
// has no install candidate, and when this run has not updated already (a
// marker under /run, which a reboot clears). Without a run ID there is no
// marker, so the index is refreshed whenever a candidate is missing.
func updateIfNeeded(runID string, names []string) string {
	need := "{ ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || " +
		"[ \"$(LC_ALL=C apt-cache policy " + transport.ShellJoin(names...) + " 2>/dev/null | grep -c '^  Candidate: [^(]')\" -lt " +
		fmt.Sprint(len(names)) + " ]; }"
	if runID == "" {
		return "if " + need + "; then apt-get update -q; fi"
	}
	m := transport.ShellQuote("/run/opsrun-apt-updated-" + sanitize(runID))
	return "if [ ! -e " + m + " ] && " + need + "; then apt-get update -q && touch " + m + "; fi"
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

// candidate is apt's candidate version of name; "" when none is known.
func candidate(policy map[string]facts.AptPolicy, name string) string {
	if p, ok := policy[name]; ok {
		return p.Candidate
	}
	base, _, _ := strings.Cut(name, ":")
	return policy[base].Candidate
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
