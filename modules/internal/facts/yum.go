package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// YumUpdatesProbe asks yum which of names have an update in the metadata
// cache as it is (-C: a probe never downloads). yum 3 (CentOS 7) has no
// repoquery without yum-utils and wraps `yum list` columns at 80
// characters, so this reads `yum info`, whose "Key : value" lines never
// wrap the fields it needs. Names without an update, not installed, or an
// empty cache make yum exit 1 ("No matching Packages to list").
func YumUpdatesProbe(names []string) modules.Probe {
	return modules.Probe{
		ID:      "yum-updates:" + strings.Join(names, " "),
		Command: "LC_ALL=C yum -C -q info updates " + transport.ShellJoin(names...),
	}
}

// ParseYumInfo parses YumUpdatesProbe output into the newest package by
// name. The format is yum 3.4's output.py infoOutput: a block per package
// of "Name        : curl", "Arch        : x86_64", "Epoch       : 1" (only
// when not 0), "Version     : 7.29.0", "Release     : 59.el7_9.2" and more
// fields, wrapped values continuing on lines with an empty key
// ("            : others)"), after a header line ("Updated Packages").
func ParseYumInfo(r modules.ProbeResult) (map[string]RPMPackage, error) {
	if r.ExitStatus != 0 && r.ExitStatus != 1 {
		return nil, fmt.Errorf("yum info failed (exit status %d)", r.ExitStatus)
	}
	out := map[string]RPMPackage{}
	var cur *RPMPackage
	flush := func() error {
		if cur == nil {
			return nil
		}
		p := *cur
		cur = nil
		if p.Version == "" || p.Release == "" || p.Arch == "" {
			return fmt.Errorf("yum info printed package %s without its version, release or architecture", short(p.Name))
		}
		if p.Epoch != "" && !isDigits(p.Epoch) {
			return fmt.Errorf("yum info printed epoch %s for %s, want a number", short(p.Epoch), short(p.Name))
		}
		rpmKeepNewest(out, p)
		return nil
	}
	for _, l := range lines(r.Stdout) {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue // a header ("Updated Packages") or an empty line
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "Name" {
			if err := flush(); err != nil {
				return nil, err
			}
			if v == "" || strings.ContainsAny(v, " \t") {
				return nil, fmt.Errorf("yum info printed %s, want a package name", short(l))
			}
			cur = &RPMPackage{Name: v}
			continue
		}
		if cur == nil || strings.ContainsAny(v, " \t") {
			continue
		}
		switch k {
		case "Arch":
			cur.Arch = v
		case "Epoch":
			cur.Epoch = v
		case "Version":
			cur.Version = v
		case "Release":
			cur.Release = v
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
