package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// DpkgPackage is one package's line from dpkg-query.
type DpkgPackage struct {
	Name    string
	Want    string // selection: unknown, install, hold, deinstall, purge
	State   string // installed, config-files, not-installed, half-installed, unpacked, ...
	Version string
}

// Installed reports whether the package is installed and usable. Pending
// triggers leave it working; config-files (removed, not purged),
// half-installed and unpacked do not, and apt-get install repairs them.
func (p DpkgPackage) Installed() bool {
	switch p.State {
	case "installed", "triggers-pending", "triggers-awaited":
		return true
	}
	return false
}

// DpkgProbe asks dpkg which of names are installed and at which version.
// Names dpkg never heard of print nothing (and exit status 1).
func DpkgProbe(names []string) modules.Probe {
	return modules.Probe{
		ID: "dpkg:" + strings.Join(names, " "),
		Command: "dpkg-query -W -f=" + transport.ShellQuote(`${Package}\t${Status}\t${Version}\n`) + " " +
			transport.ShellJoin(names...),
	}
}

// ParseDpkg parses DpkgProbe output into packages by name. A name queried
// with an architecture ("libc6:i386") is printed without it; a package
// installed for several architectures prints one line each, and the
// installed one wins.
func ParseDpkg(r modules.ProbeResult) (map[string]DpkgPackage, error) {
	// 1 is dpkg-query's "some names matched nothing"; more is a real error.
	if r.ExitStatus != 0 && r.ExitStatus != 1 {
		return nil, fmt.Errorf("dpkg-query failed (exit status %d)", r.ExitStatus)
	}
	out := map[string]DpkgPackage{}
	for _, l := range lines(r.Stdout) {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("dpkg-query printed %s, want name, status and version separated by tabs", short(l))
		}
		st := strings.Fields(f[1])
		if f[0] == "" || len(st) != 3 {
			return nil, fmt.Errorf("dpkg-query printed %s, want a name and a three-word status", short(l))
		}
		p := DpkgPackage{Name: f[0], Want: st[0], State: st[2], Version: f[2]}
		if old, ok := out[p.Name]; ok && old.Installed() && !p.Installed() {
			continue
		}
		out[p.Name] = p
	}
	return out, nil
}

// AptPolicy is a package's installed and candidate versions; "" stands for
// apt's "(none)".
type AptPolicy struct {
	Installed string
	Candidate string
}

// AptPolicyProbe asks apt which version of each name would be installed.
// Names apt does not know print nothing.
func AptPolicyProbe(names []string) modules.Probe {
	return modules.Probe{
		ID:      "apt-policy:" + strings.Join(names, " "),
		Command: "LC_ALL=C apt-cache policy " + transport.ShellJoin(names...),
	}
}

// ParseAptPolicy parses AptPolicyProbe output into policies by the name
// apt printed ("nginx", "libc6:i386"). Only the Installed and Candidate
// lines of each block are read; the version table is skipped.
func ParseAptPolicy(r modules.ProbeResult) (map[string]AptPolicy, error) {
	out := map[string]AptPolicy{}
	name := ""
	for _, l := range lines(r.Stdout) {
		if l == "" {
			continue
		}
		if l[0] != ' ' {
			// A block starts with "NAME:" at column 0.
			n, ok := strings.CutSuffix(l, ":")
			if !ok || n == "" || strings.ContainsAny(n, " \t") {
				return nil, fmt.Errorf("apt-cache policy printed %s, want a package name and a colon", short(l))
			}
			name = n
			out[name] = AptPolicy{}
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("apt-cache policy printed %s before any package name", short(l))
		}
		k, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
		if !ok {
			continue
		}
		if v == "(none)" {
			v = ""
		}
		p := out[name]
		switch k {
		case "Installed":
			p.Installed = v
		case "Candidate":
			p.Candidate = v
		}
		out[name] = p
	}
	return out, nil
}
