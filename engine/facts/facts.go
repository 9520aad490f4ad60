// Package facts gathers what a run needs to know about a host (OS family,
// init system, package manager, addresses...) in one round trip, once per
// host per run. Recipes read the result as the `host` object in HCL
// (host.os.family, host.private_ip); modules read it as a *modules.Host.
package facts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// Facts describes one host. Values the host could not provide are empty
// strings or zero, and the enumerations (OS.Family, Init, PkgMgr) are
// "unknown", so recipes compare against a fixed set of names.
type Facts struct {
	OS struct {
		ID      string // /etc/os-release ID: debian, ubuntu, rocky, alpine...
		Family  string // debian, rhel, alpine, suse, arch or unknown, from ID and ID_LIKE
		Version string // VERSION_ID: "12", "9.3", "3.19.1"; empty on rolling releases
		Name    string // PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)"
	}
	Arch     string // uname -m: x86_64, aarch64
	Kernel   string // uname -r
	Hostname string
	CPUs     int // online CPUs available to the login user (nproc)
	MemoryMB int // MemTotal
	// IPv4 lists each interface's IPv4 addresses, loopback left out.
	IPv4 map[string][]string
	// PrivateIP is the address to give the other hosts of a stack: the
	// first RFC 1918 address (interfaces in index order), else the first
	// other non-loopback one, addresses of container/VM bridges such as
	// docker0 last; empty when there is none.
	PrivateIP string
	Init      string // systemd, openrc, sysvinit or unknown
	PkgMgr    string // apt, dnf, yum, apk, zypper or unknown
}

// runCommand is the command the script is fed to on stdin, as in
// engine/probe: sh reads it whatever the login shell is, and the
// transport's command log gets one short line instead of the script.
const runCommand = "sh -s"

// maxStderr bounds how much of the script's stderr an error quotes.
const maxStderr = 512

// Gather runs the facts script on c's host and parses its output. It needs
// no become: everything it reads is world-readable. Errors name the host.
func Gather(ctx context.Context, c transport.Conn) (*Facts, error) {
	res, err := c.Run(ctx, transport.Cmd{Command: runCommand, Stdin: strings.NewReader(script)})
	if err != nil {
		return nil, hostError(c, err)
	}
	if res.ExitStatus != 0 {
		return nil, &transport.HostError{Host: c.Host(), Op: "facts",
			Err: fmt.Errorf("facts script exited with status %d%s", res.ExitStatus, stderrNote(res.Stderr))}
	}
	f, err := parse(res.Stdout)
	if err != nil {
		return nil, &transport.HostError{Host: c.Host(), Op: "facts", Err: fmt.Errorf("%w%s", err, stderrNote(res.Stderr))}
	}
	return f, nil
}

// hostError names the host in a transport failure unless the transport
// already did (sshconn returns *HostError), so the message does not repeat it.
func hostError(c transport.Conn, err error) error {
	if _, ok := errors.AsType[*transport.HostError](err); ok {
		return fmt.Errorf("facts: %w", err)
	}
	return &transport.HostError{Host: c.Host(), Op: "facts", Err: err}
}

// stderrNote quotes the end of the script's stderr, where sh reports what
// stopped it.
func stderrNote(stderr []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(stderr), "\uFFFD"))
	if s == "" {
		return ""
	}
	if len(s) > maxStderr {
		s = "..." + strings.ToValidUTF8(s[len(s)-maxStderr:], "")
	}
	return fmt.Sprintf(" (stderr: %s)", s)
}

// Module returns what modules may know of the host: the facts that decide
// how to converge it, plus the inventory name and the run's ID.
func (f *Facts) Module(name, runID string) *modules.Host {
	return &modules.Host{
		Name:     name,
		OSID:     f.OS.ID,
		OSFamily: f.OS.Family,
		Version:  f.OS.Version,
		Arch:     f.Arch,
		Init:     f.Init,
		PkgMgr:   f.PkgMgr,
		RunID:    runID,
	}
}

// Value returns the facts as the facts part of HCL's `host` object:
//
//	{os = {id, family, version, name}, arch, kernel, hostname, cpus,
//	 memory_mb, ipv4 = {IFACE = [ADDR, ...]}, private_ip, init, pkg_mgr}
//
// Objects rather than maps, so recipes write host.os.family and a typo is
// an error ("unsupported attribute") instead of a silent null; ipv4 is an
// object too, its attributes the host's interface names (host.ipv4.eth0).
func (f *Facts) Value() cty.Value {
	ifaces := make([]string, 0, len(f.IPv4))
	for name := range f.IPv4 {
		ifaces = append(ifaces, name)
	}
	sort.Strings(ifaces)
	ipv4 := make(map[string]cty.Value, len(ifaces))
	for _, name := range ifaces {
		addrs := make([]cty.Value, len(f.IPv4[name]))
		for i, a := range f.IPv4[name] {
			addrs[i] = str(a)
		}
		if len(addrs) == 0 {
			ipv4[str(name).AsString()] = cty.ListValEmpty(cty.String)
		} else {
			ipv4[str(name).AsString()] = cty.ListVal(addrs)
		}
	}
	return cty.ObjectVal(map[string]cty.Value{
		"os": cty.ObjectVal(map[string]cty.Value{
			"id":      str(f.OS.ID),
			"family":  str(f.OS.Family),
			"version": str(f.OS.Version),
			"name":    str(f.OS.Name),
		}),
		"arch":       str(f.Arch),
		"kernel":     str(f.Kernel),
		"hostname":   str(f.Hostname),
		"cpus":       cty.NumberIntVal(int64(f.CPUs)),
		"memory_mb":  cty.NumberIntVal(int64(f.MemoryMB)),
		"ipv4":       cty.ObjectVal(ipv4),
		"private_ip": str(f.PrivateIP),
		"init":       str(f.Init),
		"pkg_mgr":    str(f.PkgMgr),
	})
}

// UnknownValue has Value's shape with every fact unknown, for `validate`,
// which checks recipes before any host has been contacted. ipv4 is of
// unknown type because its attributes are the interface names.
func UnknownValue() cty.Value {
	s := cty.UnknownVal(cty.String)
	n := cty.UnknownVal(cty.Number)
	return cty.ObjectVal(map[string]cty.Value{
		"os":         cty.ObjectVal(map[string]cty.Value{"id": s, "family": s, "version": s, "name": s}),
		"arch":       s,
		"kernel":     s,
		"hostname":   s,
		"cpus":       n,
		"memory_mb":  n,
		"ipv4":       cty.DynamicVal,
		"private_ip": s,
		"init":       s,
		"pkg_mgr":    s,
	})
}

// str converts a fact to a cty string. Facts built by hand (tests, other
// sources) may hold invalid UTF-8, which cty strings must not.
func str(s string) cty.Value {
	return cty.StringVal(strings.ToValidUTF8(s, "\uFFFD"))
}
