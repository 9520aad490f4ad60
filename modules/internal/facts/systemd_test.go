package facts

import (
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// The outputs below were taken from Debian 12 (systemd 252) running the
// probe: properties come in systemd's order, not the -p order, and a unit
// that does not exist still gets ActiveState and NeedDaemonReload while
// is-enabled prints only on stderr.
func TestParseSystemd(t *testing.T) {
	for _, c := range []struct {
		out  string
		want Unit
		err  string
	}{
		{"ActiveState=active\nNeedDaemonReload=no\nenabled\n", Unit{Found: true, Active: "active", Enabled: "enabled"}, ""},
		{"ActiveState=inactive\nNeedDaemonReload=no\ndisabled\n", Unit{Found: true, Active: "inactive", Enabled: "disabled"}, ""},
		{"ActiveState=failed\nNeedDaemonReload=no\nstatic\n", Unit{Found: true, Active: "failed", Enabled: "static"}, ""},
		{"ActiveState=active\nNeedDaemonReload=yes\ndisabled\n", Unit{Found: true, Active: "active", Enabled: "disabled", NeedDaemonReload: true}, ""},
		{"NeedDaemonReload=yes\r\nActiveState=activating\r\nenabled\r\n", Unit{Found: true, Active: "activating", Enabled: "enabled", NeedDaemonReload: true}, ""},
		{"ActiveState=inactive\nNeedDaemonReload=no\n", Unit{Active: "inactive"}, ""},            // systemd 252, unknown unit
		{"ActiveState=inactive\nNeedDaemonReload=no\nnot-found\n", Unit{Active: "inactive"}, ""}, // later systemd
		{"", Unit{}, "is systemd running"},                                                                     // systemd not running
		{"masked\n", Unit{}, "systemctl printed \"masked\""},                                                   // show refused the name (a template)
		{"ActiveState=active\nenabled\n", Unit{}, "no ActiveState or NeedDaemonReload"},                        // property missing
		{"ActiveState=active\nNeedDaemonReload=no\nenabled\nextra\n", Unit{}, "systemctl printed \"enabled\""}, // two words
		{"ActiveState=active\nActiveState=failed\nNeedDaemonReload=no\n", Unit{}, "ActiveState=failed"},
		{"ActiveState=Active!\nNeedDaemonReload=no\n", Unit{}, "want one word"},
		{"ActiveState=active\nNeedDaemonReload=maybe\n", Unit{}, "want yes or no"},
		{"ActiveState=active\nNeedDaemonReload=no\nEnabled!\n", Unit{}, "is-enabled printed"},
		{"Failed to connect to bus\n", Unit{}, "systemctl printed \"Failed to connect to bus\""},
		{"ActiveState=active\nNeedDaemonReload=no\nSubState=running\n", Unit{}, "SubState=running"},
	} {
		got, err := ParseSystemd(modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v, %q", c.out, got, err, c.want, c.err)
		}
	}
}

func TestSystemdProbeOneLine(t *testing.T) {
	for _, name := range []string{"nginx", "getty@tty1", `a\x2db.mount`} {
		initOneLine(t, SystemdProbe(name))
	}
}

func FuzzParseSystemd(f *testing.F) {
	f.Add("ActiveState=active\nNeedDaemonReload=no\nenabled\n")
	f.Add("ActiveState=inactive\nNeedDaemonReload=yes\n")
	f.Add("inactive\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, out string) {
		u, err := ParseSystemd(modules.ProbeResult{Stdout: out})
		if err == nil && (!isWord(u.Active) || u.Found != (u.Enabled != "") || u.Enabled == "not-found") {
			t.Errorf("inconsistent %+v", u)
		}
	})
}
