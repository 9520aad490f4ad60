package facts

import "strings"

// parseOSRelease reads os-release(5): KEY=value lines in shell syntax,
// values optionally in double or single quotes. It does not run a shell:
// the file is data, and only the quoting forms the format allows are
// undone.
func parseOSRelease(lines []string) map[string]string {
	m := map[string]string{}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		m[k] = clean(unquote(v))
	}
	return m
}

// unquote undoes os-release's shell quoting: "..." with backslash escapes
// of `"`, `\`, `$` and backquote, or '...' taken literally. A value may
// mix quoted and bare parts (a="x"'y'z), as in sh.
func unquote(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			for i++; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
					i++
				}
				b.WriteByte(v[i])
			}
		case '\'':
			for i++; i < len(v) && v[i] != '\''; i++ {
				b.WriteByte(v[i])
			}
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case ' ', '\t':
			// An unquoted blank ends the value in sh (the rest would be a
			// command); a trailing comment is the usual case.
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// familyOf maps an os-release ID, then each ID_LIKE word in order, to the
// family whose package names and paths a recipe can rely on. ID_LIKE is
// what lets derivatives nobody listed (Linux Mint: "ubuntu debian";
// CloudLinux: "rhel fedora centos") land in the right family.
func familyOf(id, idLike string) string {
	for _, word := range append([]string{id}, strings.Fields(idLike)...) {
		if f := familyOfID(strings.ToLower(word)); f != "" {
			return f
		}
	}
	return "unknown"
}

func familyOfID(id string) string {
	switch id {
	case "debian", "ubuntu", "raspbian", "linuxmint", "devuan", "kali", "pop":
		return "debian"
	case "rhel", "centos", "rocky", "almalinux", "fedora", "amzn", "ol":
		return "rhel"
	case "alpine":
		return "alpine"
	case "suse", "sles", "sled", "sles_sap", "opensuse":
		return "suse"
	case "arch", "archarm", "manjaro":
		return "arch"
	}
	if strings.HasPrefix(id, "opensuse-") { // opensuse-leap, opensuse-tumbleweed, opensuse-microos
		return "suse"
	}
	return ""
}
