// Package line is the `line` resource type: one line of a file present or
// absent, as Ansible's lineinfile does it, without managing the rest of
// the file.
package line

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/textedit"
)

// Type is the `line` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "line",
		Doc: "One line of a file, present or absent, leaving the rest of the file as it is (Ansible's " +
			"lineinfile). With regexp, the last line it matches is replaced by line; otherwise, or when " +
			"nothing matches and line is not already there, line is added at insert_after, insert_before " +
			"or the end. The file is read in the probe round, edited on the controller (plan shows the diff) " +
			"and written back whole and atomically, keeping its mode, owner and group.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	as := []modules.Attr{
		textedit.PathAttr(),
		{Name: "line", Type: cty.String,
			Doc: "The line, without a newline (one is added). Required when state is present; with state " +
				"absent and no regexp, every line equal to it is removed.",
			Example: `"PermitRootLogin no"`},
		{Name: "regexp", Type: cty.String,
			Doc: "Regular expression (Go RE2 syntax, matched anywhere in a line): when present, the last " +
				"line it matches is replaced by line; when absent, every line it matches is removed. For " +
				"idempotence it should match line itself too, or a second run replaces an earlier match.",
			Example: `"^#?\\s*PermitRootLogin\\s"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the line is in the file. absent: no line equal to line (or matching regexp, when " +
				"set) is; a missing file is left missing.",
			Example: `"absent"`},
	}
	return append(as, textedit.Attrs("line")...)
}

// resource is a line configured for one host.
type resource struct {
	textedit.Edit // Hidden: line or regexp comes from a sensitive variable
	line          []byte
	re            *regexp.Regexp
	pattern       string
}

// New validates c and builds a line resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{Edit: textedit.Read(r, "line", "regexp")}
	line, hasLine := r.String("line")
	if strings.ContainsAny(line, "\r\n") {
		r.Errorf("line", "must be one line, without a newline or carriage return (use blockinfile for several lines)")
	}
	res.line = []byte(line)
	if p, ok := r.String("regexp"); ok {
		res.pattern = p
		res.re = textedit.Regexp(r, "regexp", p)
	}
	switch {
	case res.Unknown:
	case res.Present && !hasLine:
		r.Errorf("line", "is required when state is present")
	case res.Present && line == "":
		r.Errorf("line", "must not be empty")
	case !res.Present && !hasLine && res.pattern == "":
		r.Errorf("line", "or regexp is required when state is absent: they say which lines to remove")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Plan edits the probed content and writes it back when it changed.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	edit := res.remove
	if res.Present {
		edit = res.ensure
	}
	return res.Actions(f, edit)
}

// shown is the line for a summary, unless it is sensitive.
func (res *resource) shown() string {
	if res.Hidden {
		return "(sensitive)"
	}
	return textedit.Quote(string(res.line))
}

// ensure puts the line in, the way lineinfile does: replace the last
// line regexp matches; else leave an equal line alone; else add it at the
// position.
func (res *resource) ensure(old []byte) ([]byte, string, error) {
	lines := textedit.Lines(old)
	at := -1
	if res.re != nil {
		for i, l := range lines {
			if res.re.Match(textedit.Body(l)) {
				at = i
			}
		}
	}
	if at < 0 {
		for i, l := range lines {
			if bytes.Equal(textedit.Text(l), res.line) {
				at = i
			}
		}
		if at >= 0 {
			if bytes.HasSuffix(lines[at], []byte("\n")) {
				return old, "", nil
			}
			// The last line of a file without a final newline.
			return textedit.Join(textedit.Terminated(lines)), "end line " + strconv.Itoa(at+1) + " with a newline", nil
		}
	}
	if at >= 0 {
		// A replaced line keeps its CRLF ending in a file that uses them.
		eol := "\n"
		if bytes.HasSuffix(lines[at], []byte("\r\n")) {
			eol = "\r\n"
		}
		repl := append(append([]byte{}, res.line...), eol...)
		if bytes.Equal(lines[at], repl) {
			return old, "", nil
		}
		out := append([][]byte{}, lines...)
		out[at] = repl
		return textedit.Join(out), "replace line " + strconv.Itoa(at+1) + " with " + res.shown(), nil
	}
	i := res.Pos.Index(lines)
	add := append(append([]byte{}, res.line...), '\n')
	where := "as line " + strconv.Itoa(i+1)
	if i == len(lines) && i > 0 {
		where = "at the end"
	}
	return textedit.Join(textedit.Insert(lines, i, add)), "add " + res.shown() + " " + where, nil
}

// remove deletes every line equal to line, or matching regexp when set.
func (res *resource) remove(old []byte) ([]byte, string, error) {
	lines := textedit.Lines(old)
	var keep [][]byte
	var gone []int
	for i, l := range lines {
		var match bool
		if res.re != nil {
			match = res.re.Match(textedit.Body(l))
		} else {
			match = bytes.Equal(textedit.Text(l), res.line)
		}
		if match {
			gone = append(gone, i+1)
		} else {
			keep = append(keep, l)
		}
	}
	if len(gone) == 0 {
		return old, "", nil
	}
	what := "remove " + textedit.LineList(gone)
	if !res.Hidden {
		if res.re != nil {
			what += " matching " + textedit.Quote(res.pattern)
		} else {
			what += fmt.Sprintf(" equal to %s", res.shown())
		}
	}
	return textedit.Join(keep), what, nil
}
