// Package fsmeta plans the metadata of a path (mode, owner, group) for the
// resource types that manage files and directories, so they word and fix
// it the same way.
package fsmeta

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// Want is the desired metadata. An empty Owner or Group leaves it as it is.
type Want struct {
	Mode  uint32
	Owner string
	Group string
}

// Describe words w for a summary: "mode 0640, owner root, group adm".
func (w Want) Describe() string {
	parts := []string{"mode " + attr.FormatMode(w.Mode)}
	if w.Owner != "" {
		parts = append(parts, "owner "+w.Owner)
	}
	if w.Group != "" {
		parts = append(parts, "group "+w.Group)
	}
	return strings.Join(parts, ", ")
}

// Changes lists how st differs from w, worded for a summary
// ("mode 0644 → 0600", "owner root → app"); nil when it does not.
func Changes(st facts.Stat, w Want) []string {
	var c []string
	if st.Mode != w.Mode {
		c = append(c, fmt.Sprintf("mode %s → %s", attr.FormatMode(st.Mode), attr.FormatMode(w.Mode)))
	}
	if w.Owner != "" && !st.OwnedBy(w.Owner) {
		c = append(c, fmt.Sprintf("owner %s → %s", st.Owner, w.Owner))
	}
	if w.Group != "" && !st.InGroup(w.Group) {
		c = append(c, fmt.Sprintf("group %s → %s", st.Group, w.Group))
	}
	return c
}

// Fix is the command that gives path the metadata w, changing only what
// differs from st; "" when nothing does. chown runs before chmod because
// changing the owner clears setuid and setgid bits.
func Fix(path string, st facts.Stat, w Want, dir bool) string {
	owner, group := w.Owner, w.Group
	if owner != "" && st.OwnedBy(owner) {
		owner = ""
	}
	if group != "" && st.InGroup(group) {
		group = ""
	}
	var cmds []string
	if c := Chown(path, owner, group); c != "" {
		cmds = append(cmds, c)
	}
	// After a chown the kernel may have cleared setuid/setgid: set the
	// mode again whenever it has special bits.
	if st.Mode != w.Mode || (len(cmds) > 0 && w.Mode&0o6000 != 0) {
		cmds = append(cmds, Chmod(path, w.Mode, dir))
	}
	return strings.Join(cmds, " && ")
}

// Chown is the command that sets path's owner and/or group; "" when both
// are empty.
func Chown(path, owner, group string) string {
	q := transport.ShellQuote(path)
	switch {
	case owner != "" && group != "":
		return "chown " + transport.ShellQuote(owner+":"+group) + " " + q
	case owner != "":
		return "chown " + transport.ShellQuote(owner) + " " + q
	case group != "":
		return "chgrp " + transport.ShellQuote(group) + " " + q
	}
	return ""
}

// Chmod is the command that sets path's mode exactly. For a directory the
// mode gets a fifth digit: GNU chmod keeps a directory's setuid and setgid
// bits for a 4-digit mode ("0755"), so a setgid bit inherited from the
// parent would differ from the desired mode on every run.
func Chmod(path string, mode uint32, dir bool) string {
	m := attr.FormatMode(mode)
	if dir {
		m = fmt.Sprintf("%05o", mode)
	}
	return "chmod " + m + " " + transport.ShellQuote(path)
}
