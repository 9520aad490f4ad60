// Package blockinfile is the `blockinfile` resource type: a block of
// lines between two marker lines in a file, present or absent, as
// Ansible's blockinfile does it, without managing the rest of the file.
package blockinfile

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/textedit"
)

// DefaultMarker is the marker line unless one is declared.
const DefaultMarker = "# {mark} MANAGED BY OPSRUN: {name}"

// Type is the `blockinfile` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "blockinfile",
		Doc: "A block of lines in a file, kept between a begin and an end marker line, leaving the rest of " +
			"the file as it is (Ansible's blockinfile). When the markers are there, the lines between them " +
			"are replaced; otherwise the block and its markers are added at insert_after, insert_before or " +
			"the end. The markers carry the resource name, so several blocks share a file. The file is read " +
			"in the probe round, edited on the controller (plan shows the diff) and written back whole and " +
			"atomically, keeping its mode, owner and group.",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	as := []modules.Attr{
		textedit.PathAttr(),
		{Name: "block", Type: cty.String,
			Doc: "The lines to keep between the markers; a final newline is added when missing. Required when " +
				"state is present. An empty block removes the block and its markers, as state absent does.",
			Example: `"Match User backup\n  ForceCommand internal-sftp\n"`},
		{Name: "marker", Type: cty.String, Default: cty.StringVal(DefaultMarker),
			Doc: "The marker line: {mark} becomes BEGIN and END for the two markers, {name} the resource's " +
				"name. It must contain {mark}, and should be a comment in the file's syntax. Changing it " +
				"makes a new block: the old markers are no longer found.",
			Example: `"// {mark} opsrun {name}"`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc:     "present: the block is in the file. absent: the block and its markers are removed; a missing file is left missing.",
			Example: `"absent"`},
	}
	return append(as, textedit.Attrs("block")...)
}

// resource is a block configured for one host.
type resource struct {
	textedit.Edit        // Hidden: block or marker comes from a sensitive variable
	begin, end    []byte // the marker lines, without newline
	block         [][]byte
}

// New validates c and builds a blockinfile resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{Edit: textedit.Read(r, "block", "marker")}
	marker, hasMarker := r.String("marker")
	switch {
	case !hasMarker:
	case !strings.Contains(marker, "{mark}"):
		r.Errorf("marker", "%s does not contain {mark}: the begin and end markers would be the same line", r.Quote("marker", marker))
	case strings.ContainsAny(marker, "\r\n"):
		r.Errorf("marker", "must be one line, without a newline or carriage return")
	}
	marker = strings.ReplaceAll(marker, "{name}", c.Name)
	res.begin = []byte(strings.ReplaceAll(marker, "{mark}", "BEGIN"))
	res.end = []byte(strings.ReplaceAll(marker, "{mark}", "END"))

	block, hasBlock := r.String("block")
	switch {
	case res.Unknown:
	case res.Present && !hasBlock:
		r.Errorf("block", "is required when state is present (an empty string or state = \"absent\" removes the block)")
	case block == "":
		res.Present = false // an empty block is no block, as in Ansible
	}
	if block != "" && !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	res.block = textedit.Lines([]byte(block))
	for i, l := range res.block {
		if t := textedit.Text(l); bytes.Equal(t, res.begin) || bytes.Equal(t, res.end) {
			r.Errorf("block", "line %d is a marker line; the block's end could not be found again", i+1)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Plan edits the probed content and writes it back when it changed.
func (res *resource) Plan(_ *modules.Host, f modules.Facts) ([]modules.Action, error) {
	return res.Actions(f, res.edit)
}

// find returns the 0-based lines of the begin and end markers, -1 each
// when the block is not in the file. Markers out of order, repeated or
// alone are an error: guessing which lines are ours could delete the
// operator's.
func (res *resource) find(lines [][]byte) (int, int, error) {
	var begins, ends []int
	for i, l := range lines {
		switch t := textedit.Text(l); {
		case bytes.Equal(t, res.begin):
			begins = append(begins, i+1)
		case bytes.Equal(t, res.end):
			ends = append(ends, i+1)
		}
	}
	switch {
	case len(begins) == 0 && len(ends) == 0:
		return -1, -1, nil
	case len(begins) == 1 && len(ends) == 1 && begins[0] < ends[0]:
		return begins[0] - 1, ends[0] - 1, nil
	}
	return 0, 0, fmt.Errorf("the block's markers are damaged (begin marker on %s, end marker on %s); "+
		"fix the file by hand so each appears once, begin first", where(begins), where(ends))
}

func where(nums []int) string {
	if len(nums) == 0 {
		return "no line"
	}
	return textedit.LineList(nums)
}

// edit replaces the block between the markers, or adds it with its
// markers at the position, or removes it.
func (res *resource) edit(old []byte) ([]byte, string, error) {
	lines := textedit.Lines(old)
	b, e, err := res.find(lines)
	if err != nil {
		return nil, "", err
	}
	var want [][]byte
	if res.Present {
		want = append(want, append(append([]byte{}, res.begin...), '\n'))
		want = append(want, res.block...)
		want = append(want, append(append([]byte{}, res.end...), '\n'))
	}
	span := "lines " + strconv.Itoa(b+1) + "-" + strconv.Itoa(e+1)
	switch {
	case b < 0 && !res.Present:
		return old, "", nil
	case b < 0:
		i := res.Pos.Index(lines)
		where := "at line " + strconv.Itoa(i+1)
		if i == len(lines) && i > 0 {
			where = "at the end"
		}
		return textedit.Join(textedit.Insert(lines, i, want...)), "add the block " + where, nil
	case !res.Present:
		out := append(append([][]byte{}, lines[:b]...), lines[e+1:]...)
		return textedit.Join(out), "remove the block (" + span + ")", nil
	}
	out := append(append(append([][]byte{}, lines[:b]...), want...), lines[e+1:]...)
	return textedit.Join(out), "update the block (" + span + ")", nil
}
