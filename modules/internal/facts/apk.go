package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// ApkInstalledProbe asks apk for every installed package with its
// version: `apk info -v` prints one "name-version" a line (apk-tools 2 and
// 3, app_info.c: the name, then "-" and the version from verbosity 2). It
// takes no names, so every package resource of a host shares it.
func ApkInstalledProbe() modules.Probe {
	return modules.Probe{ID: "apk-installed", Command: "apk info -v"}
}

// ParseApkInstalled parses ApkInstalledProbe output into installed
// versions by package name.
func ParseApkInstalled(r modules.ProbeResult) (map[string]string, error) {
	if r.ExitStatus != 0 {
		return nil, fmt.Errorf("apk info failed (exit status %d)", r.ExitStatus)
	}
	out := map[string]string{}
	for _, l := range lines(r.Stdout) {
		if l == "" {
			continue
		}
		name, ver, ok := SplitApkNameVersion(l)
		if !ok {
			return nil, fmt.Errorf("apk info printed %s, want name-version", short(l))
		}
		out[name] = ver
	}
	return out, nil
}

// SplitApkNameVersion splits "name-version" as apk-tools'
// apk_pkg_parse_name does: scanning back from the end, the version starts
// after the first "-" followed by a digit, and at most one other "-" (the
// one before "r1") may come after it. "py3-foo-1.2.3-r0" is py3-foo and
// 1.2.3-r0.
func SplitApkNameVersion(s string) (name, version string, ok bool) {
	if strings.ContainsAny(s, " \t") {
		return "", "", false
	}
	dashes := 0
	for i := len(s) - 2; i > 0; i-- {
		if s[i] != '-' {
			continue
		}
		if s[i+1] >= '0' && s[i+1] <= '9' {
			return s[:i], s[i+1:], true
		}
		if dashes++; dashes >= 2 {
			return "", "", false
		}
	}
	return "", "", false
}

// ApkVersionProbe asks apk which of names have a newer version in the
// repository indexes as they are (apk reads its cached indexes and does
// not download). `-l '<'` keeps only packages older than the repository's;
// names not installed print nothing. Each line is the installed
// "name-version", padding, "<", the newer version and the repository tag
// (empty for the default). apk-tools 2 pads the first column with
// printf("%-40s%s ...") into a 41-byte buffer, so a longer name-version is
// cut to 40 bytes and runs into the "<"; apk-tools 3 widens the column.
// Both print an "Installed: Available:" header first.
func ApkVersionProbe(names []string) modules.Probe {
	return modules.Probe{
		ID:      "apk-version:" + strings.Join(names, " "),
		Command: "apk version -l '<' " + transport.ShellJoin(names...),
	}
}

// ApkUpgrade is a line of ApkVersionProbe output.
type ApkUpgrade struct {
	// Installed is the installed "name-version", cut to its first 40
	// bytes by apk-tools 2 when longer.
	Installed string
	Latest    string // the newer version
}

// Is reports whether u is about the installed package name at version:
// its Installed is that name-version, or its first 40 bytes.
func (u ApkUpgrade) Is(name, version string) bool {
	nv := name + "-" + version
	return u.Installed == nv || len(nv) > apk2Column && u.Installed == nv[:apk2Column]
}

// apk2Column is the width apk-tools 2 cuts the installed name-version to.
const apk2Column = 40

// ParseApkVersion parses ApkVersionProbe output.
func ParseApkVersion(r modules.ProbeResult) ([]ApkUpgrade, error) {
	if r.ExitStatus != 0 {
		return nil, fmt.Errorf("apk version failed (exit status %d)", r.ExitStatus)
	}
	var out []ApkUpgrade
	for _, l := range lines(r.Stdout) {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Installed:") {
			continue
		}
		left, right, ok := strings.Cut(l, "<")
		f := strings.Fields(right)
		left = strings.TrimSpace(left)
		if !ok || left == "" || strings.ContainsAny(left, " \t") || len(f) < 1 || len(f) > 2 || strings.Contains(f[0], "<") {
			return nil, fmt.Errorf("apk version printed %s, want name-version, \"<\" and the newer version", short(l))
		}
		out = append(out, ApkUpgrade{Installed: left, Latest: f[0]})
	}
	return out, nil
}
