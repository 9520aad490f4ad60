package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// Unit is a systemd unit's state.
type Unit struct {
	// Found is false when systemd has no unit file for it: is-enabled
	// printed nothing (systemd up to 252 reports the error on stderr only)
	// or "not-found" (later versions).
	Found bool
	// Active is is-active's word: active, reloading, inactive, failed,
	// activating, deactivating, maintenance, refreshing.
	Active string
	// Enabled is is-enabled's word: enabled, enabled-runtime, linked,
	// linked-runtime, alias, masked, masked-runtime, static, indirect,
	// disabled, generated, transient, bad; "" when not found.
	Enabled string
}

// Running reports whether the unit is up: a reload in progress is still up.
func (u Unit) Running() bool {
	switch u.Active {
	case "active", "reloading", "refreshing":
		return true
	}
	return false
}

// Stopped reports whether the unit is down (failed counts: nothing runs).
// Activating and deactivating units are neither running nor stopped:
// systemctl start or stop waits for the pending job, then acts.
func (u Unit) Stopped() bool {
	return u.Active == "inactive" || u.Active == "failed"
}

// IsEnabled reports whether the unit starts at boot by its own [Install]
// section being enabled.
func (u Unit) IsEnabled() bool { return u.Enabled == "enabled" }

// Masked reports whether the unit is masked: it can be neither started nor
// enabled until unmasked.
func (u Unit) Masked() bool { return u.Enabled == "masked" || u.Enabled == "masked-runtime" }

// CannotEnable reports whether `systemctl enable` has nothing to do for the
// unit: static units have no [Install] section, generated and transient
// ones no unit file of their own, aliases and indirect units follow
// another unit. Treating them as enabled keeps enabled = true idempotent.
func (u Unit) CannotEnable() bool {
	switch u.Enabled {
	case "static", "generated", "transient", "alias", "indirect":
		return true
	}
	return false
}

// SystemdProbe asks whether unit is running and enabled: two lines, the
// words of is-active and is-enabled.
func SystemdProbe(unit string) modules.Probe {
	q := transport.ShellQuote(unit)
	return modules.Probe{
		ID:      "systemd:" + unit,
		Command: "systemctl is-active " + q + "; systemctl is-enabled " + q,
	}
}

// ParseSystemd parses SystemdProbe output. Both commands exit non-zero for
// anything but active/enabled, so the exit status means nothing here.
func ParseSystemd(r modules.ProbeResult) (Unit, error) {
	ls := lines(r.Stdout)
	switch len(ls) {
	case 0:
		return Unit{}, fmt.Errorf("systemctl printed nothing; is systemd running on the host?")
	case 1, 2:
	default:
		return Unit{}, fmt.Errorf("systemctl printed %d lines, want 2: %s", len(ls), short(r.Stdout))
	}
	u := Unit{Active: strings.TrimSpace(ls[0])}
	if !isWord(u.Active) {
		return Unit{}, fmt.Errorf("systemctl is-active printed %s, want one word", short(ls[0]))
	}
	if len(ls) == 2 {
		u.Enabled = strings.TrimSpace(ls[1])
		if !isWord(u.Enabled) {
			return Unit{}, fmt.Errorf("systemctl is-enabled printed %s, want one word", short(ls[1]))
		}
	}
	u.Found = u.Enabled != "" && u.Enabled != "not-found"
	if !u.Found {
		u.Enabled = ""
	}
	return u, nil
}

// isWord reports whether s is a state word: lowercase letters and dashes.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}
