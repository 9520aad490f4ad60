// Package fsmeta plans the metadata of a path (mode, owner, group) for the
// resource types that manage files and directories, so they word and fix
// it the same way.
package fsmeta

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
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
	return chown("", owner, group, transport.ShellQuote(path))
}

// ChownR is Chown of dir and everything in it (chown -R), for a tree that
// is wholly the resource's own (an extracted archive).
func ChownR(dir, owner, group string) string {
	return chown("-R ", owner, group, transport.ShellQuote(dir))
}

// ChownWord is Chown of a path given as a shell word, quoted already or
// a variable such as "$t" (a temporary file made on the host).
func ChownWord(word, owner, group string) string {
	return chown("", owner, group, word)
}

// chown words every Chown: opts go before the owner (chown) or group
// (chgrp), word is the path as a shell word.
func chown(opts, owner, group, word string) string {
	switch {
	case owner != "" && group != "":
		return "chown " + opts + transport.ShellQuote(owner+":"+group) + " " + word
	case owner != "":
		return "chown " + opts + transport.ShellQuote(owner) + " " + word
	case group != "":
		return "chgrp " + opts + transport.ShellQuote(group) + " " + word
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

// Change is the action giving path the metadata w, summarised as
// "change PATH (mode 0644 → 0600, ...)"; nil when st already has it. dir
// is Chmod's.
func Change(path string, st facts.Stat, w Want, dir bool) []modules.Action {
	changes := Changes(st, w)
	if len(changes) == 0 {
		return nil
	}
	return []modules.Action{{
		Summary: "change " + path + " (" + strings.Join(changes, ", ") + ")",
		Command: Fix(path, st, w, dir),
	}}
}

// RemoveFile is the action removing what st says is at path (a file, or
// a symbolic link or special file, named as such in the summary) with
// rm -f; nil when nothing is there. A directory is the caller's to
// refuse: rm -f would fail on it.
func RemoveFile(path string, st facts.Stat) []modules.Action {
	if !st.Exists {
		return nil
	}
	what := path
	if st.Type != facts.Regular {
		what = string(st.Type) + " " + path
	}
	return []modules.Action{{Summary: "remove " + what, Command: "rm -f " + transport.ShellQuote(path)}}
}

// Replacing is the metadata a new file gets that replaces the regular
// file st describes: an owner or group left empty is the old file's. The
// new file is another inode, which would otherwise be root's.
func (w Want) Replacing(st facts.Stat) Want {
	if st.Exists && st.Type == facts.Regular {
		if w.Owner == "" {
			w.Owner = st.UID
		}
		if w.Group == "" {
			w.Group = st.GID
		}
	}
	return w
}
