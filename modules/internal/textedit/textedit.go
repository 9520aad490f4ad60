// Package textedit is what the types that edit part of a file in place
// (line, blockinfile) share: their common attributes, the probe that reads
// the file whole with its stat, the line splitting and insert positions
// Ansible's lineinfile and blockinfile use, and the actions that write the
// edited file back whole and atomically, keeping its mode and owner.
// cron and sysctl, which rewrite a crontab or a sysctl.d file line by
// line, share its SplitLines and JoinLines.
//
// The edit itself is computed in Go from the probed content, so plan and
// check mode show the exact diff a run writes, and the host needs no tool
// beyond what the probe uses (stat, base64, readlink).
package textedit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/filediff"
	"github.com/opsrun/opsrun/modules/internal/fsmeta"
)

// PathAttr is the path attribute.
func PathAttr() modules.Attr {
	return modules.Attr{Name: "path", Type: cty.String, Required: true,
		Doc: "Absolute path of the file to edit. A symbolic link is followed: the file it points to is " +
			"edited and the link stays. Files over 1 MiB are refused: they are read whole in every run.",
		Example: `"/etc/ssh/sshd_config"`}
}

// Attrs are the position and file attributes, worded for noun ("line",
// "block").
func Attrs(noun string) []modules.Attr {
	return []modules.Attr{
		{Name: "insert_after", Type: cty.String,
			Doc: "Where a missing " + noun + " goes: after the last line matching this regular expression " +
				"(Go RE2 syntax, matched anywhere in the line), or \"EOF\" for the end of the file. " +
				"When nothing matches, the " + noun + " goes at the end. Mutually exclusive with insert_before; " +
				"with neither, the end of the file.",
			Example: `"^#?\\s*PermitRootLogin"`},
		{Name: "insert_before", Type: cty.String,
			Doc: "Where a missing " + noun + " goes: before the last line matching this regular expression, " +
				"or \"BOF\" for the start of the file. When nothing matches, the " + noun + " goes at the end.",
			Example: `"BOF"`},
		{Name: "create", Type: cty.Bool, Default: cty.False,
			Doc: "Create the file (with only the " + noun + ") when it does not exist. False: a missing file is " +
				"an error, as a typo in path should not create a new file. Its directory must exist.",
			Example: `true`},
		{Name: "mode", Type: cty.String,
			Doc: "Permission bits of the file when this resource creates it (default \"0644\"); needs " +
				"create = true. An existing file keeps its mode, owner and group: manage those with a file resource.",
			Example: `"0640"`},
		{Name: "owner", Type: cty.String,
			Doc:     "User name or numeric uid owning the file when this resource creates it (default root); needs create = true.",
			Example: `"app"`},
		{Name: "group", Type: cty.String,
			Doc:     "Group name or numeric gid of the file when this resource creates it (default root's); needs create = true.",
			Example: `"adm"`},
		{Name: "backup", Type: cty.Bool, Default: cty.False,
			Doc: "Before changing an existing file, copy it (cp -p: mode, owner and times kept) beside it " +
				"as PATH.YYYYMMDDTHHMMSS~, stamped with the host's local time, as the file type names its " +
				"copies. Creating the file makes no copy. When edits within the same second would make the " +
				"same name, the first copy (the older content) is kept. Old copies are never removed.",
			Example: `true`},
	}
}

// Edit is an edit of part of a file as declared: the file and how it is
// written, the state, where missing text goes and whether the text is
// secret. The types of this package read it the same way (Read) and embed
// it, so they probe and write the file alike.
type Edit struct {
	Path   string
	Create bool
	Meta   fsmeta.Want // metadata of a file this resource creates
	Backup bool
	// Pos is where missing text goes (insert_after, insert_before).
	Pos Position
	// Present is false for state = "absent", which leaves a missing file
	// missing.
	Present bool
	// Hidden is set when the text comes from a sensitive variable: the
	// diff is not shown and the write is sensitive.
	Hidden bool
	// Unknown is set when an attribute the edit depends on is not known
	// yet (host facts evaluated as unknown by validate): such a resource
	// cannot plan.
	Unknown bool
}

// unknown reports whether a value of names is not known yet; the reader's
// getters treat such values as unset.
func unknown(r *attr.Reader, names ...string) bool {
	for _, n := range names {
		if !r.Value(n).IsWhollyKnown() {
			return true
		}
	}
	return false
}

// Read reads the attributes of PathAttr and Attrs and state (present or
// absent), recording errors on r. text names the type's own attributes
// that make the text put in or taken out: the edit cannot be planned
// while one is unknown, and is hidden when one is sensitive.
func Read(r *attr.Reader, text ...string) Edit {
	e := Edit{Path: r.AbsPath("path", true), Unknown: unknown(r, append([]string{"path", "insert_after", "insert_before"}, text...)...)}
	if e.Path == "/" {
		r.Errorf("path", "\"/\" is a directory, not a file")
	}
	e.Create, _ = r.Bool("create")
	e.Backup, _ = r.Bool("backup")
	mode, modeSet := r.Mode("mode")
	e.Meta = fsmeta.Want{Mode: 0o644, Owner: r.Account("owner"), Group: r.Account("group")}
	if modeSet {
		e.Meta.Mode = mode
	}
	if !e.Create && r.Value("create").IsKnown() {
		for _, n := range []string{"mode", "owner", "group"} {
			if !r.Value(n).IsNull() {
				r.Errorf(n, "applies only to a file this resource creates: set create = true, or manage an existing file's %s with a file resource", n)
			}
		}
	}
	e.Present = r.OneOf("state", "present", "absent") != "absent"
	e.Pos = readPosition(r)
	for _, n := range text {
		e.Hidden = e.Hidden || r.Sensitive(n)
	}
	return e
}

// Probes reads the file whole, with its stat.
func (e *Edit) Probes(*modules.Host) []modules.Probe {
	return []modules.Probe{facts.TextFileProbe(e.Path)}
}

// EditFunc computes the new content of a file from its old content (nil
// when the file does not exist yet) and says what changed, worded for a
// summary ("replace line 3 with \"x\""). Content equal to old means no
// change; what is then ignored.
type EditFunc func(old []byte) (content []byte, what string, err error)

// Actions reads the probed file, applies edit and returns the actions
// that write the result: none when nothing changes.
func (e *Edit) Actions(fs modules.Facts, edit EditFunc) ([]modules.Action, error) {
	if e.Unknown {
		return nil, fmt.Errorf("the edit of %s depends on values that are not known yet", e.Path)
	}
	r, err := facts.Get(fs, facts.TextFileProbe(e.Path))
	if err != nil {
		return nil, err
	}
	tf, err := facts.ParseTextFile(e.Path, r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.Path, err)
	}
	name := tf.Path
	if tf.Link {
		name += " (target of the link " + e.Path + ")"
	}
	st := tf.Stat
	if !st.Exists {
		switch {
		case !e.Present:
			return nil, nil
		case !e.Create:
			return nil, fmt.Errorf("%s does not exist; set create = true to create it: %w", name, modules.ErrMissingOnHost)
		case tf.NoParent:
			return nil, fmt.Errorf("the directory of %s does not exist; create it first (with a directory resource): %w", name, modules.ErrMissingOnHost)
		}
		content, what, err := edit(nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return []modules.Action{{
			Summary:   "create " + name + " (" + e.Meta.Describe() + "): " + what,
			Diff:      filediff.Unified(tf.Path, filediff.Side{}, filediff.Text(content), e.Hidden),
			Upload:    upload(tf.Path, content, e.Meta),
			Command:   specialBits(tf.Path, e.Meta.Mode),
			Sensitive: e.Hidden,
		}}, nil
	}
	switch {
	case st.Type != facts.Regular:
		return nil, fmt.Errorf("%s is a %s, not a regular file", name, st.Type)
	case tf.TooLarge:
		return nil, fmt.Errorf("%s is %d bytes; files over %d bytes are not edited in place (manage it whole with a file resource)", name, st.Size, facts.TextFileMax)
	}
	content, what, err := edit(tf.Content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if bytes.Equal(content, tf.Content) {
		return nil, nil
	}
	var acts []modules.Action
	if e.Backup {
		acts = append(acts, backup(tf.Path))
	}
	// The rewrite keeps the file's mode and its owner and group by number,
	// as the new file replaces the old one and would otherwise be root's.
	keep := fsmeta.Want{Mode: st.Mode, Owner: st.UID, Group: st.GID}
	return append(acts, modules.Action{
		Summary:   name + ": " + what,
		Diff:      filediff.Unified(tf.Path, filediff.Text(tf.Content), filediff.Text(content), e.Hidden),
		Upload:    upload(tf.Path, content, keep),
		Command:   specialBits(tf.Path, st.Mode),
		Sensitive: e.Hidden,
	}), nil
}

// backupDate is the date(1) format of a backup's suffix, the file type's:
// sortable, and free of ':' and '@', which scp and rsync read as host
// separators.
const backupDate = "%Y%m%dT%H%M%S"

// backup copies the file aside before it is rewritten. It is an action of
// its own, first, because the engine writes an upload before running its
// action's command. The name is made on the host at run time, so plan and
// check mode show its pattern. An existing copy is kept: two resources
// editing the file within one second must not replace the original
// content with the first one's result.
func backup(path string) modules.Action {
	q := transport.ShellQuote(path)
	return modules.Action{
		Summary: "back up " + path + " to " + path + ".YYYYMMDDTHHMMSS~",
		Command: "b=" + q + `".$(date +` + backupDate + `)~"; [ -e "$b" ] || cp -p ` + q + ` "$b"`,
	}
}

func upload(path string, content []byte, m fsmeta.Want) *modules.Upload {
	if content == nil {
		content = []byte{}
	}
	return &modules.Upload{Path: path, Content: content, Mode: attr.FileMode(m.Mode), Owner: m.Owner, Group: m.Group}
}

// specialBits is the chmod an upload needs afterwards: the transport
// applies the permission bits only, and writes 0644 for a mode of 0000.
func specialBits(path string, mode uint32) string {
	if mode&^0o777 != 0 || mode == 0 {
		return fsmeta.Chmod(path, mode, false)
	}
	return ""
}

// Lines splits b into lines, each with its "\n" except perhaps the last,
// as Python's readlines does: joining them gives b back.
func Lines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// Join concatenates lines into a new slice (never nil).
func Join(lines [][]byte) []byte {
	out := []byte{}
	for _, l := range lines {
		out = append(out, l...)
	}
	return out
}

// Text is a line without its line ending ("\n", "\r\n" or a run of
// them), for comparing with a declared line as Ansible's rstrip does.
func Text(l []byte) []byte { return bytes.TrimRight(l, "\r\n") }

// Body is a line without its "\n", what regular expressions match: `$`
// then matches at the end of the line, as Python's does before a final
// newline.
func Body(l []byte) []byte { return bytes.TrimSuffix(l, []byte("\n")) }

// SplitLines splits s into lines without their newlines, for the
// line-oriented files rewritten whole with JoinLines (a crontab, a
// sysctl.d file), where an edit works on lines and the content is
// normalised anyway; Lines is for byte-exact edits, keeping each line's
// ending. "" has no line.
func SplitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// JoinLines is the content of lines, each ended by a newline, so a last
// line that had none gains one (cron ignores, and vixie cron refuses, a
// last line without one); "" for no line.
func JoinLines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// Terminated returns lines with a "\n" added to the last one when it
// lacks it, so a line can be put after it.
func Terminated(lines [][]byte) [][]byte {
	if n := len(lines); n > 0 && !bytes.HasSuffix(lines[n-1], []byte("\n")) {
		last := append(append([]byte{}, lines[n-1]...), '\n')
		lines = append(lines[:n-1:n-1], last)
	}
	return lines
}

// Insert returns lines with add inserted at index i (0..len), the line
// before it terminated first. lines is not modified.
func Insert(lines [][]byte, i int, add ...[]byte) [][]byte {
	out := make([][]byte, 0, len(lines)+len(add))
	out = append(out, Terminated(lines[:i:i])...)
	out = append(out, add...)
	return append(out, lines[i:]...)
}

// Position is where a missing line or block goes: insert_after and
// insert_before.
type Position struct {
	bof, after bool
	re         *regexp.Regexp // nil: the end (or, with bof, the start)
}

// readPosition reads insert_after and insert_before, recording errors on
// r.
func readPosition(r *attr.Reader) Position {
	after, hasAfter := r.String("insert_after")
	before, hasBefore := r.String("insert_before")
	switch {
	case hasAfter && hasBefore:
		r.Errorf("insert_before", "cannot be set together with insert_after: a missing line goes in one place")
		return Position{}
	case hasAfter && after == "BOF":
		r.Errorf("insert_after", "\"BOF\" is for insert_before; insert_after takes \"EOF\" or a regular expression")
	case hasBefore && before == "EOF":
		r.Errorf("insert_before", "\"EOF\" is for insert_after; insert_before takes \"BOF\" or a regular expression")
	case hasAfter && after != "EOF":
		return Position{after: true, re: Regexp(r, "insert_after", after)}
	case hasBefore && before == "BOF":
		return Position{bof: true}
	case hasBefore:
		return Position{re: Regexp(r, "insert_before", before)}
	}
	return Position{}
}

// Index is where a missing line goes in lines: after (or before) the last
// line the regular expression matches, at the start for BOF, and at the
// end for EOF, no position or no match.
func (p Position) Index(lines [][]byte) int {
	if p.bof {
		return 0
	}
	at := len(lines)
	if p.re != nil {
		for i, l := range lines {
			if p.re.Match(Body(l)) {
				at = i
				if p.after {
					at = i + 1
				}
			}
		}
	}
	return at
}

// Regexp compiles name's value s as a Go regular expression, recording
// an error on r. A sensitive pattern is not quoted: Go's parse errors
// quote part of it.
func Regexp(r *attr.Reader, name, s string) *regexp.Regexp {
	re, err := regexp.Compile(s)
	if err == nil {
		return re
	}
	if r.Sensitive(name) {
		var se *syntax.Error
		if errors.As(err, &se) {
			r.Errorf(name, "is not a valid regular expression (Go RE2 syntax): %s", se.Code)
			return nil
		}
		r.Errorf(name, "is not a valid regular expression (Go RE2 syntax)")
		return nil
	}
	r.Errorf(name, "is not a valid regular expression (Go RE2 syntax): %v", err)
	return nil
}

// Quote shows a line in a summary: quoted, and shortened past 60
// characters.
func Quote(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:59]) + "…"
	}
	return strconv.Quote(s)
}

// LineList words 1-based line numbers for a summary: "line 3",
// "lines 3, 7 and 9", "12 lines".
func LineList(nums []int) string {
	switch {
	case len(nums) == 1:
		return "line " + strconv.Itoa(nums[0])
	case len(nums) > 5:
		return strconv.Itoa(len(nums)) + " lines"
	}
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = strconv.Itoa(n)
	}
	return "lines " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
