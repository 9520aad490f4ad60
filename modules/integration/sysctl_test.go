package integration

import (
	"strings"
	"testing"
)

// itSysctlFile is the shared file of TestSysctl, seeded with lines of its
// own that must survive; the other resources use the default file.
const (
	itSysctlFile = "/etc/sysctl.d/90-it-sysctl.conf"
	itSysctlSeed = "# keep me\nvm.swappiness = 10\n\n"
)

// itSysctlState prints the two files and the running values the test sets.
const itSysctlState = `for f in /etc/sysctl.d/99-opsrun.conf ` + itSysctlFile + `; do echo "== $f"; cat $f 2>&1; done; ` +
	`echo "== live"; cat /proc/sys/net/ipv4/tcp_syncookies /proc/sys/net/ipv4/ip_local_port_range; true`

// itSysctlPresent sets two keys in the default file and one in the shared
// seeded file, with apply as given.
func itSysctlPresent(apply string) string {
	return `
    sysctl "syncookies" {
      name  = "net.ipv4.tcp_syncookies"
      value = 0
      apply = ` + apply + `
    }
    sysctl "ports" {
      name  = "net.ipv4.ip_local_port_range"
      value = "32768 60000"
      apply = ` + apply + `
    }
    sysctl "forward" {
      name  = "net/ipv4/ip_forward"
      value = "1"
      file  = "` + itSysctlFile + `"
    }`
}

const itSysctlAbsent = `
    sysctl "syncookies" {
      name  = "net.ipv4.tcp_syncookies"
      state = "absent"
    }
    sysctl "ports" {
      name  = "net.ipv4.ip_local_port_range"
      state = "absent"
    }
    sysctl "forward" {
      name  = "net.ipv4.ip_forward"
      state = "absent"
      file  = "` + itSysctlFile + `"
    }`

// section is the part of itSysctlState's output after "== name".
func section(state, name string) string {
	_, rest, _ := strings.Cut(state, "== "+name+"\n")
	s, _, _ := strings.Cut(rest, "== ")
	return s
}

// TestSysctl proves the sysctl type in the test container, whose
// /proc/sys Docker mounts read-only. There, a running value to change is
// refused with a clear error, apply = false persists values in a shared
// file and keeps its other lines, and a key already right (Docker turns
// net.ipv4.ip_forward on) is only persisted. Then the test remounts
// /proc/sys read-write (the container has CAP_SYS_ADMIN) to prove apply:
// the keys it sets are per network namespace, so only the container's own
// network stack changes, and the cleanup puts the values and the
// read-only mount back.
func TestSysctl(t *testing.T) {
	need(t)
	if ro := Sh(t, `grep -c ' /proc/sys proc ro,' /proc/self/mounts; true`); strings.TrimSpace(ro) != "1" {
		t.Fatalf("/proc/sys is not mounted read-only in the test container: %q", ro)
	}
	liveBefore := section(Sh(t, itSysctlState), "live")
	Sh(t, "printf '"+strings.ReplaceAll(itSysctlSeed, "\n", `\n`)+"' > "+itSysctlFile)
	t.Cleanup(func() { Sh(t, "rm -f /etc/sysctl.d/99-opsrun.conf "+itSysctlFile) })

	// Read-only /proc/sys: setting the running value fails, and says why.
	o := Run(t, itSysctlPresent("true"), nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "/proc/sys is mounted read-only on this host") ||
		!strings.Contains(o.Errors(), "set apply = false to only persist it") {
		t.Fatalf("want the first resource to fail on the read-only /proc/sys; got %+v: %s", o.Totals, o.Errors())
	}

	persisted := "net.ipv4.tcp_syncookies = 0\nnet.ipv4.ip_local_port_range = 32768 60000\n"
	Converge(t, Case{
		Present: itSysctlPresent("false"),
		Absent:  itSysctlAbsent,
		State:   itSysctlState,
		WantPresent: func(t *testing.T, s string) {
			if got := section(s, "/etc/sysctl.d/99-opsrun.conf"); got != persisted {
				t.Errorf("default file:\n%s\nwant:\n%s", got, persisted)
			}
			if got, want := section(s, itSysctlFile), itSysctlSeed+"net.ipv4.ip_forward = 1\n"; got != want {
				t.Errorf("shared file:\n%s\nwant:\n%s", got, want)
			}
			if got := section(s, "live"); got != liveBefore {
				t.Errorf("apply = false changed running values:\n%s\nwas:\n%s", got, liveBefore)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if got := section(s, "/etc/sysctl.d/99-opsrun.conf"); !strings.Contains(got, "No such file") {
				t.Errorf("the default file, left empty, was not deleted:\n%s", got)
			}
			if got := section(s, itSysctlFile); got != itSysctlSeed {
				t.Errorf("shared file is not as seeded:\n%s\nwant:\n%s", got, itSysctlSeed)
			}
		},
	})

	// Read-write /proc/sys: apply sets the running values too.
	// bind: remounting without it changes the whole /proc superblock,
	// and "ro" afterwards would leave all of /proc read-only.
	Sh(t, "mount -o remount,bind,rw /proc/sys")
	t.Cleanup(func() {
		Sh(t, "set -- "+strings.Join(strings.Fields(liveBefore), " ")+"; echo $1 > /proc/sys/net/ipv4/tcp_syncookies; "+
			"echo \"$2 $3\" > /proc/sys/net/ipv4/ip_local_port_range; mount -o remount,bind,ro /proc/sys; grep -q ' /proc proc rw,' /proc/self/mounts")
	})
	Converge(t, Case{
		Present: itSysctlPresent("true"),
		Absent:  itSysctlAbsent,
		State:   itSysctlState,
		WantPresent: func(t *testing.T, s string) {
			if got := section(s, "live"); got != "0\n32768\t60000\n" {
				t.Errorf("running values:\n%q\nwant 0 and 32768<TAB>60000", got)
			}
			if got := section(s, "/etc/sysctl.d/99-opsrun.conf"); got != persisted {
				t.Errorf("default file:\n%s\nwant:\n%s", got, persisted)
			}
		},
		// absent removes the lines and leaves the running values.
		WantAbsent: func(t *testing.T, s string) {
			if got := section(s, "live"); got != "0\n32768\t60000\n" {
				t.Errorf("absent changed the running values:\n%q", got)
			}
			if got := section(s, itSysctlFile); got != itSysctlSeed {
				t.Errorf("shared file is not as seeded:\n%s", got)
			}
		},
	})
}
