package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// RPMPackage is one package as rpm, dnf, yum or zypper print it: an
// installed instance, or a version a repository offers.
type RPMPackage struct {
	Name    string
	Epoch   string // "" when the package has none (rpm prints "(none)")
	Version string
	Release string
	Arch    string
}

// EVR is the package's version the way dnf and zypper print it:
// "[epoch:]version-release", the epoch left out when it is absent or 0.
func (p RPMPackage) EVR() string {
	s := p.Version + "-" + p.Release
	if p.Epoch != "" && p.Epoch != "0" {
		s = p.Epoch + ":" + s
	}
	return s
}

// rpmQueryFormat prints one line per installed instance (a package
// installed for two architectures, or several kernels, prints several).
// %{EPOCH} prints "(none)" for a package without an epoch.
const rpmQueryFormat = `%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH}\n`

// RPMProbe asks rpm which of names are installed and at which versions,
// for dnf, yum and zypper hosts alike. A name that is not installed prints
// "package NAME is not installed" on stdout (rpm logs it at NOTICE level,
// which goes to stdout) and counts in the exit status, so the status is
// the number of names missing. Recorded from rpm 4.18:
//
//	opsrun-a (none):1.0-1 noarch
//	opsrun-b 2:3.0-1.el9 noarch
//	package nosuch is not installed
func RPMProbe(names []string) modules.Probe {
	return modules.Probe{
		ID:      "rpm:" + strings.Join(names, " "),
		Command: "LC_ALL=C rpm -q --queryformat " + transport.ShellQuote(rpmQueryFormat) + " " + transport.ShellJoin(names...),
	}
}

// ParseRPM parses RPMProbe output into the installed instances of each
// package by name.
func ParseRPM(r modules.ProbeResult) (map[string][]RPMPackage, error) {
	out := map[string][]RPMPackage{}
	ls := lines(r.Stdout)
	if len(ls) == 0 && r.ExitStatus != 0 {
		// rpm prints a line for every name, installed or not: nothing at
		// all means it did not run (not installed, broken database).
		return nil, fmt.Errorf("rpm -q printed nothing (exit status %d)", r.ExitStatus)
	}
	for _, l := range ls {
		if strings.HasPrefix(l, "package ") && strings.HasSuffix(l, " is not installed") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("rpm -q printed %s, want name, epoch:version-release and architecture", short(l))
		}
		p, ok := parseNEVRA(f[0], f[1], f[2])
		if !ok {
			return nil, fmt.Errorf("rpm -q printed %s, want name, epoch:version-release and architecture", short(l))
		}
		out[p.Name] = append(out[p.Name], p)
	}
	return out, nil
}

// parseNEVRA builds a package from a name, "epoch:version-release" (epoch
// a number or "(none)") and an architecture.
func parseNEVRA(name, evr, arch string) (RPMPackage, bool) {
	e, vr, ok := strings.Cut(evr, ":")
	if !ok || name == "" || arch == "" {
		return RPMPackage{}, false
	}
	if e == "(none)" {
		e = ""
	} else if !isDigits(e) {
		return RPMPackage{}, false
	}
	v, rel, ok := rpmCutLast(vr, "-")
	if !ok || v == "" || rel == "" || strings.Contains(v, ":") {
		return RPMPackage{}, false
	}
	return RPMPackage{Name: name, Epoch: e, Version: v, Release: rel, Arch: arch}, true
}

// SplitEVR splits "[epoch:]version[-release]" as written in a pinned
// version: epoch and release are "" when not given. ok is false when a
// part is empty.
func SplitEVR(s string) (epoch, version, release string, ok bool) {
	if e, rest, found := strings.Cut(s, ":"); found {
		if !isDigits(e) {
			return "", "", "", false
		}
		epoch, s = e, rest
	}
	version = s
	if v, r, found := rpmCutLast(s, "-"); found {
		if r == "" {
			return "", "", "", false
		}
		version, release = v, r
	}
	if version == "" || strings.Contains(version, ":") {
		return "", "", "", false
	}
	return epoch, version, release, true
}

// CompareEVR orders two [epoch:]version[-release] strings as rpm does: a
// missing epoch is 0, and the releases are compared only when both are
// given, so "1.20.1" equals every release of 1.20.1. Malformed strings
// compare by rpmvercmp of the whole string.
func CompareEVR(a, b string) int {
	ea, va, ra, oka := SplitEVR(a)
	eb, vb, rb, okb := SplitEVR(b)
	if !oka || !okb {
		return RPMVerCmp(a, b)
	}
	if c := rpmCompareEpoch(ea, eb); c != 0 {
		return c
	}
	if c := RPMVerCmp(va, vb); c != 0 || ra == "" || rb == "" {
		return c
	}
	return RPMVerCmp(ra, rb)
}

// rpmCompareEpoch compares two epochs, digits only ("" is 0), without
// overflowing on absurd lengths.
func rpmCompareEpoch(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// RPMVerCmp is rpm's rpmvercmp (lib/rpmvercmp.c, rpm 4.15 and later, with
// the ~ and ^ separators): -1, 0 or 1 as a is older than, as old as, or
// newer than b. Segments are runs of digits or of letters; numeric
// segments compare as numbers and beat alphabetic ones; ~ sorts before
// anything, even the end of the string; ^ sorts after the end of the
// string but before anything else.
func RPMVerCmp(a, b string) int {
	if a == b {
		return 0
	}
	isAlpha := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	sep := func(c byte) bool { return !isAlpha(c) && !isDigit(c) && c != '~' && c != '^' }
	for len(a) > 0 || len(b) > 0 {
		for len(a) > 0 && sep(a[0]) {
			a = a[1:]
		}
		for len(b) > 0 && sep(b[0]) {
			b = b[1:]
		}
		at := func(s string) byte {
			if s == "" {
				return 0
			}
			return s[0]
		}
		ca, cb := at(a), at(b)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if ca == '^' || cb == '^' {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case ca != '^':
				return 1
			case cb != '^':
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}
		class := isAlpha
		if isDigit(a[0]) {
			class = isDigit
		}
		i, j := 0, 0
		for i < len(a) && class(a[i]) {
			i++
		}
		for j < len(b) && class(b[j]) {
			j++
		}
		if j == 0 {
			// Different kinds of segment: a number beats letters.
			if isDigit(a[0]) {
				return 1
			}
			return -1
		}
		sa, sb := a[:i], b[:j]
		a, b = a[i:], b[j:]
		if isDigit(sa[0]) {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// rpmCutLast cuts s around the last sep.
func rpmCutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
