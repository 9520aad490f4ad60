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

// rpm is what dnf, yum and zypper share: rpm-based names and versions, and
// rpm -q for what is installed.
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

// readInstalled reads the rpm probe: the newest installed version of each
// name, and whether an installed instance matches a pinned version.
func (rpm) readInstalled(res *resource, f modules.Facts) (*hostState, error) {
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
	ps := []modules.Probe{facts.RPMProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, facts.DnfUpgradesProbe(res.names))
	}
	return ps
}

func (d dnf) read(res *resource, f modules.Facts) (*hostState, error) {
	st, err := d.readInstalled(res, f)
	if err != nil || res.state != "latest" {
		return st, err
	}
	r, err := res.get(f, facts.DnfUpgradesProbe(res.names))
	if err != nil {
		return nil, err
	}
	up, err := facts.ParseDnfRepoquery(r)
	if err != nil {
		return nil, err
	}
	for n := range st.installed {
		// dnf lists each architecture's newest: only one newer than the
		// newest installed instance is an upgrade (multilib).
		if p, ok := up[n]; ok && facts.CompareEVR(p.EVR(), st.installed[n]) > 0 {
			st.newer[n] = p.EVR()
		}
	}
	return st, nil
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
	return refreshIfNeeded(h.RunID, "dnf", need, "dnf -q makecache --refresh") +
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
	ps := []modules.Probe{facts.RPMProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, facts.YumUpdatesProbe(res.names))
	}
	return ps
}

func (y yum) read(res *resource, f modules.Facts) (*hostState, error) {
	st, err := y.readInstalled(res, f)
	if err != nil || res.state != "latest" {
		return st, err
	}
	r, err := res.get(f, facts.YumUpdatesProbe(res.names))
	if err != nil {
		return nil, err
	}
	up, err := facts.ParseYumInfo(r)
	if err != nil {
		return nil, err
	}
	for n := range st.installed {
		// yum lists updates only; compared anyway so that an odd listing
		// (another architecture's newer build) cannot plan an upgrade
		// that changes nothing, again on every run.
		if p, ok := up[n]; ok && facts.CompareEVR(p.EVR(), st.installed[n]) > 0 {
			st.newer[n] = p.EVR()
		}
	}
	return st, nil
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
	return refreshIfNeeded(h.RunID, "yum", need, "yum -q clean expire-cache && yum -q makecache fast") +
		" && yum -y -q " + verb + transport.ShellJoin(specs...)
}

// zypper drives openSUSE and SLES.
type zypper struct{ rpm }

// zypperCmd makes zypper wait up to 300 s for the package manager lock
// (libzypp reads ZYPP_LOCK_TIMEOUT) instead of failing at once while
// another zypper or a PackageKit update holds it, and never prompt.
const zypperCmd = "ZYPP_LOCK_TIMEOUT=300 zypper --non-interactive "

func (zypper) probes(res *resource) []modules.Probe {
	ps := []modules.Probe{facts.RPMProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, facts.ZypperUpdatesProbe())
	}
	return ps
}

func (z zypper) read(res *resource, f modules.Facts) (*hostState, error) {
	st, err := z.readInstalled(res, f)
	if err != nil || res.state != "latest" {
		return st, err
	}
	r, err := res.get(f, facts.ZypperUpdatesProbe())
	if err != nil {
		return nil, err
	}
	up, err := facts.ParseZypperUpdates(r)
	if err != nil {
		return nil, err
	}
	for n := range st.installed {
		if u, ok := up[n]; ok && facts.CompareEVR(u.Edition, st.installed[n]) > 0 {
			st.newer[n] = u.Edition
		}
	}
	return st, nil
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
	var specs []string
	for _, it := range items {
		if res.version != "" {
			specs = append(specs, it.name+"="+res.version)
		} else {
			specs = append(specs, it.name)
		}
	}
	args := "install --no-recommends "
	if res.version != "" {
		args += "--oldpackage "
	}
	args += transport.ShellJoin(specs...)
	need := "! " + zypperCmd + "--no-refresh " + strings.Replace(args, "install ", "install --dry-run ", 1) + " >/dev/null 2>&1"
	return refreshIfNeeded(h.RunID, "zypper", need, zypperCmd+"refresh") + " && " + zypperCmd + args
}
