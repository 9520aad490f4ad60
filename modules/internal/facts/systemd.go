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
	// Active is the ActiveState property, the word is-active prints:
	// active, reloading, inactive, failed, activating, deactivating,
	// maintenance, refreshing.
	Active string
	// Enabled is is-enabled's word: enabled, enabled-runtime, linked,
	// linked-runtime, alias, masked, masked-runtime, static, indirect,
	// disabled, generated, transient, bad; "" when not found.
	Enabled string
	// NeedDaemonReload is set when the unit's file or drop-ins changed on
	// disk since systemd loaded them: systemctl start and restart would
	// use the old definition until `systemctl daemon-reload`.
	NeedDaemonReload bool
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

// SystemdProbe asks whether unit is running, needs a daemon-reload and is
// enabled, with two processes: `systemctl show` prints the properties as
// Key=value lines, is-enabled one word. is-enabled stays separate because
// only it asks systemd-sysv-install about units generated from SysV
// scripts, and show has no property for that.
//
// Output seen on Debian 12 (systemd 252) for a unit, then for a unit that
// does not exist (show still prints its defaults and exits 0; is-enabled
// prints its error on stderr only):
//
//	ActiveState=active
//	NeedDaemonReload=no
//	enabled
//
//	ActiveState=inactive
//	NeedDaemonReload=no
func SystemdProbe(unit string) modules.Probe {
	q := transport.ShellQuote(unit)
	return modules.Probe{
		ID:      "systemd:" + unit,
		Command: "systemctl show -p ActiveState -p NeedDaemonReload " + q + "; systemctl is-enabled " + q,
	}
}

// ParseSystemd parses SystemdProbe output. is-enabled exits non-zero for
// anything but enabled, so the exit status means nothing here. show
// prints the properties in its own order, so they are read by key.
func ParseSystemd(r modules.ProbeResult) (Unit, error) {
	ls := lines(r.Stdout)
	if len(ls) == 0 {
		return Unit{}, fmt.Errorf("systemctl printed nothing; is systemd running on the host?")
	}
	var u Unit
	var seenReload bool
	for i, l := range ls {
		k, v, isProp := strings.Cut(l, "=")
		switch {
		case isProp && k == "ActiveState" && u.Active == "":
			if !isWord(v) {
				return Unit{}, fmt.Errorf("systemctl show printed ActiveState=%s, want one word", short(v))
			}
			u.Active = v
		case isProp && k == "NeedDaemonReload" && !seenReload:
			switch v {
			case "yes":
				u.NeedDaemonReload = true
			case "no":
			default:
				return Unit{}, fmt.Errorf("systemctl show printed NeedDaemonReload=%s, want yes or no", short(v))
			}
			seenReload = true
		case !isProp && i > 0 && i == len(ls)-1:
			u.Enabled = strings.TrimSpace(l)
			if !isWord(u.Enabled) {
				return Unit{}, fmt.Errorf("systemctl is-enabled printed %s, want one word", short(l))
			}
		default:
			return Unit{}, fmt.Errorf("systemctl printed %s, want ActiveState=, NeedDaemonReload= and the is-enabled word", short(l))
		}
	}
	if u.Active == "" || !seenReload {
		return Unit{}, fmt.Errorf("systemctl show printed no ActiveState or NeedDaemonReload (%s); is systemd running on the host?", short(r.Stdout))
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
