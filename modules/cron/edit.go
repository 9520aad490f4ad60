package cron

import (
	"regexp"
	"strings"
)

// markerPrefix starts the comment line that names a managed entry, as
// "#Ansible: NAME" does for Ansible's cron module.
const markerPrefix = "#opsrun: "

// envLineRE is a crontab variable assignment: NAME = value, spaces around
// = optional (crontab(5)). A schedule starts with a digit, * or @, so no
// entry matches.
var envLineRE = regexp.MustCompile(`^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=`)

// isMarker reports whether line is marker, ignoring trailing blanks (and
// the carriage return of a crontab edited on Windows).
func isMarker(line, marker string) bool {
	return strings.TrimRight(line, " \t\r") == marker
}

// isEntry reports whether line is a cron entry, commented out or not: what
// follows the # and blanks starts like a schedule.
func isEntry(line string) bool {
	s := strings.TrimSpace(line)
	s = strings.TrimSpace(strings.TrimLeft(s, "#"))
	return s != "" && strings.ContainsRune("0123456789*@", rune(s[0]))
}

// blockEnd is the index after the block whose marker is at lines[i]: the
// marker, the variable lines right below it and the entry below those.
// A line that is not an entry ends the block without being part of it, so
// a hand-edited block never takes a neighbour's comment with it.
func blockEnd(lines []string, i int) int {
	j := i + 1
	for j < len(lines) && envLineRE.MatchString(lines[j]) {
		j++
	}
	if j < len(lines) && isEntry(lines[j]) {
		j++
	}
	return j
}

// edit returns lines with the block named by marker replaced by block, in
// place, or appended when there is none; further blocks of the same name
// (a copy pasted by hand) are removed. A nil block removes them all. found
// is how many blocks there were.
func edit(lines []string, marker string, block []string) (out []string, found int) {
	out = make([]string, 0, len(lines)+len(block))
	for i := 0; i < len(lines); {
		if !isMarker(lines[i], marker) {
			out = append(out, lines[i])
			i++
			continue
		}
		if found == 0 {
			out = append(out, block...)
		}
		found++
		i = blockEnd(lines, i)
	}
	if found == 0 {
		out = append(out, block...)
	}
	return out, found
}
