package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// GroupEntry is one entry of the group database, as getent group prints it:
// name:password:gid:member,member (glibc and musl's getent alike).
type GroupEntry struct {
	Name    string
	GID     uint32
	Members []string
}

// ParseGroupLine parses one getent group line.
func ParseGroupLine(line string) (GroupEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 4 {
		return GroupEntry{}, fmt.Errorf("getent group printed %d fields, want 4: %s", len(f), short(line))
	}
	gid, err := parseID(f[2])
	if f[0] == "" || err != nil {
		return GroupEntry{}, fmt.Errorf("getent group printed %s, want name:x:gid:members", short(line))
	}
	g := GroupEntry{Name: f[0], GID: gid}
	if f[3] != "" {
		g.Members = strings.Split(f[3], ",")
	}
	return g, nil
}

// GroupProbe asks for group name's entry (getent group) and, with tools,
// first whether the host has shadow's groupadd or only busybox's addgroup.
// A missing group prints no entry and exits with getent's status 2.
func GroupProbe(name string, tools bool) modules.Probe {
	id := "group:" + name
	cmd := "getent group " + transport.ShellQuote(name)
	if tools {
		id += "+tools"
		cmd = "if command -v groupadd >/dev/null; then echo 'tools shadow'; else echo 'tools busybox'; fi; " + cmd
	}
	return modules.Probe{ID: id, Command: cmd}
}

// GroupState is what GroupProbe found.
type GroupState struct {
	// Tools is "shadow" or "busybox" when asked, else "".
	Tools  string
	Exists bool
	Group  GroupEntry
}

// ParseGroup parses the output of GroupProbe. It never panics (fuzzed).
func ParseGroup(r modules.ProbeResult) (GroupState, error) {
	var s GroupState
	ls := lines(r.Stdout)
	if len(ls) > 0 && strings.HasPrefix(ls[0], "tools ") {
		s.Tools = strings.TrimPrefix(ls[0], "tools ")
		if s.Tools != "shadow" && s.Tools != "busybox" {
			return GroupState{}, fmt.Errorf("group probe printed tools %s, want shadow or busybox", short(s.Tools))
		}
		ls = ls[1:]
	}
	switch {
	case len(ls) == 0 && r.ExitStatus == 2:
		// getent's status for a key it does not know.
		return s, nil
	case len(ls) == 0 || r.ExitStatus != 0:
		return GroupState{}, fmt.Errorf("getent group failed (exit status %d): %s", r.ExitStatus, short(r.Stdout))
	case len(ls) > 1:
		return GroupState{}, fmt.Errorf("getent group printed %d lines, want 1: %s", len(ls), short(r.Stdout))
	}
	g, err := ParseGroupLine(ls[0])
	if err != nil {
		return GroupState{}, err
	}
	s.Exists, s.Group = true, g
	return s, nil
}
