package sysctl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// levelRE is one level of a key: a /proc/sys directory or file name.
// Interface names bring dots, dashes and @; nothing here is a path
// component of its own ("." or "..") or a shell or option character.
var levelRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$`)

// key is a kernel parameter's name in both of its forms.
type key struct {
	name string // dotted, as sysctl prints it: net.ipv4.conf.eth0/100.rp_filter
	path string // under /proc/sys: /proc/sys/net/ipv4/conf/eth0.100/rp_filter
}

// parseKey reads a key as sysctl.d(5) does: when its first separator is a
// slash it is a path (net/ipv4/conf/eth0.100/rp_filter); otherwise dots
// separate the levels and a slash stands for a dot within a level
// (net.ipv4.conf.eth0/100.rp_filter). A leading "-" (ignore errors, in a
// file) is not part of the key.
func parseKey(s string) (key, error) {
	var levels []string
	if i := strings.IndexAny(s, "./"); i >= 0 && s[i] == '/' {
		levels = strings.Split(s, "/")
	} else {
		levels = strings.Split(s, ".")
		for i, l := range levels {
			levels[i] = strings.ReplaceAll(l, "/", ".")
		}
	}
	if len(levels) < 2 {
		return key{}, fmt.Errorf("%q is not a sysctl key like \"net.ipv4.ip_forward\"", s)
	}
	dotted := make([]string, len(levels))
	for i, l := range levels {
		if !levelRE.MatchString(l) {
			return key{}, fmt.Errorf("%q is not a sysctl key like \"net.ipv4.ip_forward\" (level %q)", s, l)
		}
		dotted[i] = strings.ReplaceAll(l, ".", "/")
	}
	return key{name: strings.Join(dotted, "."), path: "/proc/sys/" + strings.Join(levels, "/")}, nil
}

// normValue is a value as compared: fields separated by one space. The
// kernel prints the fields of multi-value keys with tabs.
func normValue(s string) string { return strings.Join(strings.Fields(s), " ") }

// assignment reads one line of a sysctl.d file: the key it sets and the
// value, or ok false for a comment, a blank line, a glob or anything else.
func assignment(line string) (k key, value string, ok bool) {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' || t[0] == ';' {
		return key{}, "", false
	}
	name, value, ok := strings.Cut(t, "=")
	if !ok {
		return key{}, "", false
	}
	k, err := parseKey(strings.TrimPrefix(strings.TrimSpace(name), "-"))
	if err != nil {
		return key{}, "", false
	}
	return k, normValue(value), true
}

// edit returns the file's lines with the assignments of k replaced by
// line (the first, in place, or appended when there is none; the others
// dropped, as the last one would win), or all removed when line is "".
// When every assignment of k already sets value, lines are returned as
// they are: a hand-written "k=v" is as good as ours.
func edit(lines []string, k key, value, line string) []string {
	var at []int
	right := true
	for i, l := range lines {
		if lk, v, ok := assignment(l); ok && lk.path == k.path {
			at = append(at, i)
			right = right && v == value
		}
	}
	if line != "" && len(at) > 0 && right {
		return lines
	}
	if line == "" && len(at) == 0 {
		return lines
	}
	out := make([]string, 0, len(lines)+1)
	for i, l := range lines {
		switch {
		case len(at) > 0 && i == at[0] && line != "":
			out = append(out, line)
		case slices.Contains(at, i):
		default:
			out = append(out, l)
		}
	}
	if len(at) == 0 {
		out = append(out, line)
	}
	return out
}
