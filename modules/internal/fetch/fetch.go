// Package fetch is what the resource types that fetch from the network
// onto the host share (remote_file and archive download over http(s); git
// clones): reading and checking their attributes, and the POSIX sh that
// downloads a file and verifies its checksum. One implementation keeps the
// validation, the tools a download needs, their flags and the wording of
// errors the same for every such type.
package fetch

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/secret"
)

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

// ReadSHA256 reads a SHA-256 attribute, 64 hex digits, lowercased; ""
// when unset. What it returns is safe in a shell word unquoted, which
// Verify relies on.
func ReadSHA256(r *attr.Reader, name string, required bool) string {
	var s string
	if required {
		s = r.Required(name)
	} else {
		s, _ = r.String(name)
	}
	if s == "" {
		return ""
	}
	if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
		r.Errorf(name, "%q is not a SHA-256 checksum (64 hex digits, as sha256sum prints)", s)
		return ""
	}
	return strings.ToLower(s)
}

// Secrets are the strings a failing download must not print: those of
// the URL when it is sensitive, and the header values when they are.
func Secrets(rawURL string, hideURL bool, headers map[string]string, hideHeaders bool) []string {
	var s []string
	if hideURL {
		s = secret.URL(rawURL)
	}
	if hideHeaders {
		for _, v := range headers {
			s = append(s, v)
		}
	}
	return s
}

// tools are the programs a download may use, in order of preference
// (curl's errors are the clearer ones), then sha256sum (coreutils and
// busybox both ship it) to verify what they fetched.
func tools() []string { return []string{"curl", "wget", "sha256sum"} }

// ToolsProbe asks which downloaders the host has, and sha256sum.
func ToolsProbe() modules.Probe { return facts.WhichProbe(tools()...) }

// Tool picks the downloader from ToolsProbe's facts: curl when present,
// else wget (GNU or busybox). A host with neither, or without sha256sum,
// is an ErrMissingOnHost error: a package resource earlier in the run may
// install one.
func Tool(h *modules.Host, f modules.Facts) (string, error) {
	r, err := facts.Get(f, ToolsProbe())
	if err != nil {
		return "", err
	}
	found, err := facts.ParseWhich(r, tools()...)
	if err != nil {
		return "", err
	}
	if !found["sha256sum"] {
		return "", fmt.Errorf("sha256sum is not installed on the host (package coreutils): it verifies downloads: %w", modules.ErrMissingOnHost)
	}
	for _, t := range []string{"curl", "wget"} {
		if found[t] {
			return t, nil
		}
	}
	hint := ""
	if h.OSFamily == "alpine" {
		hint = ", or busybox's wget"
	}
	return "", fmt.Errorf("neither curl nor wget is installed on the host: install one first (package curl%s): %w",
		hint, modules.ErrMissingOnHost)
}

// TempFile is the sh that makes a temporary file in dir ($t) and removes
// it however the subshell it runs in ends. The subshell must end after
// the file has been moved or used: run the rest inside the same ( ... ).
func TempFile(dir string) string {
	return "t=$(mktemp " + transport.ShellQuote(path.Join(dir, ".opsrun-download-XXXXXX")) + ") || exit 1; " +
		`trap 'rm -f "$t"' EXIT; trap 'exit 1' HUP INT TERM; `
}

// Download is the POSIX sh that downloads rawURL with tool into the file
// named by $t (which must exist: curl and wget write into it) and checks
// its SHA-256 is want (as ReadSHA256 returns it), failing with "checksum
// mismatch: got X want Y". Both tools follow redirects and fail on an
// HTTP error status.
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
	b.WriteString(" && " + Verify(`"$t"`, want))
	return b.String()
}

// Verify is the POSIX sh that checks the SHA-256 of file (a shell word,
// already quoted) is want (64 hex digits, as ReadSHA256 and
// facts.ParseSum return it), failing with "checksum mismatch: got X want
// Y" on stderr. It runs on the host right before the file is used: a
// download is checked before it is moved into place, and a file already
// on the host may have changed since it was probed.
func Verify(file, want string) string {
	return `h=$(sha256sum < ` + file + `) && h=${h%% *} && if [ "$h" != ` + transport.ShellQuote(want) +
		` ]; then echo "checksum mismatch: got $h want ` + want + `" >&2; false; fi`
}
