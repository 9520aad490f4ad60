package packages

import (
	"regexp"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// apk drives Alpine hosts (apk-tools 2 and 3).
type apk struct{}

// apk names are letters, digits and _ + - . (=, <, >, ~, @ and ! would
// be read as a version constraint, repository tag or conflict, : as a
// provided name like so:libc.so); versions are digits and dots with
// letters and _suffixes, then -rN.
var (
	apkNameRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	apkVersionRE = regexp.MustCompile(`^[0-9][0-9a-z._+~]*(-r[0-9]+)?$`)
)

// apkCmd keeps apk's progress bar out of the log and makes it wait up to
// 300 s for the database lock instead of failing at once.
const apkCmd = "apk --no-progress --wait 300 "

func (apk) checkName(n string) string {
	if !apkNameRE.MatchString(n) {
		return "is not a package name (letters, digits, _ + - .)"
	}
	return ""
}

func (apk) checkVersion(v string) string {
	if !apkVersionRE.MatchString(v) {
		return "is not an apk package version like \"8.5.0-r0\""
	}
	return ""
}

func (apk) probes(res *resource) []modules.Probe {
	ps := []modules.Probe{facts.ApkInstalledProbe()}
	if res.state == "latest" {
		ps = append(ps, facts.ApkVersionProbe(res.names))
	}
	return ps
}

func (apk) read(res *resource, f modules.Facts) (*hostState, error) {
	r, err := res.get(f, facts.ApkInstalledProbe())
	if err != nil {
		return nil, err
	}
	all, err := facts.ParseApkInstalled(r)
	if err != nil {
		return nil, err
	}
	st := &hostState{installed: map[string]string{}, newer: map[string]string{}}
	for _, n := range res.names {
		if v, ok := all[n]; ok {
			st.installed[n] = v
		}
	}
	st.pinned = exact(st.installed)
	if res.state != "latest" {
		return st, nil
	}
	if r, err = res.get(f, facts.ApkVersionProbe(res.names)); err != nil {
		return nil, err
	}
	ups, err := facts.ParseApkVersion(r)
	if err != nil {
		return nil, err
	}
	for n, v := range st.installed {
		for _, u := range ups {
			if u.Is(n, v) {
				st.newer[n] = u.Latest
			}
		}
	}
	return st, nil
}

func (apk) remove(names []string) string {
	return apkCmd + "del " + transport.ShellJoin(names...)
}

// install is one apk add: name=version for a pinned version (apk
// downgrades to it and keeps it in /etc/apk/world), --upgrade for state =
// "latest" (apk add leaves an installed package as it is otherwise). The
// index is refreshed first when a simulated add from the cached indexes
// fails: a package not found, or no index downloaded at all (container
// images ship without one).
func (apk) install(h *modules.Host, res *resource, items []item) string {
	specs := pinSpecs(items, res.version)
	args := "add "
	if res.state == "latest" {
		args += "--upgrade "
	}
	args += transport.ShellJoin(specs...)
	need := "! apk --no-progress --simulate " + args + " >/dev/null 2>&1"
	return refreshIfNeeded(h.RunID, "apk-refreshed", need, apkCmd+"update") + " && " + apkCmd + args
}
