package facts

import (
	"errors"
	"strconv"
	"strings"
)

// errIncomplete means the script's end marker never came: the session was
// cut, or the host's sh stopped half-way. Facts from half a script would be
// silently wrong (an empty package manager, no addresses), so it is an
// error.
var errIncomplete = errors.New("facts output is incomplete (no end marker): the script did not run to the end")

// output is the script's output split into its parts.
type output struct {
	vars     map[string]string   // key=value lines of the vars section; the last wins
	have     map[string]bool     // commands found by command -v
	sections map[string][]string // other sections' lines, by name
}

// split cuts the script's output into sections. It accepts any bytes: what
// it does not recognise it ignores.
func split(out []byte) (*output, error) {
	o := &output{vars: map[string]string{}, have: map[string]bool{}, sections: map[string][]string{}}
	section := ""
	complete := false
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if rest, ok := strings.CutPrefix(line, marker+" "); ok {
			section = strings.TrimSpace(rest)
			if section == "end" {
				complete = true
			}
			continue
		}
		switch section {
		case "":
			// Before the first marker: a login banner or an rc file's
			// chatter; not ours.
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if k == "have" {
				o.have[v] = true
				continue
			}
			o.vars[k] = v
		default:
			o.sections[section] = append(o.sections[section], line)
		}
	}
	if !complete {
		return nil, errIncomplete
	}
	return o, nil
}

// parse turns the script's output into Facts.
func parse(out []byte) (*Facts, error) {
	o, err := split(out)
	if err != nil {
		return nil, err
	}
	f := &Facts{
		Arch:     clean(o.vars["arch"]),
		Kernel:   clean(o.vars["kernel"]),
		Hostname: clean(o.vars["hostname"]),
		CPUs:     atoi(o.vars["cpus"]),
		MemoryMB: memTotalMB(o.vars["mem"]),
		Init:     initOf(o.vars["systemd"] == "1", o.have["rc-service"], o.vars["initd"] == "1"),
		PkgMgr:   pkgMgrOf(o.have),
	}
	rel := parseOSRelease(o.sections["os-release"])
	f.OS.ID = rel["ID"]
	f.OS.Family = familyOf(rel["ID"], rel["ID_LIKE"])
	f.OS.Version = rel["VERSION_ID"]
	f.OS.Name = rel["PRETTY_NAME"]
	if f.OS.Name == "" {
		f.OS.Name = rel["NAME"]
	}

	var addrs []ifaddr
	if ipOut, ok := o.sections["ip"]; ok {
		addrs = fromIPAddr(ipOut)
	} else {
		addrs = fromKernel(o.sections["fib_trie"], o.sections["route"], o.sections["ifindex"], bigEndian(f.Arch))
	}
	f.IPv4 = map[string][]string{}
	for _, a := range addrs {
		f.IPv4[a.iface] = append(f.IPv4[a.iface], a.addr.String())
	}
	f.PrivateIP = privateIP(addrs)
	return f, nil
}

// clean makes a host-supplied string safe to hand to HCL: valid UTF-8, no
// surrounding blanks.
func clean(s string) string {
	return strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
}

// atoi reads a count, 0 when it is not one.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// memTotalMB reads /proc/meminfo's "MemTotal:  16314984 kB" line.
func memTotalMB(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "MemTotal:" {
		return 0
	}
	kb, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || kb < 0 {
		return 0
	}
	if len(f) >= 3 && !strings.EqualFold(f[2], "kB") {
		return 0 // the kernel has always said kB; anything else is not meminfo
	}
	mb := kb / 1024
	if int64(int(mb)) != mb {
		return 0
	}
	return int(mb)
}

// initOf names the service manager. systemd's own test is the directory
// it creates at boot (sd_booted), not whether systemctl is installed: a
// container may have the binary without running it.
func initOf(systemd, rcService, initd bool) string {
	switch {
	case systemd:
		return "systemd"
	case rcService:
		return "openrc"
	case initd:
		return "sysvinit"
	}
	return "unknown"
}

// pkgMgrOf names the first package manager found, in an order that
// prefers dnf over its yum compatibility link.
func pkgMgrOf(have map[string]bool) string {
	for _, c := range []struct{ cmd, name string }{
		{"apt-get", "apt"}, {"dnf", "dnf"}, {"yum", "yum"}, {"apk", "apk"}, {"zypper", "zypper"},
	} {
		if have[c.cmd] {
			return c.name
		}
	}
	return "unknown"
}
