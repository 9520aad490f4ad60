package facts

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opsrun/opsrun/modules"
)

// ZypperUpdate is a package update zypper would install.
type ZypperUpdate struct {
	Name    string
	Edition string // [epoch:]version-release, the epoch only when not 0
	Arch    string
}

// ZypperUpdatesProbe asks zypper for every package update it would
// install (`zypper update` honours the same vendor stickiness), from the
// repositories' cache as it is (--no-refresh: a probe never downloads). It
// takes no package names, so every package resource of a host shares it.
// --xmlout prints, recorded from zypper 1.14.42:
//
//	<?xml version='1.0'?>
//	<stream>
//	<message type="info">Loading repository data...</message>
//	<update-status version="0.6">
//	<update-list>
//	<update kind="package" name="opsrun-b" edition="2:3.1-1.el9" arch="noarch" edition-old="2:3.0-1.el9">...</update>
//	</update-list>
//	</update-status>
//	</stream>
func ZypperUpdatesProbe() modules.Probe {
	return modules.Probe{
		ID:      "zypper-updates",
		Command: "zypper --non-interactive --no-refresh --xmlout list-updates",
	}
}

// zypper's exit codes (zypper(8) EXIT CODES) that still mean the list is
// what zypper knows: 6 no repositories defined, 106 some repositories
// skipped (not refreshed or broken). 7 is another process holding the
// package manager lock.
const (
	zypperNoRepos      = 6
	zypperLocked       = 7
	zypperReposSkipped = 106
)

// ParseZypperUpdates parses ZypperUpdatesProbe output into updates by
// package name (patches and other kinds are skipped).
func ParseZypperUpdates(r modules.ProbeResult) (map[string]ZypperUpdate, error) {
	switch r.ExitStatus {
	case 0, zypperNoRepos, zypperReposSkipped:
	case zypperLocked:
		return nil, fmt.Errorf("zypper list-updates failed (exit status %d): another process holds the package manager lock", r.ExitStatus)
	default:
		return nil, fmt.Errorf("zypper list-updates failed (exit status %d)", r.ExitStatus)
	}
	out := map[string]ZypperUpdate{}
	d := xml.NewDecoder(strings.NewReader(r.Stdout))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("zypper list-updates printed malformed XML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "update" {
			continue
		}
		u, kind := ZypperUpdate{}, ""
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "name":
				u.Name = a.Value
			case "edition":
				u.Edition = a.Value
			case "arch":
				u.Arch = a.Value
			case "kind":
				kind = a.Value
			}
		}
		if kind != "" && kind != "package" {
			continue
		}
		if u.Name == "" || u.Edition == "" || strings.ContainsAny(u.Name+u.Edition, " \t\n") {
			return nil, fmt.Errorf("zypper list-updates printed an update without a name or edition (%s)", short(u.Name+" "+u.Edition))
		}
		if old, ok := out[u.Name]; ok && CompareEVR(old.Edition, u.Edition) >= 0 {
			continue
		}
		out[u.Name] = u
	}
	return out, nil
}
