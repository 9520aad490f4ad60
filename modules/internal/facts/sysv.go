package facts

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// SysV is a SysV init script's state.
type SysV struct {
	// Found is false when there is no /etc/init.d/NAME.
	Found bool
	// Status is the exit status of `/etc/init.d/NAME status`, which LSB
	// defines (Linux Standard Base Core 3.1, 20.2 Init Script Actions):
	// 0 running, 1 dead but a /var/run pid file exists, 2 dead but a
	// /var/lock lock file exists, 3 not running, 4 status unknown; 5-99
	// are reserved, 100-199 for distributions and applications.
	Status int
	// Links are the runlevel links to the script, /etc/rcL.d/[SK]NNNAME:
	// runlevel L (0-6 or S) starts (S) or kills (K) it.
	Links []SysVLink
}

// SysVLink is one /etc/rc?.d link to an init script.
type SysVLink struct {
	Runlevel byte // '0'..'6' or 'S'
	Start    bool // an S link (else K)
}

// Running, Stopped and Unknown read Status by LSB: 1 and 2 are stopped
// (the daemon is dead; start works), 4 and anything outside LSB is
// unknown.
func (s SysV) Running() bool { return s.Status == 0 }

// Stopped reports whether the script said the service does not run.
func (s SysV) Stopped() bool { return s.Status >= 1 && s.Status <= 3 }

// Enabled reports whether the script starts in some runlevel: an S link,
// as update-rc.d (Debian) and chkconfig (Red Hat) make them, and as
// Ansible's service module reads them.
func (s SysV) Enabled() bool {
	for _, l := range s.Links {
		if l.Start {
			return true
		}
	}
	return false
}

// SysVProbe asks whether /etc/init.d/NAME exists, its LSB status, and its
// runlevel links, in one command: a status run with its output dropped
// (only the exit status means something: scripts print what they like)
// and stdin from /dev/null (probes share one shell: a script must not
// read the probes after it), then a glob over /etc/rc?.d, which on Red
// Hat hosts are links to /etc/rc.d/rc?.d.
func SysVProbe(service string) modules.Probe { return sysvProbe("/etc", service) }

// sysvProbe is SysVProbe with the directory holding init.d and rc?.d,
// for tests on a scratch tree.
func sysvProbe(etc, service string) modules.Probe {
	script := transport.ShellQuote(etc + "/init.d/" + service)
	glob := transport.ShellQuote(etc) + "/rc?.d/[SK]??" + transport.ShellQuote(service)
	return modules.Probe{
		ID: "sysv:" + service,
		Command: "if [ -f " + script + " ]; then " + script + " status </dev/null >/dev/null 2>&1; " +
			`echo "status $?"; for l in ` + glob + `; do if [ -h "$l" ] || [ -e "$l" ]; then echo "link $l"; fi; done; ` +
			"else echo missing; fi",
	}
}

// sysvLinkRE is a runlevel link path as the probe's glob finds it.
var sysvLinkRE = regexp.MustCompile(`/rc([0-6S])\.d/([SK])[^/]{2}[^/]+$`)

// ParseSysV parses SysVProbe output.
func ParseSysV(r modules.ProbeResult) (SysV, error) {
	ls := lines(r.Stdout)
	if len(ls) == 1 && ls[0] == "missing" {
		return SysV{}, nil
	}
	if len(ls) == 0 {
		return SysV{}, fmt.Errorf("SysV probe printed nothing, want the status")
	}
	n, ok := strings.CutPrefix(ls[0], "status ")
	code, err := strconv.Atoi(n)
	if !ok || err != nil || code < 0 || code > 255 {
		return SysV{}, fmt.Errorf("SysV probe printed %s, want \"status N\"", short(ls[0]))
	}
	s := SysV{Found: true, Status: code}
	for _, l := range ls[1:] {
		p, ok := strings.CutPrefix(l, "link ")
		m := sysvLinkRE.FindStringSubmatch(p)
		if !ok || m == nil {
			return SysV{}, fmt.Errorf("SysV probe printed %s, want \"link /etc/rcN.d/SNNname\"", short(l))
		}
		s.Links = append(s.Links, SysVLink{Runlevel: m[1][0], Start: m[2] == "S"})
	}
	return s, nil
}
