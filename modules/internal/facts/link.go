package facts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// Link is what LinkProbe knows about a path, and about a hard link's
// target when asked.
type Link struct {
	Stat  Stat   // the path itself, a symbolic link not followed
	Inode string // "DEVICE:INODE" of the path, when it exists
	// Target is what a symbolic link at the path points to, exactly as
	// readlink prints it (without its newline); only without other.
	Target string
	// Other and OtherInode describe LinkProbe's other path (a hard
	// link's target), not followed either.
	Other      Stat
	OtherInode string
}

// linkFormat is statFormat plus the device and inode numbers (decimal in
// GNU and busybox stat alike), which say whether two names are one file.
const linkFormat = statFormat + "\t%d\t%i"

// LinkProbe asks, in one command, what is at path without following a
// symbolic link there: stat's fields plus device and inode (or "absent"),
// then, for a symbolic link, its target as readlink prints it. With other
// (a hard link's target) the second line is other's stat instead, and no
// readlink runs: a hard link is compared by inode.
func LinkProbe(path, other string) modules.Probe {
	if other == "" {
		q := transport.ShellQuote(path)
		return modules.Probe{
			ID:      "link:" + path,
			Command: statOrAbsent(q) + "if [ -h " + q + " ]; then readlink " + q + "; fi",
		}
	}
	// Quoted, so no pair of paths can make the ID of another pair.
	return modules.Probe{
		ID:      "hardlink:" + strconv.Quote(path) + " " + strconv.Quote(other),
		Command: statOrAbsent(transport.ShellQuote(path)) + statOrAbsent(transport.ShellQuote(other)),
	}
}

func statOrAbsent(q string) string {
	return "if [ -e " + q + " ] || [ -h " + q + " ]; then LC_ALL=C stat -c " + transport.ShellQuote(linkFormat) +
		" " + q + " || exit; else echo absent; fi; "
}

// ParseLink parses the output of LinkProbe; hard says it was asked with
// other.
func ParseLink(r modules.ProbeResult, hard bool) (Link, error) {
	first, rest, ok := strings.Cut(r.Stdout, "\n")
	if !ok {
		return Link{}, fmt.Errorf("link probe printed %s, want lines (exit status %d)", short(r.Stdout), r.ExitStatus)
	}
	var l Link
	var err error
	if l.Stat, l.Inode, err = parseLinkStat(first); err != nil {
		return Link{}, err
	}
	if hard {
		second, tail, ok := strings.Cut(rest, "\n")
		if !ok || tail != "" {
			return Link{}, fmt.Errorf("link probe printed %s after the first line, want one line (exit status %d)", short(rest), r.ExitStatus)
		}
		if l.Other, l.OtherInode, err = parseLinkStat(second); err != nil {
			return Link{}, err
		}
		return l, nil
	}
	if l.Stat.Type != Symlink {
		if rest != "" {
			return Link{}, fmt.Errorf("link probe printed %s after the stat of a %s", short(rest), l.Stat.Type)
		}
		return l, nil
	}
	// readlink prints the target and one newline; the target itself may
	// hold newlines, so everything up to that last one is the target.
	t, ok := strings.CutSuffix(rest, "\n")
	if !ok || t == "" {
		return Link{}, fmt.Errorf("readlink printed %s, want the link's target (exit status %d)", short(rest), r.ExitStatus)
	}
	l.Target = t
	return l, nil
}

// parseLinkStat parses one line of linkFormat, or "absent".
func parseLinkStat(line string) (Stat, string, error) {
	line = strings.TrimSuffix(line, "\r")
	if line == "absent" {
		return Stat{}, "", nil
	}
	f := strings.Split(line, "\t")
	if len(f) != 9 {
		return Stat{}, "", fmt.Errorf("stat printed %d fields, want 9: %s", len(f), short(line))
	}
	st, err := ParseStat(modules.ProbeResult{Stdout: strings.Join(f[:7], "\t")})
	if err != nil {
		return Stat{}, "", err
	}
	if !st.Exists {
		return Stat{}, "", fmt.Errorf("stat printed %s, want a file's fields", short(line))
	}
	if !isDigits(f[7]) || !isDigits(f[8]) {
		return Stat{}, "", fmt.Errorf("stat printed device/inode %s/%s, want numbers", short(f[7]), short(f[8]))
	}
	return st, f[7] + ":" + f[8], nil
}
