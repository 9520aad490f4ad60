package packages

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// apt drives Debian and Ubuntu hosts: dpkg-query for what is installed,
// apt-cache policy for candidates, apt-get to change.
type apt struct{}

// Debian package names are lowercase letters, digits and + - . (policy
// 5.6.1), optionally with an architecture; versions are [epoch:]upstream
// [-revision].
var (
	aptNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)
	aptVersionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~:_-]*$`)
)

func (apt) checkName(n string) string {
	if !aptNameRE.MatchString(n) {
		return "is not a package name (lowercase letters, digits, + - ., optionally :arch)"
	}
	return ""
}

func (apt) checkVersion(v string) string {
	if !aptVersionRE.MatchString(v) {
		return "is not a package version like \"1.22.1-9\" or \"1:2.3-1\""
	}
	return ""
}

// probes asks dpkg for the packages' status, and for latest apt for their
// candidate versions.
func (apt) probes(res *resource) []modules.Probe {
	ps := []modules.Probe{facts.DpkgProbe(res.names)}
	if res.state == "latest" {
		ps = append(ps, facts.AptPolicyProbe(res.names))
	}
	return ps
}

func (apt) read(res *resource, f modules.Facts) (*hostState, error) {
	r, err := res.get(f, facts.DpkgProbe(res.names))
	if err != nil {
		return nil, err
	}
	dpkg, err := facts.ParseDpkg(r)
	if err != nil {
		return nil, err
	}
	var policy map[string]facts.AptPolicy
	if res.state == "latest" {
		r, err := res.get(f, facts.AptPolicyProbe(res.names))
		if err != nil {
			return nil, err
		}
		if policy, err = facts.ParseAptPolicy(r); err != nil {
			return nil, err
		}
	}
	st := &hostState{installed: map[string]string{}, newer: map[string]string{}}
	for _, n := range res.names {
		base, _, _ := strings.Cut(n, ":") // dpkg prints names without :arch
		p, ok := dpkg[base]
		if !ok || !p.Installed() {
			continue
		}
		st.installed[n] = p.Version
		// A package without a candidate (dropped from the archive) or
		// missing from the output stays as it is.
		if c := candidate(policy, n); c != "" && c != p.Version {
			st.newer[n] = c
		}
	}
	st.pinned = exact(st.installed)
	return st, nil
}

func (apt) remove(names []string) string {
	return "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q " + lockTimeout + " " + transport.ShellJoin(names...)
}

// install is one apt-get install, after apt-get update when needed. A
// pinned version is name=version; an upgrade is the bare name, which apt
// takes to its candidate.
func (apt) install(h *modules.Host, res *resource, items []item) string {
	want := make([]string, len(items))
	for i, it := range items {
		want[i] = it.name
	}
	cmd := "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " +
		"-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold " + lockTimeout + " "
	if res.version != "" {
		// The user pinned this version: going back to it is intended.
		cmd += "--allow-downgrades "
	}
	return updateIfNeeded(h.RunID, want) + " && " + cmd + transport.ShellJoin(pinSpecs(items, res.version)...)
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
	return refreshIfNeeded(runID, "apt-updated", need, "apt-get update -q")
}

// candidate is apt's candidate version of name; "" when none is known.
func candidate(policy map[string]facts.AptPolicy, name string) string {
	if p, ok := policy[name]; ok {
		return p.Candidate
	}
	base, _, _ := strings.Cut(name, ":")
	return policy[base].Candidate
}
