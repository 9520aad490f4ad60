// Package remotefile is the `remote_file` resource type: a file
// downloaded over HTTP(S) by the host itself, pinned by its SHA-256.
package remotefile

import (
	"fmt"
	"path"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/fetch"
	"github.com/opsrun/opsrun/modules/internal/fsmeta"
	"github.com/opsrun/opsrun/modules/internal/secret"
)

// Type is the `remote_file` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "remote_file",
		Doc: "A file the host downloads over http or https, pinned by its SHA-256: it is downloaded only " +
			"when the file there has another checksum (or is missing), with curl or else wget (busybox's " +
			"will do), into a temporary file beside the target. The checksum is verified on the host before " +
			"the file is moved into place atomically; on a mismatch nothing is replaced and the run fails. " +
			"The directory must exist.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "url", Type: cty.String, Required: true,
			Doc: "The http:// or https:// URL to download; redirects are followed. Take a URL holding a token " +
				"from a sensitive variable: it is then never shown.",
			Example: `"https://example.com/releases/tool-1.4.2-linux-amd64"`},
		{Name: "path", Type: cty.String, Required: true,
			Doc:     "Absolute path of the file on the host.",
			Example: `"/usr/local/bin/tool"`},
		{Name: "sha256", Type: cty.String, Required: true,
			Doc: "The file's SHA-256, 64 hex digits (what sha256sum prints). Mandatory: it makes the " +
				"download verifiable and the resource idempotent without contacting the server on every run. " +
				"To update the file, change url and sha256 together.",
			Example: `"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`},
		{Name: "mode", Type: cty.String, Default: cty.StringVal("0644"),
			Doc:     "Permission bits as an octal string (\"0755\" for a program). Always enforced.",
			Example: `"0755"`},
		{Name: "owner", Type: cty.String,
			Doc:     "User name or numeric uid that owns the file. Null keeps the owner of a file being replaced (root for a new file).",
			Example: `"app"`},
		{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid of the file. Null keeps the group of a file being replaced (root's for a new file).",
			Example: `"app"`},
		{Name: "headers", Type: cty.Map(cty.String),
			Doc: "HTTP request headers, e.g. for an authorization token (take it from a sensitive variable: " +
				"the download is then not shown).",
			Example: `{ Authorization = "Bearer ${var.token}" }`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the file exists with the checksum and metadata declared. absent: the file (or " +
				"a symbolic link there) is removed; nothing is downloaded.",
			Example: `"absent"`},
	}
}

// resource is a downloaded file configured for one host.
type resource struct {
	url     string
	path    string
	sha     string
	meta    fsmeta.Want
	headers map[string]string
	state   string
	hideURL bool  // the URL is sensitive
	hideHdr bool  // the headers are sensitive
	hidden  bool  // either: the download command is not shown
	unknown error // attributes not known yet (validate): Plan refuses them
}

// New validates c and builds a remote_file resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		url:     readURL(r, "url"),
		path:    r.AbsPath("path", true),
		sha:     fetch.ReadSHA256(r, "sha256", true),
		headers: fetch.ReadHeaders(r, "headers"),
		state:   r.OneOf("state", "present", "absent"),
		hideURL: c.Sensitive["url"],
		hideHdr: c.Sensitive["headers"],
	}
	res.hidden = res.hideURL || res.hideHdr
	res.meta.Mode, _ = r.Mode("mode")
	res.meta.Owner = r.Account("owner")
	res.meta.Group = r.Account("group")
	if res.path == "/" {
		r.Errorf("path", "\"/\" is a directory, not a file")
	}
	res.unknown = attr.Unknown(c)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// readURL reads a required http:// or https:// URL attribute; "" when
// unset or invalid.
func readURL(r *attr.Reader, name string) string {
	s := r.Required(name)
	if s == "" {
		return ""
	}
	if err := fetch.CheckURL(s); err != nil {
		r.Errorf(name, "%s %v", r.Quote(name, s), err)
		return ""
	}
	return s
}

// Probes asks for the file's stat and checksum, its directory's stat and
// the tools a download needs; for absent, the stat only.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	if res.state == "absent" {
		return []modules.Probe{facts.StatProbe(res.path)}
	}
	return []modules.Probe{facts.StatProbe(res.path), facts.SumProbe(res.path, ""), facts.StatProbe(path.Dir(res.path)), fetch.ToolsProbe()}
}

// Plan downloads when the checksum differs, else fixes metadata.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.unknown != nil {
		return nil, res.unknown
	}
	st, err := facts.GetStat(f, res.path)
	if err != nil {
		return nil, err
	}
	if st.Exists && st.Type == facts.Directory {
		return nil, fmt.Errorf("%s is a directory; a remote_file cannot replace or remove it", res.path)
	}
	if res.state == "absent" {
		return fsmeta.RemoveFile(res.path, st), nil
	}
	if st.Exists && st.Type != facts.Regular && st.Type != facts.Symlink {
		return nil, fmt.Errorf("%s is a %s, not a regular file; remove it first", res.path, st.Type)
	}
	var summary string
	switch {
	case !st.Exists:
		summary = fmt.Sprintf("download %s to %s (sha256 %s)", res.showURL(), res.path, res.sha[:12])
	case st.Type == facts.Symlink:
		summary = fmt.Sprintf("replace symbolic link %s with a download of %s (sha256 %s)", res.path, res.showURL(), res.sha[:12])
	default:
		r, err := facts.Get(f, facts.SumProbe(res.path, ""))
		if err != nil {
			return nil, err
		}
		sum, err := facts.ParseSum(r)
		if err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", res.path, err)
		}
		if !sum.Present {
			return nil, fmt.Errorf("could not read %s to compare its checksum", res.path)
		}
		if sum.SHA256 == res.sha {
			return fsmeta.Change(res.path, st, res.meta, false), nil
		}
		summary = fmt.Sprintf("update %s from %s (sha256 %s → %s)", res.path, res.showURL(), sum.SHA256[:12], res.sha[:12])
	}
	dir := path.Dir(res.path)
	dst, err := facts.GetStat(f, dir)
	if err != nil {
		return nil, err
	}
	if !dst.Exists {
		return nil, fmt.Errorf("directory %s does not exist: create it first (a directory resource): %w", dir, modules.ErrMissingOnHost)
	}
	if dst.Type != facts.Directory {
		return nil, fmt.Errorf("%s is a %s, not a directory", dir, dst.Type)
	}
	tool, err := fetch.Tool(h, f)
	if err != nil {
		return nil, err
	}
	meta := res.meta.Replacing(st)
	var b strings.Builder
	b.WriteString("( " + fetch.TempFile(dir) + fetch.Download(tool, res.url, res.headers, res.sha))
	if c := fsmeta.ChownWord(`"$t"`, meta.Owner, meta.Group); c != "" {
		b.WriteString(" && " + c)
	}
	b.WriteString(" && chmod " + attr.FormatMode(meta.Mode) + ` "$t" && mv -f "$t" ` + transport.ShellQuote(res.path) + " )")
	cmd := b.String()
	if res.hidden {
		cmd = secret.HideOutput(cmd, fetch.Secrets(res.url, res.hideURL, res.headers, res.hideHdr))
	}
	return []modules.Action{{Summary: summary, Command: cmd, Sensitive: res.hidden}}, nil
}

func (res *resource) showURL() string { return secret.ShowURL(res.url, res.hideURL) }
