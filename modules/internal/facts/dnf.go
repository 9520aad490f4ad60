package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// repoqueryFormat is dnf repoquery's --queryformat. dnf 5 needs the \n;
// dnf 4 expands it and adds a newline of its own, so every line comes
// followed by an empty one (recorded from dnf 4.14, the version of RHEL 9):
//
//	opsrun-a 0:1.1-1 noarch
//
//	opsrun-b 2:3.1-1.el9 noarch
//
// %{epoch} prints 0 for a package without one.
const repoqueryFormat = `%{name} %{epoch}:%{version}-%{release} %{arch}\n`

// DnfUpgradesProbe asks dnf for the newest version of each of names that
// would upgrade an installed package (repoquery --upgrades: names not
// installed, or already newest, print nothing), from the metadata cache as
// it is (-C): a probe never downloads, and an empty or missing cache prints
// nothing (dnf 4 exits 0 and says "Cache-only enabled but no cache" on
// stderr).
func DnfUpgradesProbe(names []string) modules.Probe {
	return modules.Probe{
		ID: "dnf-upgrades:" + strings.Join(names, " "),
		Command: "dnf -C -q repoquery --upgrades --latest-limit 1 --queryformat " + transport.ShellQuote(repoqueryFormat) + " " +
			transport.ShellJoin(names...),
	}
}

// ParseDnfRepoquery parses DnfUpgradesProbe output into the newest
// package by name (one line per architecture: the highest version wins).
func ParseDnfRepoquery(r modules.ProbeResult) (map[string]RPMPackage, error) {
	if r.ExitStatus != 0 {
		return nil, fmt.Errorf("dnf repoquery failed (exit status %d)", r.ExitStatus)
	}
	out := map[string]RPMPackage{}
	for _, l := range lines(r.Stdout) {
		if strings.TrimSpace(l) == "" {
			continue // dnf 4's doubled newline
		}
		f := strings.Fields(l)
		p, ok := RPMPackage{}, len(f) == 3
		if ok {
			p, ok = parseNEVRA(f[0], f[1], f[2])
		}
		if !ok {
			return nil, fmt.Errorf("dnf repoquery printed %s, want name, epoch:version-release and architecture", short(l))
		}
		rpmKeepNewest(out, p)
	}
	return out, nil
}

// rpmKeepNewest records p unless a newer version of its name is recorded.
func rpmKeepNewest(m map[string]RPMPackage, p RPMPackage) {
	if old, ok := m[p.Name]; ok && CompareEVR(old.EVR(), p.EVR()) >= 0 {
		return
	}
	m[p.Name] = p
}
