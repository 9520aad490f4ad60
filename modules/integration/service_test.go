package integration

import (
	"fmt"
	"strings"
	"testing"
)

// itUnit is the unit file TestService writes; it runs a sleep, so the
// service needs nothing installed.
const itUnit = "/etc/systemd/system/it-svc.service"

// itSvcStack is a file resource writing it-svc's unit, notifying the
// service, and the service started and enabled.
func itSvcStack(execStart string) string {
	return fmt.Sprintf(`
    file "unit" {
      path    = %q
      content = "[Unit]\nDescription=opsrun integration test\n\n[Service]\nExecStart=%s\n\n[Install]\nWantedBy=multi-user.target\n"
      notify  = [service.svc]
    }
    service "svc" {
      name       = "it-svc"
      enabled    = true
      depends_on = [file.unit]
    }`, itUnit, execStart)
}

// itSvcAbsent stops and disables it-svc; its unit file stays until the
// test's cleanup, so the service still exists to be checked.
const itSvcAbsent = `
    service "svc" {
      name    = "it-svc"
      state   = "stopped"
      enabled = false
    }`

// itSvcState prints what systemd knows of it-svc, by key.
const itSvcState = `systemctl show -p ActiveState -p UnitFileState -p NeedDaemonReload -p MainPID -p ExecStart it-svc; true`

// prop is the value of key in systemctl show output.
func prop(state, key string) string {
	for _, l := range strings.Split(state, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestService proves the service type on systemd: a unit written by a
// file resource that notifies the service is started and enabled;
// changing the unit restarts the service with its new definition (a
// daemon-reload first); a unit changed behind opsrun's back is reloaded
// before a start; stopped and disabled converge too.
func TestService(t *testing.T) {
	need(t)
	t.Cleanup(func() {
		Sh(t, "systemctl disable --now it-svc >/dev/null 2>&1; rm -f "+itUnit+"; systemctl daemon-reload; systemctl reset-failed it-svc >/dev/null 2>&1; true")
	})
	c := Case{
		Present: itSvcStack("/bin/sleep infinity"),
		State:   itSvcState,
		WantPresent: func(t *testing.T, s string) {
			if prop(s, "ActiveState") != "active" || prop(s, "UnitFileState") != "enabled" ||
				!strings.Contains(prop(s, "ExecStart"), "argv[]=/bin/sleep infinity ") {
				t.Errorf("it-svc is not running /bin/sleep infinity, enabled:\n%s", s)
			}
		},
	}
	Converge(t, c) // check, converge, second run and check change nothing

	// The unit's ExecStart changes: check mode changes nothing; the run
	// rewrites the unit and the notified restart reloads systemd first.
	before := Sh(t, itSvcState)
	changed := itSvcStack("/bin/sleep 86400")
	phase(t, "check unit change", changed, nil, true, true)
	if got := Sh(t, itSvcState); got != before {
		t.Fatalf("check mode changed the service:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	o := phase(t, "unit change", changed, nil, false, true)
	if !strings.Contains(o.Changed(), "restart it-svc (after systemctl daemon-reload: its unit file changed on disk)") {
		t.Errorf("the unit change did not restart it-svc after a daemon-reload: %s", o.Changed())
	}
	after := Sh(t, itSvcState)
	if prop(after, "MainPID") == prop(before, "MainPID") || prop(after, "MainPID") == "0" ||
		!strings.Contains(prop(after, "ExecStart"), "argv[]=/bin/sleep 86400 ") ||
		prop(after, "NeedDaemonReload") != "no" || prop(after, "ActiveState") != "active" {
		t.Errorf("it-svc does not run its new ExecStart in a new process:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	phase(t, "after unit change", changed, nil, false, false)

	// A unit changed by hand while stopped: starting it loads it first.
	Sh(t, "systemctl stop it-svc && sed -i 's/86400/86401/' "+itUnit)
	if s := Sh(t, itSvcState); prop(s, "NeedDaemonReload") != "yes" {
		t.Fatalf("systemd did not notice the edited unit:\n%s", s)
	}
	o = Apply(t, `
    service "svc" {
      name = "it-svc"
    }`, nil)
	if !strings.Contains(o.Changed(), "start it-svc (after systemctl daemon-reload: its unit file changed on disk)") {
		t.Errorf("start without daemon-reload: %s", o.Changed())
	}
	if s := Sh(t, itSvcState); !strings.Contains(prop(s, "ExecStart"), "argv[]=/bin/sleep 86401 ") || prop(s, "ActiveState") != "active" {
		t.Errorf("it-svc was started with its old definition:\n%s", s)
	}

	// Stopped and disabled, with check mode first; the unit file stays.
	present := Sh(t, itSvcState)
	phase(t, "check absent", itSvcAbsent, nil, true, true)
	if got := Sh(t, itSvcState); got != present {
		t.Fatalf("check mode of absent changed the service:\nbefore:\n%s\nafter:\n%s", present, got)
	}
	phase(t, "absent", itSvcAbsent, nil, false, true)
	if s := Sh(t, itSvcState); prop(s, "ActiveState") != "inactive" || prop(s, "UnitFileState") != "disabled" || prop(s, "MainPID") != "0" {
		t.Errorf("it-svc is not stopped and disabled:\n%s", s)
	}
	phase(t, "absent again", itSvcAbsent, nil, false, false)
}

// TestServiceMissing proves a service whose unit does not exist fails with
// a message saying so, and is fine when it must be stopped anyway.
func TestServiceMissing(t *testing.T) {
	need(t)
	o := Run(t, `
    service "nope" {
      name = "it-svc-nope"
    }`, nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "unit it-svc-nope.service not found") {
		t.Errorf("missing unit: %+v %s", o.Totals, o.Errors())
	}
	phase(t, "missing and stopped", `
    service "nope" {
      name    = "it-svc-nope"
      state   = "stopped"
      enabled = false
    }`, nil, false, false)
}

// itSysvScript is an LSB init script whose "daemon" is a flag file, with
// a log of what it was asked to do. It does not source
// /lib/lsb/init-functions, so its status is its own even on systemd.
const itSysvScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          it-sysv
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: opsrun integration test script
### END INIT INFO
flag=/run/it-sysv.flag
case "$1" in
start) echo start >> /run/it-sysv.log; touch $flag ;;
stop) echo stop >> /run/it-sysv.log; rm -f $flag ;;
restart|force-reload) echo restart >> /run/it-sysv.log; touch $flag ;;
reload) echo reload >> /run/it-sysv.log ;;
status) [ -e $flag ] && exit 0; exit 3 ;;
*) echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2; exit 2 ;;
esac
`

// TestServiceSysV proves provider = "sysvinit" with the real Debian tools:
// the LSB status and /etc/rc?.d links the probe reads, service and
// update-rc.d to act (on this systemd host, service hands the script to
// systemd's generated unit, which runs it). A reload notification runs
// the script's reload.
func TestServiceSysV(t *testing.T) {
	need(t)
	t.Cleanup(func() {
		Sh(t, "service it-sysv stop >/dev/null 2>&1; update-rc.d -f it-sysv remove >/dev/null 2>&1; "+
			"rm -f /etc/init.d/it-sysv /etc/it-sysv.conf /run/it-sysv.flag /run/it-sysv.log; systemctl daemon-reload")
	})
	Sh(t, "cat > /etc/init.d/it-sysv <<'EOS'\n"+itSysvScript+"EOS\nchmod 755 /etc/init.d/it-sysv && systemctl daemon-reload")
	state := `/etc/init.d/it-sysv status; echo "status $?"; ls /etc/rc?.d/ | grep -c '^S..it-sysv$'; ls /etc/rc?.d/ | grep -c '^K..it-sysv$'; cat /run/it-sysv.log 2>/dev/null; true`
	present := func(conf string) string {
		return fmt.Sprintf(`
    file "conf" {
      path   = "/etc/it-sysv.conf"
      content = %q
      notify = [service.sysv]
    }
    service "sysv" {
      name      = "it-sysv"
      provider  = "sysvinit"
      enabled   = true
      on_notify = "reload"
    }`, conf)
	}
	absent := `
    service "sysv" {
      name     = "it-sysv"
      provider = "sysvinit"
      state    = "stopped"
      enabled  = false
    }`
	Converge(t, Case{
		Present: present("a = 1\n"),
		Absent:  absent,
		State:   state,
		WantPresent: func(t *testing.T, s string) {
			// defaults: S links in 2-5, K in 0, 1, 6; started, then
			// reloaded by the new conf file's notification.
			if want := "status 0\n4\n3\nstart\nreload\n"; s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			// disable turns every S link into a K link.
			if want := "status 3\n0\n7\nstart\nreload\nstop\n"; s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
	})
	// Enabled again: update-rc.d enable turns the K links back into S.
	o := Apply(t, present("a = 1\n"), nil)
	if !strings.Contains(o.Changed(), `"start and enable it-sysv"`) {
		t.Errorf("re-enable: %s", o.Changed())
	}
	if s := Sh(t, state); !strings.HasPrefix(s, "status 0\n4\n3\n") {
		t.Errorf("not started and enabled again:\n%s", s)
	}
}
