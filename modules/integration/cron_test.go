package integration

import (
	"fmt"
	"strings"
	"testing"
)

// itCronSeed is opsrun's crontab before the test: lines opsrun does not
// manage, one of them another opsrun entry, which must all survive.
const itCronSeed = "# keep: first comment\nMAILTO=\"\"\n15 4 * * * /bin/true keep-me\n#opsrun: it-other\n0 * * * * /bin/true other-entry\n"

// itCronState lists both users' crontabs.
const itCronState = `for u in opsrun root; do echo "== $u"; crontab -u $u -l 2>&1; done; true`

// itCronPresent is an entry with a variable and a \% for opsrun, and a
// disabled @reboot entry for root (whose crontab does not exist yet).
func itCronPresent(schedule string) string {
	return `
    cron "backup" {
      name        = "it-backup"
      user        = "opsrun"
      schedule    = "` + schedule + `"
      command     = "/bin/true it-backup $(date +\\%F)"
      environment = { MAILTO = "ops@example.com" }
    }
    cron "root" {
      name     = "it-root-reboot"
      schedule = "@reboot"
      command  = "/bin/true it-cron-root"
      disabled = true
    }`
}

const itCronAbsent = `
    cron "backup" {
      name  = "it-backup"
      user  = "opsrun"
      state = "absent"
    }
    cron "root" {
      name  = "it-root-reboot"
      state = "absent"
    }`

// crontabOf is one user's listing in itCronState's output.
func crontabOf(state, user string) string {
	_, rest, _ := strings.Cut(state, "== "+user+"\n")
	tab, _, _ := strings.Cut(rest, "== ")
	return tab
}

// TestCron proves the cron type with Debian's cron (vixie cron): entries
// added to a crontab with other lines and to a user without one, kept
// idempotent, changed in place, and removed again, leaving exactly the
// lines that were there before (and no crontab for root).
func TestCron(t *testing.T) {
	need(t)
	// The image has no cron: the package type installs it.
	Apply(t, `
    package "cron" {
      name = "cron"
    }`, nil)
	if before := Sh(t, `crontab -u root -l 2>&1; true`); !strings.Contains(before, "no crontab for root") {
		t.Fatalf("root has a crontab already:\n%s", before)
	}
	Sh(t, "printf '%s' '"+itCronSeed+"' | crontab -u opsrun -")
	t.Cleanup(func() { Sh(t, "crontab -u opsrun -r; crontab -u root -r 2>/dev/null; true") })

	entry := "#opsrun: it-backup\nMAILTO=ops@example.com\n30 3 * * 1-5 /bin/true it-backup $(date +\\%F)\n"
	Converge(t, Case{
		Present: itCronPresent("30 3 * * 1-5"),
		Absent:  itCronAbsent,
		State:   itCronState,
		WantPresent: func(t *testing.T, s string) {
			if got, want := crontabOf(s, "opsrun"), itCronSeed+entry; got != want {
				t.Errorf("opsrun's crontab:\n%s\nwant:\n%s", got, want)
			}
			if got, want := crontabOf(s, "root"), "#opsrun: it-root-reboot\n#@reboot /bin/true it-cron-root\n"; got != want {
				t.Errorf("root's crontab:\n%s\nwant:\n%s", got, want)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if got := crontabOf(s, "opsrun"); got != itCronSeed {
				t.Errorf("opsrun's crontab is not as before:\n%s\nwant:\n%s", got, itCronSeed)
			}
			if got := crontabOf(s, "root"); got != "no crontab for root\n" {
				t.Errorf("root's crontab was not deleted:\n%s", got)
			}
		},
	})

	// A changed schedule rewrites the entry where it is: a line added
	// after it by hand stays after it.
	Apply(t, itCronPresent("30 3 * * 1-5"), nil)
	Sh(t, `{ crontab -u opsrun -l; echo '45 5 * * * /bin/true added-later'; } | crontab -u opsrun -`)
	o := Apply(t, itCronPresent("*/20 8-18 * * mon-fri"), nil)
	if o.Totals.Changed != 1 {
		t.Errorf("changed %s, want the opsrun entry only", o.Changed())
	}
	moved := strings.Replace(entry, "30 3 * * 1-5", "*/20 8-18 * * mon-fri", 1)
	if got, want := crontabOf(Sh(t, itCronState), "opsrun"), itCronSeed+moved+"45 5 * * * /bin/true added-later\n"; got != want {
		t.Errorf("opsrun's crontab after the change:\n%s\nwant:\n%s", got, want)
	}
	phase(t, "rerun after the change", itCronPresent("*/20 8-18 * * mon-fri"), nil, false, false)

	// Enabling root's entry uncomments it, and cron takes the crontab.
	Apply(t, strings.Replace(itCronPresent("30 3 * * 1-5"), "disabled = true", "disabled = false", 1), nil)
	if got := crontabOf(Sh(t, itCronState), "root"); got != "#opsrun: it-root-reboot\n@reboot /bin/true it-cron-root\n" {
		t.Errorf("root's entry is not enabled:\n%s", got)
	}
	Apply(t, itCronAbsent, nil)

	// sensitive = true: the entry is written, and no event of the run
	// shows its name, user or command.
	secret := `
    cron "secret" {
      name      = "it-secret-entry"
      user      = "opsrun"
      schedule  = "@daily"
      command   = "/bin/true it-secret-token"
      state     = "%s"
      sensitive = true
    }`
	for _, state := range []string{"present", "absent"} {
		o := Apply(t, fmt.Sprintf(secret, state), nil)
		if o.Totals.Changed != 1 {
			t.Errorf("%s: changed %s, want the entry", state, o.Changed())
		}
		for _, e := range o.Events {
			if ev := fmt.Sprintf("%+v", e); strings.Contains(ev, "it-secret") || strings.Contains(ev, "opsrun") {
				t.Errorf("%s: an event shows the sensitive entry: %s", state, ev)
			}
		}
		has := strings.Contains(crontabOf(Sh(t, itCronState), "opsrun"), "#opsrun: it-secret-entry\n@daily /bin/true it-secret-token\n")
		if has != (state == "present") {
			t.Errorf("%s: opsrun's crontab:\n%s", state, crontabOf(Sh(t, itCronState), "opsrun"))
		}
	}
}
