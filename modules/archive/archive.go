// Package archive is the `archive` resource type: a tar or zip archive,
// downloaded or already on the host, extracted into a directory once per
// checksum.
package archive

import (
	"fmt"
	"net/url"
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

// Type is the `archive` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "archive",
		Doc: "A tar (gzip, bzip2, xz or plain) or zip archive extracted into a directory: downloaded over " +
			"http(s) by the host (verified against its SHA-256 before anything is extracted) or taken from a " +
			"path on the host. After extracting, the archive's checksum is recorded in a marker file in dest " +
			"(.opsrun-archive-NAME.sha256, NAME being the resource's name), so it is extracted again only when " +
			"the checksum or strip_components changes; with creates, that path's existence alone decides. " +
			"Files are extracted over what is in dest; " +
			"files the archive no longer has are not removed.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "source", Type: cty.String, Required: true,
			Doc: "An http:// or https:// URL the host downloads the archive from, or the absolute path of an " +
				"archive already on the host (put there by a remote_file or file resource, say).",
			Example: `"https://nodejs.org/dist/v20.11.1/node-v20.11.1-linux-x64.tar.xz"`},
		{Name: "sha256", Type: cty.String,
			Doc: "The archive's SHA-256, 64 hex digits. Mandatory for a URL. For a path it is optional: the " +
				"file's checksum is computed on the host each run and, when sha256 is set, must match.",
			Example: `"f3a9c2b1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"`},
		{Name: "dest", Type: cty.String, Required: true,
			Doc:     "Absolute path of the directory to extract into; created (with its parents) when missing.",
			Example: `"/opt/node"`},
		{Name: "format", Type: cty.String,
			Doc: "tar.gz (or tgz), tar.bz2, tar.xz, tar or zip. Null tells it from the end of source's file name " +
				"(.tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .tar, .zip).",
			Example: `"tar.gz"`},
		{Name: "strip_components", Type: cty.Number, Default: cty.Zero,
			Doc: "Remove this many leading directories from the names in a tar archive (tar " +
				"--strip-components), so \"app-1.2/bin/app\" lands as \"bin/app\" with 1. Not for zip.",
			Example: `1`},
		{Name: "creates", Type: cty.String,
			Doc: "Absolute path that exists once the archive is extracted. It alone then decides: while " +
				"anything exists there nothing is done, whatever the checksum, and while nothing does the " +
				"archive is extracted on every run.",
			Example: `"/opt/node/bin/node"`},
		{Name: "owner", Type: cty.String,
			Doc: "User name or numeric uid given to dest and everything in it (chown -R) after extracting. " +
				"Null leaves files owned by root (archive owners are never restored).",
			Example: `"app"`},
		{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid given to dest and everything in it after extracting.",
			Example: `"app"`},
		{Name: "headers", Type: cty.Map(cty.String),
			Doc:     "HTTP request headers for a URL source (take tokens from a sensitive variable).",
			Example: `{ Authorization = "Bearer ${var.token}" }`},
	}
}

// Formats are the archive formats, by the name format takes.
var formats = []string{"tar.gz", "tgz", "tar.bz2", "tar.xz", "tar", "zip"}

// suffixes tells a format from a file name, longest first.
var suffixes = []struct{ suffix, format string }{
	{".tar.gz", "tar.gz"}, {".tgz", "tar.gz"}, {".tar.bz2", "tar.bz2"}, {".tbz2", "tar.bz2"}, {".tbz", "tar.bz2"},
	{".tar.xz", "tar.xz"}, {".txz", "tar.xz"}, {".tar", "tar"}, {".zip", "zip"},
}

// resource is an archive configured for one host.
type resource struct {
	source  string
	isURL   bool
	sha     string // declared; "" for a path without one
	dest    string
	format  string // tar.gz, tar.bz2, tar.xz, tar or zip
	strip   int
	creates string
	owner   string
	group   string
	headers map[string]string
	name    string // the marker's name
	hideSrc bool
	hideHdr bool
	unknown error // attributes not known yet (validate): Plan refuses them
}

// New validates c and builds an archive resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		sha:     fetch.ReadSHA256(r, "sha256", false),
		dest:    r.AbsPath("dest", true),
		creates: r.AbsPath("creates", false),
		owner:   r.Account("owner"),
		group:   r.Account("group"),
		headers: fetch.ReadHeaders(r, "headers"),
		name:    markerName(c.Name),
		hideSrc: c.Sensitive["source"],
		hideHdr: c.Sensitive["headers"],
		unknown: attr.Unknown(c),
	}
	src := r.Required("source")
	switch {
	case src == "":
	case strings.HasPrefix(src, "/"):
		res.source = path.Clean(src)
	case strings.Contains(src, "://"):
		if err := fetch.CheckURL(src); err != nil {
			r.Errorf("source", "%s %v", r.Quote("source", src), err)
			break
		}
		res.source, res.isURL = src, true
		if r.Value("sha256").IsNull() {
			r.Errorf("sha256", "is required when source is a URL: it verifies the download")
		}
	default:
		r.Errorf("source", "%s is neither an http(s) URL nor an absolute path", r.Quote("source", src))
	}
	if len(res.headers) > 0 && !res.isURL && res.source != "" {
		r.Errorf("headers", "apply to a URL source only")
	}
	if f, set := r.String("format"); set {
		res.format = r.OneOf("format", formats...)
		if f == "tgz" {
			res.format = "tar.gz"
		}
	} else if res.source != "" {
		res.format = formatOf(res.source)
		if res.format == "" {
			r.Errorf("format", "cannot tell the format from the name of %s; set format to one of %s",
				r.Quote("source", src), strings.Join(formats, ", "))
		}
	}
	res.strip = r.Int("strip_components", 0, 1000)
	if res.strip > 0 && res.format == "zip" {
		r.Errorf("strip_components", "is not supported for zip archives (unzip cannot strip leading directories)")
	}
	if (res.owner != "" || res.group != "") && protected(res.dest) {
		r.Errorf("dest", "refusing to give %s and everything in it an owner or group (chown -R): extract into a directory of its own", res.dest)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// formatOf tells the format from the end of a path or a URL's path.
func formatOf(source string) string {
	p := source
	if u, err := url.Parse(source); err == nil && u.Scheme != "" {
		p = u.Path
	}
	p = strings.ToLower(p)
	for _, s := range suffixes {
		if strings.HasSuffix(p, s.suffix) {
			return s.format
		}
	}
	return ""
}

// protected reports whether chown -R of p would take over a directory
// that is not the archive's own: /, a top-level directory, a directory
// right below /usr, /var or /etc, or one of /usr/local's standard ones.
func protected(p string) bool {
	switch path.Dir(p) {
	case "/", "/usr", "/var", "/etc":
		return true
	case "/usr/local":
		switch path.Base(p) {
		case "bin", "sbin", "lib", "lib64", "include", "share", "etc", "man", "src", "games", "libexec":
			return true
		}
	}
	return p == "/"
}

// markerName keeps a resource's name usable as a file name.
func markerName(name string) string {
	if name == "" {
		name = "archive"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
}

func (res *resource) marker() string { return res.dest + "/.opsrun-archive-" + res.name + ".sha256" }

// tools are the programs extracting needs: GNU tar runs gzip, bzip2 or xz
// for the compressed formats (busybox's tar has them built in, and busybox
// provides them as commands too).
func (res *resource) tools() []string {
	switch res.format {
	case "tar.gz":
		return []string{"tar", "gzip"}
	case "tar.bz2":
		return []string{"tar", "bzip2"}
	case "tar.xz":
		return []string{"tar", "xz"}
	case "zip":
		return []string{"unzip"}
	}
	return []string{"tar"}
}

// Probes asks for creates, dest, the marker, the source's checksum (a
// path) and the tools.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	var ps []modules.Probe
	if res.creates != "" {
		ps = append(ps, facts.StatProbe(res.creates))
	}
	ps = append(ps, facts.StatProbe(res.dest), facts.MarkerProbe(res.marker()))
	if res.isURL {
		ps = append(ps, fetch.ToolsProbe())
	} else {
		ps = append(ps, facts.SumProbe(res.source, ""))
	}
	return append(ps, facts.WhichProbe(res.tools()...))
}

// Plan extracts unless creates exists or the marker records the same
// checksum.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.unknown != nil {
		return nil, res.unknown
	}
	if res.creates != "" {
		st, err := facts.GetStat(f, res.creates)
		if err != nil {
			return nil, err
		}
		if st.Exists {
			return nil, nil
		}
	}
	dst, err := facts.GetStat(f, res.dest)
	if err != nil {
		return nil, err
	}
	if dst.Exists && dst.Type != facts.Directory {
		return nil, fmt.Errorf("dest %s is a %s, not a directory", res.dest, dst.Type)
	}
	sha := res.sha
	if !res.isURL {
		r, err := facts.Get(f, facts.SumProbe(res.source, ""))
		if err != nil {
			return nil, err
		}
		sum, err := facts.ParseSum(r)
		if err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", res.showSource(), err)
		}
		if !sum.Present {
			return nil, fmt.Errorf("source %s is not a regular file on the host: %w", res.showSource(), modules.ErrMissingOnHost)
		}
		if sha != "" && sum.SHA256 != sha {
			return nil, fmt.Errorf("checksum mismatch: %s has sha256 %s, want %s", res.showSource(), sum.SHA256, sha)
		}
		sha = sum.SHA256
	}
	want := sha + "\n"
	if res.strip > 0 {
		want += fmt.Sprintf("strip_components=%d\n", res.strip)
	}
	var was string
	// With creates, its existence alone decides: the marker is written
	// but not consulted.
	if dst.Exists && res.creates == "" {
		r, err := facts.Get(f, facts.MarkerProbe(res.marker()))
		if err != nil {
			return nil, err
		}
		m, err := facts.ParseMarker(r)
		if err != nil {
			return nil, err
		}
		if m.Content == want {
			return nil, nil
		}
		if old, _, _ := strings.Cut(m.Content, "\n"); len(old) == 64 && facts.IsObjectID(old) && old != sha {
			was = old[:12] + " → "
		}
	}
	r, err := facts.Get(f, facts.WhichProbe(res.tools()...))
	if err != nil {
		return nil, err
	}
	found, err := facts.ParseWhich(r, res.tools()...)
	if err != nil {
		return nil, err
	}
	for _, t := range res.tools() {
		if !found[t] {
			return nil, fmt.Errorf("%s is not installed on the host: it extracts %s archives: install it first (package %s): %w",
				t, res.format, pkg(h, t), modules.ErrMissingOnHost)
		}
	}
	var b strings.Builder
	b.WriteString("( ")
	src := transport.ShellQuote(res.source)
	summary := fmt.Sprintf("extract %s into %s (sha256 %s%s)", res.showSource(), res.dest, was, sha[:12])
	if res.isURL {
		tool, err := fetch.Tool(h, f)
		if err != nil {
			return nil, err
		}
		summary = "download and " + summary
		// The download goes to /var/tmp (on disk, unlike a tmpfs /tmp,
		// as archives can be large) and is removed however this ends;
		// dest is made only once it is verified.
		b.WriteString("{ " + fetch.TempFile("/var/tmp") + "} && " + fetch.Download(tool, res.source, res.headers, sha) + " && ")
		src = `"$t"`
	} else {
		// The file may have changed since the probe: extract only what
		// the plan says.
		b.WriteString(fetch.Verify(src, sha) + " && ")
	}
	b.WriteString("mkdir -p " + transport.ShellQuote(res.dest) + " && ")
	b.WriteString(res.extract(src))
	if c := fsmeta.ChownR(res.dest, res.owner, res.group); c != "" {
		b.WriteString(" && " + c)
	}
	// The marker goes last: an extraction that failed half-way is done
	// again on the next run.
	b.WriteString(" && printf '%s\\n' " + sha)
	if res.strip > 0 {
		b.WriteString(fmt.Sprintf(" strip_components=%d", res.strip))
	}
	b.WriteString(" > " + transport.ShellQuote(res.marker()) + " )")
	cmd := b.String()
	hidden := res.hideSrc || res.hideHdr
	if hidden {
		cmd = secret.HideOutput(cmd, fetch.Secrets(res.source, res.hideSrc, res.headers, res.hideHdr))
	}
	return []modules.Action{{Summary: summary, Command: cmd, Sensitive: hidden}}, nil
}

// extract is the command extracting the archive at src (shell word) into
// dest. Owners in a tar archive are never restored (-o: GNU tar's and
// busybox's --no-same-owner when extracting); unzip does not restore them
// without -X.
func (res *resource) extract(src string) string {
	d := transport.ShellQuote(res.dest)
	if res.format == "zip" {
		return "unzip -q -o " + src + " -d " + d
	}
	flags := "-xo"
	switch res.format {
	case "tar.gz":
		flags += "z"
	case "tar.bz2":
		flags += "j"
	case "tar.xz":
		flags += "J"
	}
	cmd := "tar "
	if res.strip > 0 {
		cmd += fmt.Sprintf("--strip-components=%d ", res.strip)
	}
	return cmd + flags + "f " + src + " -C " + d
}

// pkg names the package that ships tool on h's family.
func pkg(h *modules.Host, tool string) string {
	if tool == "xz" && h.OSFamily == "debian" {
		return "xz-utils"
	}
	return tool
}

func (res *resource) showSource() string {
	if res.hideSrc {
		return "(sensitive source)"
	}
	return secret.ShowURL(res.source, false)
}
