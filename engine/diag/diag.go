// Package diag prints HCL diagnostics the way compilers do: one line per
// problem that starts with file:line:col, so editors and terminals can jump
// to it, followed by the source line and a caret under the culprit.
package diag

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Write prints every diagnostic in diags. files maps file names to their
// source (hclparse.Parser.Files()) for the excerpts; a file missing from it
// just gets no excerpt.
func Write(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range diags {
		fmt.Fprintln(w, Line(d))
		if d.Subject == nil {
			continue
		}
		f := files[d.Subject.Filename]
		if f == nil {
			continue
		}
		src := lineOf(f.Bytes, d.Subject.Start.Line)
		if src == "" {
			continue
		}
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(src, "\t", " "))
		width := 1
		if d.Subject.End.Line == d.Subject.Start.Line && d.Subject.End.Column > d.Subject.Start.Column {
			width = d.Subject.End.Column - d.Subject.Start.Column
		}
		col := max(d.Subject.Start.Column-1, 0)
		fmt.Fprintf(w, "  %s%s\n", strings.Repeat(" ", col), strings.Repeat("^", width))
	}
}

// Line is one diagnostic on one line: "file:line:col: error: Summary; Detail".
func Line(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	fmt.Fprintf(&b, "%s: %s", sev, d.Summary)
	if d.Detail != "" {
		fmt.Fprintf(&b, "; %s", strings.Join(strings.Fields(d.Detail), " "))
	}
	return b.String()
}

func lineOf(src []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return ""
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimRight(string(src), "\r")
}
