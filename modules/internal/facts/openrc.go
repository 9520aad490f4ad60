package facts

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// OpenRC is an OpenRC service's state.
type OpenRC struct {
	// Found is false when rc-service -e does not find the service (no
	// script in /etc/init.d or /usr/local/etc/init.d).
	Found bool
	// Status is the word `rc-service NAME status` printed: started,
	// stopped, crashed, starting, stopping, inactive, unsupervised; or,
	// for a script whose own status function printed no such word, the
	// word its exit status stands for (0 started, 3 stopped).
	Status string
	// Runlevels are the runlevels the service is added to, per
	// `rc-update show`, sorted: it starts at boot when there is one.
	Runlevels []string
}

// openrcExitMarker ends the status output, with status's exit status:
// status functions of scripts may print anything, the marker line is ours.
const openrcExitMarker = "== opsrun: rc-service status exited "

// OpenRCProbe asks OpenRC whether service exists, its status, and the
// runlevels it is in, in one command: an `rc-service -e` test, then
// status (stdout and stderr: einfo prints "started" and "stopped" on
// stdout, ewarn and eerror the other words on stderr), a marker line with
// status's exit status, then `rc-update show`. rc-update cannot show one
// service (its argument is a runlevel), so the parser picks the line.
// stdin is /dev/null: probes share one shell, and a status function that
// reads stdin must not eat the probes after it.
func OpenRCProbe(service string) modules.Probe {
	q := transport.ShellQuote(service)
	return modules.Probe{
		ID: "openrc:" + service,
		Command: "if ! command -v rc-service >/dev/null; then echo no-openrc; " +
			"elif rc-service -e " + q + "; then rc-service " + q + " status </dev/null 2>&1; " +
			`echo "` + openrcExitMarker + `$?"; rc-update show; else echo no-service; fi`,
	}
}

// openrcStatusRE finds the status word in a line of `rc-service NAME
// status`. The words and exit statuses come from OpenRC's
// sh/openrc-run.sh.in (_status) and sh/supervise-daemon.sh
// (supervise_status): " * status: started" (exit 0), "stopped" (3),
// "stopping" (4), "starting" (8), "inactive" (16), "crashed" (32),
// "unsupervised" (64). The leading " * " is einfo's, possibly colored.
var openrcStatusRE = regexp.MustCompile(`^\s*(?:\x1b\[[0-9;]*m)*\s*\*?\s*(?:\x1b\[[0-9;]*m)*\s*status: ([a-z]+)\s*$`)

// ansiRE matches the color escapes einfo adds when EINFO_COLOR is forced.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// openrcStatuses are the status words OpenRC prints.
var openrcStatuses = []string{"started", "stopped", "stopping", "starting", "inactive", "crashed", "unsupervised"}

// ParseOpenRC parses OpenRCProbe output for service.
//
// `rc-update show` prints every service in a runlevel as " %20s |" and,
// for each runlevel of the system in order, " NAME" when the service is
// in it or as many spaces when not (OpenRC src/rc-update/rc-update.c,
// show()); on Alpine, whose runlevels are boot, default, nonetwork,
// shutdown and sysinit (quoted here to show the spaces):
//
//	"                 sshd |      default                           "
//	"             bootmisc | boot                                   "
func ParseOpenRC(service string, r modules.ProbeResult) (OpenRC, error) {
	ls := lines(r.Stdout)
	if len(ls) == 1 {
		switch strings.TrimSpace(ls[0]) {
		case "no-openrc":
			return OpenRC{}, fmt.Errorf("rc-service is not installed; is OpenRC the host's init system?")
		case "no-service":
			return OpenRC{}, nil
		}
	}
	end := -1
	for i, l := range ls {
		if strings.HasPrefix(l, openrcExitMarker) {
			end = i
		}
	}
	if end < 0 {
		return OpenRC{}, fmt.Errorf("OpenRC probe printed %s, want the status and rc-update show", short(r.Stdout))
	}
	exit, err := strconv.Atoi(strings.TrimPrefix(ls[end], openrcExitMarker))
	if err != nil || exit < 0 || exit > 255 {
		return OpenRC{}, fmt.Errorf("OpenRC probe printed %s, want an exit status", short(ls[end]))
	}
	o := OpenRC{Found: true}
	for _, l := range ls[:end] {
		if m := openrcStatusRE.FindStringSubmatch(l); m != nil && slices.Contains(openrcStatuses, m[1]) {
			o.Status = m[1] // the last one: a status function may print more first
		}
	}
	if o.Status == "" {
		// A script's own status function may print something else; its
		// exit status then follows the LSB convention OpenRC keeps.
		switch exit {
		case 0:
			o.Status = "started"
		case 3:
			o.Status = "stopped"
		default:
			out := strings.TrimSpace(ansiRE.ReplaceAllString(strings.Join(ls[:end], "\n"), ""))
			return OpenRC{}, fmt.Errorf("rc-service %s status exited %d and printed no status word: %s", service, exit, short(out))
		}
	}
	for _, l := range ls[end+1:] {
		name, levels, ok := strings.Cut(l, "|")
		if !ok || strings.Contains(levels, "|") {
			return OpenRC{}, fmt.Errorf("rc-update show printed %s, want \"service | runlevels\"", short(l))
		}
		if strings.TrimSpace(name) != service {
			continue
		}
		o.Runlevels = append(o.Runlevels, strings.Fields(levels)...)
	}
	slices.Sort(o.Runlevels)
	o.Runlevels = slices.Compact(o.Runlevels)
	return o, nil
}
