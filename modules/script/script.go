// Package script is the `script` resource type: a script from the stack
// (a file beside it, or inline) uploaded to the host, run with an
// interpreter and removed, every time or only when guards or a
// notification say so.
package script

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/guard"
)

// Dir is where scripts are uploaded: root's, not writable by anyone
// else (no other user can plant or swap the file between the upload and
// the run), present on every init system, and a tmpfs, so a script left
// by a run cut short is gone at the next boot. Scripts are run through
// their interpreter, so a noexec mount does not matter.
const Dir = "/run"

// maxInHand is the largest source read into memory at configuration;
// larger ones are streamed from the controller when they run.
const maxInHand = 1 << 20

// Type is the `script` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Notifiable: true,
		Name:       "script",
		Doc: "A script run on the host: a file beside the stack (source) or inline (content), uploaded to a " +
			"private file under /run (mode 0700, owned by root or by user), run by interpreter with args, " +
			"and removed in the same action whatever its exit status. Like command, a script cannot know " +
			"whether the host is already right, so it runs (and reports a change) on every run unless " +
			"guarded: creates skips it when a path exists, unless when a check exits 0, onlyif when a " +
			"check fails. With run = \"on_notify\" it is a handler and runs only when another resource's " +
			"change notifies it. Needs become (the default): /run is root's.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	as := []modules.Attr{
		{Name: "source", Type: cty.String,
			Doc: "Path of the script on the controller; relative paths are resolved against the stack " +
				"directory. Read when the stack is loaded, so a missing file fails before any host is " +
				"touched. Mutually exclusive with content.",
			Example: `"scripts/bootstrap.sh"`},
		{Name: "content", Type: cty.String,
			Doc:     "The script's text, inline (a heredoc, or templatefile()). Mutually exclusive with source.",
			Example: `"set -eu\n./configure --prefix=/usr/local\nmake install\n"`},
		{Name: "interpreter", Type: cty.String, Default: cty.StringVal("/bin/sh"),
			Doc: "The program that runs the script, with options, separated by spaces (no shell quoting): " +
				"the script's path and args follow. A shebang line in the script is not used.",
			Example: `"/usr/bin/env python3"`},
		{Name: "args", Type: cty.List(cty.String),
			Doc:     "Arguments passed to the script ($1, $2...), each quoted as it is.",
			Example: `["--env", "production"]`},
	}
	as = append(as, guard.Attrs("script", true)...)
	return append(as, guard.RunAttr())
}

// resource is a script configured for one host.
type resource struct {
	name        string
	label       string   // the script for a summary: its source, or "an inline script (N lines)"
	content     []byte   // the script, when in hand
	source      string   // absolute local path, when streamed
	sum         string   // hex SHA-256 of the script, naming its file on the host
	interpreter []string // program and options
	args        []string
	guard.Guards
	unknown bool // the script or its arguments are not known yet
	shown   bool // summary may show the source and args (none is sensitive)
	hidden  bool // some value in the command or upload is sensitive
}

// New validates c and builds a script resource. A source file is read (or
// hashed, when large) here, so a missing one fails before any host is
// touched.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		name:   c.Name,
		args:   r.Strings("args"),
		Guards: guard.Read(r),
	}
	interp, _ := r.String("interpreter")
	res.interpreter = strings.Fields(interp)
	if len(res.interpreter) == 0 && r.Value("interpreter").IsWhollyKnown() {
		r.Errorf("interpreter", "must name a program, such as \"/bin/sh\"")
	}
	for _, n := range []string{"source", "content", "interpreter", "args"} {
		res.unknown = res.unknown || !r.Value(n).IsWhollyKnown()
	}
	content, hasContent := r.String("content")
	source, hasSource := r.String("source")
	switch {
	case hasContent && hasSource:
		r.Errorf("source", "cannot be set together with content: the script comes from one or the other")
	case hasContent && strings.TrimSpace(content) == "":
		r.Errorf("content", "is empty: there is no script to run")
	case hasContent:
		res.content = []byte(content)
		res.label = "an inline script (" + plural(strings.Count(strings.TrimRight(content, "\n"), "\n")+1, "line") + ")"
	case hasSource:
		res.label = "script " + source
		// A small script is taken in hand, so exactly those bytes are
		// uploaded; a large one is streamed.
		src, err := file.ReadSource(c.Dir, source, maxInHand, c.Sensitive["source"])
		if err != nil {
			r.Errorf("source", "%v", err)
		}
		res.content, res.sum = src.Content, src.SHA256
		if src.SHA256 != "" {
			res.source = src.Path
		}
	case !res.unknown:
		r.Errorf("content", "or source is required: the script to run")
	}
	if res.sum == "" {
		s := sha256.Sum256(res.content)
		res.sum = hex.EncodeToString(s[:])
	}
	res.shown = !res.Hidden && !c.Sensitive["source"] && !c.Sensitive["args"] && !c.Sensitive["interpreter"]
	res.hidden = !res.shown || c.Sensitive["content"]
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Probes asks for the guards' facts.
func (res *resource) Probes(*modules.Host) []modules.Probe { return res.Guards.Probes() }

// Plan runs the script unless a guard skips it or it is a handler.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.OnNotify {
		return nil, nil
	}
	return res.Notified(h, f)
}

// Notified runs the script unless a guard skips it: a handler with
// creates stays a one-time script.
func (res *resource) Notified(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.unknown {
		return nil, fmt.Errorf("the script or its arguments depend on values that are not known yet")
	}
	if skip, err := res.Skip(f); err != nil || skip {
		return nil, err
	}
	path := res.hostPath(h)
	up := &modules.Upload{Path: path, Mode: 0o700, Owner: "root", Content: res.content, Source: res.source}
	if res.User != "" {
		// The interpreter runs as user and must read the file.
		up.Owner = res.User
	}
	if up.Source != "" {
		up.Content = nil
	} else if up.Content == nil {
		up.Content = []byte{}
	}
	argv := append(append(append([]string{}, res.interpreter...), path), res.args...)
	q := transport.ShellQuote(path)
	return []modules.Action{{
		Summary: res.summary(),
		// The file goes whatever the script's status; the status is the
		// action's.
		Command:   res.Wrap(transport.ShellJoin(argv...)) + " </dev/null; s=$?; rm -f " + q + "; exit $s",
		Upload:    up,
		Sensitive: res.hidden,
		Output:    true,
	}}, nil
}

// hostPath names the script's file on the host after the run, the
// resource and the script, so concurrent runs and resources never share
// one, and a plan names the same file twice.
func (res *resource) hostPath(h *modules.Host) string {
	s := sha256.Sum256([]byte(h.RunID + "\x00" + res.name + "\x00" + res.sum))
	return Dir + "/opsrun-script-" + hex.EncodeToString(s[:8])
}

// summary is "run script files/setup.sh --force as deploy in /srv/app",
// shortened, unless a value in it is sensitive.
func (res *resource) summary() string {
	if !res.shown {
		return "run a script (sensitive, not shown)"
	}
	s := "run " + res.label
	if len(res.args) > 0 {
		a := transport.ShellJoin(res.args...)
		if utf8.RuneCountInString(a) > 60 {
			a = string([]rune(a)[:59]) + "…"
		}
		s += " " + a
	}
	if strings.Join(res.interpreter, " ") != "/bin/sh" {
		s += " with " + strings.Join(res.interpreter, " ")
	}
	return s + res.Describe()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
