// Package file is the `file` resource type: a regular file's content,
// mode, owner and group, or its absence.
package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/filediff"
	"github.com/opsrun/opsrun/modules/internal/fsmeta"
)

// Type is the `file` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "file",
		Doc: "A regular file on the host: its content (inline or from a file beside the stack), mode, " +
			"owner and group, or its absence. Content is written atomically: readers see the old file " +
			"or the new one, never a part. Without content or source, the file is created empty when " +
			"missing and only its metadata is managed afterwards.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return WriteAttrs(
		modules.Attr{Name: "content", Type: cty.String,
			Doc: "The file's content, written exactly (no newline is added). Plan and check mode show a " +
				"unified diff unless the value comes from a sensitive variable. Mutually exclusive with source.",
			Example: `"Welcome to ${host.name}\n"`},
		modules.Attr{Name: "source", Type: cty.String,
			Doc: "Path of a file on the controller whose bytes become the content; relative paths are " +
				"resolved against the stack directory. Mutually exclusive with content.",
			Example: `"files/nginx.conf"`},
	)
}

// WriteAttrs is the schema of a type that writes a whole file: path, the
// type's own attributes (where its content comes from), then mode, owner,
// group, backup and state. The file type is WriteAttrs(content, source);
// template declares its source and vars in the same place and builds its
// resources with NewContent, so both are documented, validated and
// planned by one piece of code.
func WriteAttrs(own ...modules.Attr) []modules.Attr {
	s := []modules.Attr{
		{Name: "path", Type: cty.String, Required: true,
			Doc:     "Absolute path of the file on the host.",
			Example: `"/etc/motd"`},
	}
	s = append(s, own...)
	return append(s,
		modules.Attr{Name: "mode", Type: cty.String, Default: cty.StringVal("0644"),
			Doc: "Permission bits as an octal string: 3 or 4 digits, setuid/setgid/sticky included " +
				"(\"4755\"). Always enforced.",
			Example: `"0640"`},
		modules.Attr{Name: "owner", Type: cty.String,
			Doc:     "User name or numeric uid that owns the file. Null leaves the owner as it is (root for a new file).",
			Example: `"www-data"`},
		modules.Attr{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid of the file. Null leaves the group as it is (root's for a new file).",
			Example: `"adm"`},
		modules.Attr{Name: "backup", Type: cty.Bool, Default: cty.False,
			Doc: "Before replacing the content of an existing file, copy it (cp -p: mode, owner and times " +
				"kept) beside it as PATH.YYYYMMDDTHHMMSS~, stamped with the host's local time when the " +
				"copy is made, e.g. /etc/app.conf.20261125T215434~ (Ansible's backup, without the ':' " +
				"and '@' that scp and rsync read as host separators). Only a content change makes a " +
				"copy: not creating the file, not a mode or owner change, not replacing a symbolic " +
				"link. Old copies are never removed. Two changes within the same second keep the later copy.",
			Example: `true`},
		modules.Attr{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the file exists as declared (a symbolic link in its place is replaced when the " +
				"content is managed). absent: the file (or symbolic link) is removed when it exists; the " +
				"content attributes are then ignored. A directory at path is an error either way.",
			Example: `"absent"`},
	)
}

// resource is a file configured for one host.
type resource struct {
	path  string
	state string
	meta  fsmeta.Want
	// manage is true when the content is given: without it only
	// existence and metadata are managed.
	manage bool
	// unknown is set when the content depends on values that were not
	// known when the resource was configured: such a resource cannot
	// plan, rather than plan the empty file of an unmanaged one.
	unknown bool
	want    filediff.Side // desired content: checksum, and the bytes when in hand
	source  string        // absolute local path when the content is streamed from it
	hidden  bool          // content comes from a sensitive variable
	backup  bool          // copy the old content aside before replacing it
}

// New validates c and builds a file resource. A source file is read (or,
// when large, hashed) here, so a missing source fails before any host is
// touched.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := newResource(r)
	res.hidden = c.Sensitive["content"] || c.Sensitive["source"]
	content, hasContent := r.String("content")
	source, hasSource := r.String("source")
	switch {
	case hasContent && hasSource:
		r.Errorf("source", "cannot be set together with content: the file's bytes come from one or the other")
	case res.state == "absent":
	case hasContent:
		res.manage = true
		res.want = filediff.Text([]byte(content))
	case hasSource:
		res.manage = true
		// A small source is taken in hand, so the diff shows it; a large
		// one is streamed.
		src, err := ReadSource(c.Dir, source, filediff.MaxSize, c.Sensitive["source"])
		switch {
		case err != nil:
			r.Errorf("source", "%v", err)
		case src.SHA256 != "":
			res.want = filediff.Side{Exists: true, SHA256: src.SHA256}
			res.source = src.Path
		default:
			res.want = filediff.Text(src.Content)
		}
	case !r.Value("content").IsKnown() || !r.Value("source").IsKnown():
		res.unknown = true
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// newResource reads the attributes every WriteAttrs schema has.
func newResource(r *attr.Reader) *resource {
	res := &resource{
		path:  r.AbsPath("path", true),
		state: r.OneOf("state", "present", "absent"),
	}
	if res.path == "/" {
		r.Errorf("path", "\"/\" is a directory, not a file")
	}
	res.meta.Mode, _ = r.Mode("mode")
	res.meta.Owner = r.Account("owner")
	res.meta.Group = r.Account("group")
	res.backup, _ = r.Bool("backup")
	return res
}

// Content is a file's content computed on the controller by another type
// (a template rendered with the host's facts), for NewContent.
type Content struct {
	Bytes []byte
	// Sensitive hides the content: no diff, no content fetched from the
	// host to diff against, actions marked sensitive.
	Sensitive bool
	// Unknown says the content depends on values not known yet (host
	// facts evaluated as unknown); the resource then refuses to plan.
	Unknown bool
}

// NewContent builds a file resource whose content the calling type
// computes: path, mode, owner, group, backup and state are read from c as
// schema (the caller's WriteAttrs schema) declares them, and the resource
// plans exactly as a file with that content. content is not called when
// state is "absent" (a removed file needs none, and its template may be
// gone); its error, which should be AttrErrors naming the caller's own
// attributes, is joined with those of the shared attributes so every
// mistake is reported at once.
func NewContent(c modules.Config, schema []modules.Attr, content func() (Content, error)) (modules.Resource, error) {
	r := attr.NewReader(c, schema)
	res := newResource(r)
	var cerr error
	if res.state != "absent" {
		var ct Content
		ct, cerr = content()
		switch {
		case cerr != nil:
		case ct.Unknown:
			res.unknown = true
		default:
			res.manage = true
			res.want = filediff.Text(ct.Bytes)
			res.hidden = ct.Sensitive
		}
	}
	if err := errors.Join(r.Err(), cerr); err != nil {
		return nil, err
	}
	return res, nil
}

// Source is a file on the controller that a resource uploads, read when
// the stack is loaded, so a missing one fails before any host is touched.
type Source struct {
	// Path is the file's absolute path on the controller.
	Path string
	// Content is the file's bytes when it is no larger than ReadSource's
	// inHand: taken in hand, so exactly the bytes checked (and, for a
	// file, shown in its diff) are uploaded.
	Content []byte
	// SHA256 is the hex checksum of a larger file, which is only hashed:
	// the engine streams it from Path (Upload.Source) when it is
	// uploaded. "" when Content holds the file.
	SHA256 string
}

// ReadSource reads source, a path relative to dir (the stack's
// directory) unless absolute, whole when it has at most inHand bytes, and
// only hashes a larger one. The file and script types both upload a file
// from the controller this way. When the source comes from a sensitive
// variable, an error opening it does not show its path: the path itself
// is the secret.
func ReadSource(dir, source string, inHand int64, sensitive bool) (Source, error) {
	src, err := readSource(dir, source, inHand)
	var pe *fs.PathError
	var nr *notRegularError
	switch {
	case err == nil || !sensitive:
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &nr):
		err = errors.New("not a regular file")
	}
	return src, err
}

// notRegularError is a source that is a directory or a special file.
type notRegularError struct{ path string }

func (e *notRegularError) Error() string { return e.path + " is not a regular file" }

func readSource(dir, source string, inHand int64) (Source, error) {
	p := source
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return Source{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Source{}, err
	}
	if !fi.Mode().IsRegular() {
		return Source{}, &notRegularError{p}
	}
	if fi.Size() <= inHand {
		b, err := io.ReadAll(f)
		if err != nil {
			return Source{}, err
		}
		return Source{Path: p, Content: b}, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Source{}, err
	}
	return Source{Path: p, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Probes asks for the path's stat and, when content is managed, its
// checksum; the host's content comes along only when a diff can be shown.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	ps := []modules.Probe{facts.StatProbe(res.path)}
	if res.state == "present" && res.manage {
		ps = append(ps, res.sumProbe())
	}
	return ps
}

// sumProbe fetches the host's content only when a text diff can show it:
// never for sensitive content, and not when the desired content is binary
// or large (the diff is then checksums).
func (res *resource) sumProbe() modules.Probe {
	if res.hidden || !res.want.Known || !filediff.IsText(res.want.Content) {
		return facts.SumProbe(res.path, "")
	}
	return facts.SumProbe(res.path, res.want.SHA256)
}

// Plan compares the host's file with the declaration.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	st, err := facts.GetStat(f, res.path)
	if err != nil {
		return nil, err
	}
	if res.unknown && res.state == "present" {
		return nil, fmt.Errorf("the content of %s depends on values that are not known yet", res.path)
	}
	if st.Exists && st.Type == facts.Directory {
		return nil, fmt.Errorf("%s is a directory; a file resource cannot replace or remove it (use a directory resource)", res.path)
	}
	if res.state == "absent" {
		return fsmeta.RemoveFile(res.path, st), nil
	}
	switch {
	case !st.Exists:
		return []modules.Action{res.upload("create "+res.path+" ("+res.meta.Describe()+")", st, filediff.Side{})}, nil
	case st.Type == facts.Symlink:
		if !res.manage {
			return nil, fmt.Errorf("%s is a symbolic link; set content or source to replace it with a file", res.path)
		}
		return []modules.Action{res.upload("replace symbolic link "+res.path+" with a file ("+res.meta.Describe()+")", facts.Stat{}, filediff.Side{})}, nil
	case st.Type != facts.Regular:
		return nil, fmt.Errorf("%s is a %s, not a regular file; remove it first", res.path, st.Type)
	}
	changes := fsmeta.Changes(st, res.meta)
	if res.manage {
		p := res.sumProbe()
		r, err := facts.Get(f, p)
		if err != nil {
			return nil, err
		}
		sum, err := facts.ParseSum(r)
		if err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", res.path, err)
		}
		if !sum.Present {
			return nil, fmt.Errorf("could not read %s to compare its content", res.path)
		}
		if sum.SHA256 != res.want.SHA256 {
			summary := "update " + res.path
			if len(changes) > 0 {
				summary += " (" + strings.Join(changes, ", ") + ")"
			}
			on := filediff.Side{Exists: true, SHA256: sum.SHA256, Content: sum.Content, Known: sum.HasContent}
			var acts []modules.Action
			if res.backup {
				acts = append(acts, res.backupAction())
			}
			return append(acts, res.upload(summary, st, on)), nil
		}
	}
	return fsmeta.Change(res.path, st, res.meta, false), nil
}

// backupDate is the date(1) format of a backup's suffix: sortable, and
// free of ':' and '@', which scp and rsync read as host separators.
const backupDate = "%Y%m%dT%H%M%S"

// backupAction copies the file aside before its content is replaced. It is
// its own action, before the upload, because the engine writes an upload
// before running its action's command. The name is made on the host at
// run time, so plan and check mode show its pattern.
func (res *resource) backupAction() modules.Action {
	q := transport.ShellQuote(res.path)
	return modules.Action{
		Summary: "back up " + res.path + " to " + res.path + ".YYYYMMDDTHHMMSS~",
		Command: "cp -p " + q + " " + q + `".$(date +` + backupDate + `)~"`,
	}
}

// upload writes the desired content (empty when unmanaged). An owner or
// group left null keeps the current file's: the new file replaces the old
// one, which would otherwise hand it to root.
func (res *resource) upload(summary string, st facts.Stat, on filediff.Side) modules.Action {
	meta := res.meta.Replacing(st)
	up := &modules.Upload{
		Path:  res.path,
		Mode:  attr.FileMode(meta.Mode),
		Owner: meta.Owner,
		Group: meta.Group,
	}
	want := res.want
	if !res.manage {
		want = filediff.Text(nil)
	}
	if res.source != "" {
		up.Source = res.source
	} else {
		up.Content = want.Content
		if up.Content == nil {
			up.Content = []byte{}
		}
	}
	a := modules.Action{
		Summary:   summary,
		Diff:      filediff.Unified(res.path, on, want, res.hidden),
		Upload:    up,
		Sensitive: res.hidden,
	}
	// The transport applies the permission bits only (and writes 0 as its
	// default 0644); special bits and a mode of 0000 are set afterwards.
	if res.meta.Mode&^0o777 != 0 || res.meta.Mode == 0 {
		a.Command = fsmeta.Chmod(res.path, res.meta.Mode, false)
	}
	return a
}
