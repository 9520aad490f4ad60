// Package secret keeps sensitive strings out of what the resource types
// show: summaries, and the output of a failed command, which the engine
// quotes in its error. It is shared by the types whose commands embed a
// secret the host's programs may print back (remote_file, archive and git
// put a URL holding a token on curl's, wget's or git's command line), so
// each hides it the same way.
package secret

import (
	"net/url"
	"slices"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
)

// ShowURL is a URL for a summary: the password part of any userinfo
// replaced, or nothing of it when the URL is sensitive.
func ShowURL(s string, sensitive bool) string {
	if sensitive {
		return "(sensitive URL)"
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// URL is what of a sensitive URL must not show in an error: the URL and,
// when it has userinfo, that and its password (a program may print the
// URL without them, or them alone).
func URL(s string) []string {
	out := []string{s}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		out = append(out, u.User.String())
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// HideOutput wraps cmd so that, when it fails, its output (which the
// engine quotes in the error) is printed with each of secrets replaced by
// "(sensitive)": curl, wget and git may all print the URL they were given.
// The secrets travel in the environment of awk, which replaces them as
// literal strings (no regular expression), left to right, never
// rescanning its own replacement.
func HideOutput(cmd string, secrets []string) string {
	var keep []string
	for _, s := range secrets {
		if s != "" && !strings.Contains(s, "\n") && !slices.Contains(keep, s) {
			keep = append(keep, s)
		}
	}
	if len(keep) == 0 {
		return cmd
	}
	// Longest first, so a URL goes whole before the token inside it; the
	// order is fixed so the same plan gives the same command.
	slices.SortFunc(keep, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	const prog = `{ n = split(ENVIRON["OPSRUN_HIDE"], s, "\n"); ` +
		`for (i = 1; i <= n; i++) { o = ""; r = $0; ` +
		`while (s[i] != "" && (j = index(r, s[i])) > 0) { o = o substr(r, 1, j - 1) "(sensitive)"; r = substr(r, j + length(s[i])) } ` +
		`$0 = o r } print }`
	return "( o=$(mktemp) || exit 1; ( " + cmd + ` ) >"$o" 2>&1; s=$?; if [ "$s" -ne 0 ]; then OPSRUN_HIDE=` +
		transport.ShellQuote(strings.Join(keep, "\n")) + " awk " + transport.ShellQuote(prog) + ` "$o" >&2; fi; rm -f "$o"; exit "$s" )`
}
