package packages

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// rpm is what dnf, yum and zypper share: rpm-based names and versions (and
// rpmProbes, rpmRead for what is installed).
type rpm struct{}

// RPM package names may hold upper case, digits and _ + - . (Fedora's
// naming guidelines allow [a-zA-Z0-9-._+]); versions are
// [epoch:]version[-release] of letters, digits and . _ + ~ ^.
var (
	rpmNameRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	rpmVersionRE = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9._+~^]*(-[A-Za-z0-9][A-Za-z0-9._+~^]*)?$`)
)

// rpmArches are architecture suffixes a name may not end with: rpm -q
// prints the bare name, so "curl.x86_64" would never be seen installed and
// would be installed on every run.
var rpmArches = []string{"x86_64", "i686", "i586", "i386", "noarch", "aarch64", "armv7hl", "ppc64le", "ppc64", "s390x", "src"}

func (rpm) checkName(n string) string {
	if !rpmNameRE.MatchString(n) {
		return "is not a package name (letters, digits, _ + - .)"
	}
	if i := strings.LastIndexByte(n, '.'); i >= 0 && slices.Contains(rpmArches, n[i+1:]) {
		return "ends with an architecture: give the package name alone"
	}
	return ""
}

func (rpm) checkVersion(v string) string {
	if !rpmVersionRE.MatchString(v) {
		return "is not a package version like \"1.20.1\", \"1.20.1-14.el9\" or \"1:1.20.1-14.el9\""
	}
	return ""
}

// rpmProbes are the facts dnf, yum and zypper read: rpm -q for what is
// installed and, for state = "latest", the manager's own probe of updates.
func rpmProbes(res *resource, updates modules.Probe) []modules.Probe {
	ps := []modules.Probe{facts.RPMProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, updates)
	}
	return ps
}

// rpmRead reads the rpm probe: the newest installed version of each name,
// and whether an installed instance matches a pinned version. For state =
// "latest" it reads the manager's probe of updates too, parsed by parse
// into updates by name whose version is evr. Only an update newer than the
// newest installed instance counts: dnf lists each architecture's newest
// (multilib), and an odd yum or zypper listing (another architecture's
// newer build) would otherwise plan an upgrade that changes nothing, again
// on every run.
func rpmRead[U any](res *resource, f modules.Facts, updates modules.Probe,
	parse func(modules.ProbeResult) (map[string]U, error), evr func(U) string) (*hostState, error) {
	r, err := res.get(f, facts.RPMProbe(res.names))
	if err != nil {
		return nil, err
	}
	pkgs, err := facts.ParseRPM(r)
	if err != nil {
		return nil, err
	}
	st := &hostState{installed: map[string]string{}, newer: map[string]string{}}
	for _, n := range res.names {
		for _, p := range pkgs[n] {
			if cur, ok := st.installed[n]; !ok || facts.CompareEVR(p.EVR(), cur) > 0 {
				st.installed[n] = p.EVR()
			}
		}
	}
	st.pinned = func(name, version string) bool {
		for _, p := range pkgs[name] {
			if rpmMatches(p, version) {
				return true
			}
		}
		return false
	}
	if res.state != "latest" {
		return st, nil
	}
	if r, err = res.get(f, updates); err != nil {
		return nil, err
	}
	up, err := parse(r)
	if err != nil {
		return nil, err
	}
	for n := range st.installed {
		if u, ok := up[n]; ok && facts.CompareEVR(evr(u), st.installed[n]) > 0 {
			st.newer[n] = evr(u)
		}
	}
	return st, nil
}

// rpmMatches reports whether installed package p is at the pinned
// version: the epoch counts only when the pin gives one, the release only
// when it gives one (as dnf reads "nginx-1.20.1").
func rpmMatches(p facts.RPMPackage, pinned string) bool {
	e, v, r, ok := facts.SplitEVR(pinned)
	if !ok {
		return false
	}
	if e != "" && strings.TrimLeft(e, "0") != strings.TrimLeft(p.Epoch, "0") {
		return false
	}
	return v == p.Version && (r == "" || r == p.Release)
}

// dnf drives RHEL 8 and later, Rocky, Alma and Fedora (dnf 4 and 5).
type dnf struct{ rpm }

func (dnf) probes(res *resource) []modules.Probe {
	return rpmProbes(res, facts.DnfUpgradesProbe(res.names))
}

func (dnf) read(res *resource, f modules.Facts) (*hostState, error) {
	return rpmRead(res, f, facts.DnfUpgradesProbe(res.names), facts.ParseDnfRepoquery, facts.RPMPackage.EVR)
}

func (dnf) remove(names []string) string {
	return "dnf -y -q remove " + transport.ShellJoin(names...)
}

// install is one dnf install. dnf install does not upgrade an installed
// package given by its bare name, but installs exactly the version of a
// "name-[epoch:]version[-release]" spec, upgrading or downgrading (dnf(8),
// install), so upgrades and pins name their version. The metadata cache
// is refreshed first when it lacks a spec (or is empty: dnf -C prints
// nothing then).
func (dnf) install(h *modules.Host, res *resource, items []item) string {
	specs := rpmSpecs(items, "-", true)
	need := "[ \"$(dnf -C -q repoquery --queryformat '%{name}\\n' " + transport.ShellJoin(specs...) +
		" 2>/dev/null | sort -u | grep -c .)\" -lt " + fmt.Sprint(len(specs)) + " ]"
	return refreshIfNeeded(h.RunID, "dnf-refreshed", need, "dnf -q makecache --refresh") +
		" && dnf -y -q --setopt=install_weak_deps=False install " + transport.ShellJoin(specs...)
}

// rpmSpecs are the package specs of items: the bare name, or
// name+sep+version for a pinned or newer version, the epoch dropped when
// the manager cannot take it without an architecture.
func rpmSpecs(items []item, sep string, epoch bool) []string {
	var specs []string
	for _, it := range items {
		if it.to == "" {
			specs = append(specs, it.name)
			continue
		}
		v := it.to
		if _, rest, found := strings.Cut(v, ":"); found && !epoch {
			v = rest
		}
		specs = append(specs, it.name+sep+v)
	}
	return specs
}

// yum drives CentOS 7 and other yum 3 hosts.
type yum struct{ rpm }

func (yum) probes(res *resource) []modules.Probe {
	return rpmProbes(res, facts.YumUpdatesProbe(res.names))
}

func (yum) read(res *resource, f modules.Facts) (*hostState, error) {
	return rpmRead(res, f, facts.YumUpdatesProbe(res.names), facts.ParseYumInfo, facts.RPMPackage.EVR)
}

func (yum) remove(names []string) string {
	return "yum -y -q remove " + transport.ShellJoin(names...)
}

// install is one yum install, or yum downgrade for a pinned version older
// than the installed one (yum install does not downgrade). Specs are
// name-version[-release]: yum takes an epoch only with an architecture
// ("name-epoch:version-release.arch"), so it is left out.
// skip_missing_names_on_install=False makes a name yum cannot find fail
// the call, instead of installing the others and exiting 0 (the default of
// later CentOS 7 yum).
func (yum) install(h *modules.Host, res *resource, items []item) string {
	specs := rpmSpecs(items, "-", false)
	verb := "--setopt=skip_missing_names_on_install=False install "
	if len(items) == 1 && items[0].from != "" && res.version != "" && facts.CompareEVR(res.version, items[0].from) < 0 {
		verb = "downgrade "
	}
	need := "[ \"$(LC_ALL=C yum -C -q --showduplicates info available " + transport.ShellJoin(specs...) +
		" 2>/dev/null | sed -n 's/^Name *: //p' | sort -u | grep -c .)\" -lt " + fmt.Sprint(len(specs)) + " ]"
	return refreshIfNeeded(h.RunID, "yum-refreshed", need, "yum -q clean expire-cache && yum -q makecache fast") +
		" && yum -y -q " + verb + transport.ShellJoin(specs...)
}

// zypper drives openSUSE and SLES.
type zypper struct{ rpm }

// zypperCmd makes zypper wait up to 300 s for the package manager lock
// (libzypp reads ZYPP_LOCK_TIMEOUT) instead of failing at once while
// another zypper or a PackageKit update holds it, and never prompt.
const zypperCmd = "ZYPP_LOCK_TIMEOUT=300 zypper --non-interactive "

func (zypper) probes(res *resource) []modules.Probe {
	return rpmProbes(res, facts.ZypperUpdatesProbe())
}

func (zypper) read(res *resource, f modules.Facts) (*hostState, error) {
	return rpmRead(res, f, facts.ZypperUpdatesProbe(), facts.ParseZypperUpdates,
		func(u facts.ZypperUpdate) string { return u.Edition })
}

func (zypper) remove(names []string) string {
	return zypperCmd + "remove " + transport.ShellJoin(names...)
}

// install is one zypper install: it installs missing packages and upgrades
// installed ones named bare to their update candidate; a pinned version is
// name=version, with --oldpackage to allow going back. The repositories
// are refreshed first when a dry run of the same install from the cache as
// it is fails (a package or version not found: exit 104).
func (zypper) install(h *modules.Host, res *resource, items []item) string {
	specs := pinSpecs(items, res.version)
	args := "install --no-recommends "
	if res.version != "" {
		args += "--oldpackage "
	}
	args += transport.ShellJoin(specs...)
	need := "! " + zypperCmd + "--no-refresh " + strings.Replace(args, "install ", "install --dry-run ", 1) + " >/dev/null 2>&1"
	return refreshIfNeeded(h.RunID, "zypper-refreshed", need, zypperCmd+"refresh") + " && " + zypperCmd + args
}
