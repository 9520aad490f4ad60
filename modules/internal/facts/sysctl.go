package facts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// Sysctl is a kernel parameter's live state under /proc/sys.
type Sysctl struct {
	// Exists is false when there is no such file: the key is misspelt, or
	// the module that provides it (br_netfilter...) is not loaded.
	Exists bool
	// Writable is what test -w says. For /proc/sys files it follows the
	// key's mode even for root (the kernel checks the table's mode), so a
	// read-only key is not writable. Busybox's test answers true for root
	// whatever the mount, so a read-only /proc/sys is checked apart
	// (ProcSysMountProbe).
	Writable bool
	// Value is what the kernel prints, without the final newline: fields
	// of multi-value keys are separated by tabs.
	Value string
	// Readable is false when the key could not be read (write-only keys
	// such as vm.drop_caches).
	Readable bool
}

// SysctlProbe reads the parameter at procPath (/proc/sys/net/ipv4/ip_forward):
// a line "writable", "read-only" or "absent", then the value. No sysctl
// binary is needed: minimal images lack procps.
func SysctlProbe(procPath string) modules.Probe {
	return modules.Probe{
		ID: "sysctl:" + procPath,
		Command: "f=" + transport.ShellQuote(procPath) + `; if [ -f "$f" ]; then ` +
			`if [ -w "$f" ]; then echo writable; else echo read-only; fi; cat "$f"; else echo absent; fi`,
	}
}

// ParseSysctl parses the output of SysctlProbe.
func ParseSysctl(r modules.ProbeResult) (Sysctl, error) {
	head, rest, _ := strings.Cut(r.Stdout, "\n")
	switch strings.TrimSuffix(head, "\r") {
	case "absent":
		if rest != "" {
			return Sysctl{}, fmt.Errorf("sysctl probe printed %s after absent", short(rest))
		}
		return Sysctl{}, nil
	case "writable", "read-only":
	default:
		return Sysctl{}, fmt.Errorf("sysctl probe printed %s, want writable, read-only or absent", short(head))
	}
	s := Sysctl{Exists: true, Writable: head == "writable", Readable: r.ExitStatus == 0}
	if s.Readable {
		s.Value = strings.TrimSuffix(rest, "\n")
	}
	return s, nil
}

// ProcSysMountProbe prints the mount point and options of the mounts at
// /proc and /proc/sys, in mount order, read with the shell alone. Docker
// and Podman mount /proc/sys read-only in unprivileged containers.
func ProcSysMountProbe() modules.Probe {
	return modules.Probe{
		ID:      "mounts:/proc/sys",
		Command: `while read -r _ m _ o _; do case $m in /proc|/proc/sys) echo "$m $o";; esac; done < /proc/self/mounts`,
	}
}

// ParseProcSysMount parses the output of ProcSysMountProbe: whether the
// mount /proc/sys is on (its own, or /proc's) is read-only. The last
// mount listed at a mount point is the one on top.
func ParseProcSysMount(r modules.ProbeResult) (readOnly bool, err error) {
	var procOpts, sysOpts string
	for _, l := range lines(r.Stdout) {
		m, opts, ok := strings.Cut(l, " ")
		if !ok || opts == "" {
			return false, fmt.Errorf("mount probe printed %s, want a mount point and options", short(l))
		}
		switch m {
		case "/proc":
			procOpts = opts
		case "/proc/sys":
			sysOpts = opts
		default:
			return false, fmt.Errorf("mount probe printed %s, want /proc or /proc/sys", short(l))
		}
	}
	if sysOpts == "" {
		sysOpts = procOpts
	}
	if sysOpts == "" {
		return false, fmt.Errorf("no /proc mount is listed in /proc/self/mounts (exit status %d)", r.ExitStatus)
	}
	return slices.Contains(strings.Split(sysOpts, ","), "ro"), nil
}

// ConfFile is a configuration file read whole by ConfFileProbe.
type ConfFile struct {
	Exists bool
	// NoDir is set when the file is absent and so is its directory.
	NoDir   bool
	Content string
}

// ConfFileProbe reads the regular file at path whole (sysctl.d files are
// small), or says what is there instead: "file" then the content, or one
// of "absent", "nodir" (the directory is missing too), "link" or "other".
// A symbolic link is not followed: an upload would replace the link.
func ConfFileProbe(path string) modules.Probe {
	q := transport.ShellQuote(path)
	dir := path[:strings.LastIndexByte(path, '/')+1]
	return modules.Probe{
		ID: "conffile:" + path,
		Command: "if [ -h " + q + " ]; then echo link; elif [ -f " + q + " ]; then echo file; cat " + q +
			"; elif [ -e " + q + " ]; then echo other; elif [ -d " + transport.ShellQuote(dir) +
			" ]; then echo absent; else echo nodir; fi",
	}
}

// ParseConfFile parses the output of ConfFileProbe(path).
func ParseConfFile(path string, r modules.ProbeResult) (ConfFile, error) {
	head, rest, _ := strings.Cut(r.Stdout, "\n")
	switch head {
	case "file":
		if r.ExitStatus != 0 {
			return ConfFile{}, fmt.Errorf("cannot read %s (cat exit status %d)", path, r.ExitStatus)
		}
		return ConfFile{Exists: true, Content: rest}, nil
	case "absent", "nodir":
		if rest != "" {
			return ConfFile{}, fmt.Errorf("file probe printed %s after %s", short(rest), head)
		}
		return ConfFile{NoDir: head == "nodir"}, nil
	case "link":
		return ConfFile{}, fmt.Errorf("%s is a symbolic link: name the file it points to instead, so that it stays a link", path)
	case "other":
		return ConfFile{}, fmt.Errorf("%s is not a regular file", path)
	}
	return ConfFile{}, fmt.Errorf("file probe printed %s, want file, absent, nodir, link or other", short(head))
}
