package remotefile

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

// The shell pieces here are shared with the archive type (which downloads
// the same way) and the git type (which hides a sensitive URL the same
// way), so every type that fetches from the network behaves alike.

// Downloaders are the programs a download may use, in order of
// preference; curl's errors are the clearer ones.
var Downloaders = []string{"curl", "wget"}

// ToolsProbe asks which downloaders the host has, and sha256sum (coreutils
// and busybox both ship it) to verify what they fetched.
func ToolsProbe() modules.Probe {
	return facts.WhichProbe(append(slices.Clone(Downloaders), "sha256sum")...)
}

// Tool picks the downloader from ToolsProbe's facts: curl when present,
// else wget (GNU or busybox). A host with neither, or without sha256sum,
// is an ErrMissingOnHost error: a package resource earlier in the run may
// install one.
func Tool(h *modules.Host, f modules.Facts) (string, error) {
	p := ToolsProbe()
	r, err := facts.Get(f, p)
	if err != nil {
		return "", err
	}
	found, err := facts.ParseWhich(r, append(slices.Clone(Downloaders), "sha256sum")...)
	if err != nil {
		return "", err
	}
	if !found["sha256sum"] {
		return "", fmt.Errorf("sha256sum is not installed on the host (package coreutils): it verifies downloads: %w", modules.ErrMissingOnHost)
	}
	for _, t := range Downloaders {
		if found[t] {
			return t, nil
		}
	}
	return "", fmt.Errorf("neither curl nor wget is installed on the host: install one first (package curl%s): %w",
		alpineHint(h), modules.ErrMissingOnHost)
}

func alpineHint(h *modules.Host) string {
	if h.OSFamily == "alpine" {
		return ", or busybox's wget"
	}
	return ""
}

// headerNameRE is an HTTP field name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// ReadHeaders reads a map attribute of HTTP request headers, refusing
// names that are not tokens and values with line breaks (which would
// smuggle another header).
func ReadHeaders(r *attr.Reader, name string) map[string]string {
	hs := r.StringMap(name)
	for k, v := range hs {
		if !headerNameRE.MatchString(k) {
			r.Errorf(name, "%q is not an HTTP header name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			r.Errorf(name, "the value of %q must not contain a line break", k)
		}
	}
	return hs
}

// ReadURL reads an http:// or https:// URL attribute; "" when unset.
func ReadURL(r *attr.Reader, name string, required bool) string {
	var s string
	if required {
		s = r.Required(name)
	} else {
		s, _ = r.String(name)
	}
	if s == "" {
		return ""
	}
	if err := CheckURL(s); err != nil {
		r.Errorf(name, "%s %v", r.Quote(name, s), err)
		return ""
	}
	return s
}

// CheckURL checks s is an absolute http or https URL with a host; the
// error completes a sentence about s.
func CheckURL(s string) error {
	if strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return fmt.Errorf("is not a URL: it contains white space or control characters")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("is not a URL like \"https://example.com/file.tar.gz\"")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("has scheme %s; only http and https are supported", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("has no host")
	}
	return nil
}

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

// Secrets are the strings of a sensitive URL that must not show in an
// error: the URL and, when it has userinfo, that and its password (a
// program may print the URL without them, or them alone).
func Secrets(s string) []string {
	out := []string{s}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		out = append(out, u.User.String())
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Download is the POSIX sh that downloads rawURL with tool into the file
// named by $t (which must exist: curl and wget write into it) and checks
// its SHA-256 is want, failing with "checksum mismatch: got X want Y".
// Both tools follow redirects and fail on an HTTP error status.
func Download(tool, rawURL string, headers map[string]string, want string) string {
	var b strings.Builder
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	switch tool {
	case "curl":
		// --proto keeps a redirect from reaching file:// or another
		// protocol; -sS keeps errors but no progress meter.
		b.WriteString("curl -fsSL --proto =http,https --connect-timeout 30 --retry 2")
		for _, k := range keys {
			b.WriteString(" -H " + transport.ShellQuote(k+": "+headers[k]))
		}
		b.WriteString(` -o "$t" ` + transport.ShellQuote(rawURL))
	default:
		// GNU and busybox wget share -O and --header, not much more
		// (busybox's -T is a build option Debian's lacks). Not -q: it
		// would silence the error too (busybox), and the engine shows
		// the output's last lines only when the command fails.
		b.WriteString("wget")
		for _, k := range keys {
			b.WriteString(" --header " + transport.ShellQuote(k+": "+headers[k]))
		}
		b.WriteString(` -O "$t" ` + transport.ShellQuote(rawURL))
	}
	w := transport.ShellQuote(want)
	b.WriteString(` && h=$(sha256sum < "$t") && h=${h%% *} && if [ "$h" != ` + w +
		` ]; then echo "checksum mismatch: got $h want ` + want + `" >&2; false; fi`)
	return b.String()
}

// TempFile is the sh that makes a temporary file beside path ($t) and
// removes it however the subshell it runs in ends. The subshell must end
// after the file has been moved or used: run the rest inside the same
// ( ... ).
func TempFile(path string) string {
	dir := path[:strings.LastIndexByte(path, '/')+1]
	return "t=$(mktemp " + transport.ShellQuote(dir+".opsrun-download-XXXXXX") + ") || exit 1; " +
		`trap 'rm -f "$t"' EXIT; trap 'exit 1' HUP INT TERM; `
}

// HideSecrets wraps cmd so that, when it fails, its output (which the
// engine quotes in the error) is printed with each of secrets replaced by
// "(sensitive)": curl, wget and git may all print the URL they were given.
// The secrets travel in the environment of awk, which replaces them as
// literal strings (no regular expression), left to right, never
// rescanning its own replacement.
func HideSecrets(cmd string, secrets []string) string {
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
