package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// inotifyPerSystemdHost is how many inotify instances a systemd host takes
// from the kernel's per-user limit: measured 6 to 7 (PID 1, logind,
// journald), SSH logins adding none; 8 leaves a little headroom.
// Containers run as the host's root, so every systemd host of every fleet
// shares root's fs.inotify.max_user_instances (128 by default). When it runs
// out, systemd exits at boot with status 255 and no message.
const inotifyPerSystemdHost = 8

const inotifyLimitFile = "/proc/sys/fs/inotify/max_user_instances"

// inotifyFix is what to tell a user who hits the limit.
const inotifyFix = "raise it (sysctl -w fs.inotify.max_user_instances=8192, and persist that in /etc/sysctl.d) or use init sshd"

// checkInotify refuses, before anything starts, a systemd fleet that would
// exhaust root's inotify instances; otherwise it fails half-way with
// containers dying silently.
func checkInotify(systemdHosts int) error {
	limit, err := readInt(inotifyLimitFile)
	if err != nil {
		return nil // no /proc to ask: let the hosts find out
	}
	used := inotifyInUse()
	need := systemdHosts * inotifyPerSystemdHost
	if used+need > limit {
		return fmt.Errorf("%d systemd hosts need about %d inotify instances, but only %d of fs.inotify.max_user_instances=%d are free: %s",
			systemdHosts, need, max(limit-used, 0), limit, inotifyFix)
	}
	return nil
}

func readInt(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// inotifyInUse counts the inotify instances root's processes hold. Without
// the right to read them (not root) it counts what it can see.
func inotifyInUse() int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name())
		var st syscall.Stat_t
		if syscall.Stat(dir, &st) != nil || st.Uid != 0 {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && link == "anon_inode:inotify" {
				n++
			}
		}
	}
	return n
}
