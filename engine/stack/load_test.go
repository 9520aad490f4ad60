package stack

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/opsrun/opsrun/engine/diag"
)

// loadAndValidate is what `opsrun validate` does.
func loadAndValidate(t *testing.T, dir string) (*Stack, hcl.Diagnostics) {
	t.Helper()
	s, diags := LoadDir(dir, Inputs{}, testRegistry())
	if s == nil {
		t.Fatal("Load returned a nil stack")
	}
	return s, append(diags, s.Validate()...)
}

func caseDirs(t *testing.T, kind string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", kind, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestValid: every stack in testdata/valid loads and validates without a
// single diagnostic, warnings included.
func TestValid(t *testing.T) {
	dirs := caseDirs(t, "valid")
	if len(dirs) < 3 {
		t.Fatalf("only %d valid cases", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s, diags := loadAndValidate(t, dir)
			if len(diags) > 0 {
				var b strings.Builder
				diag.Write(&b, diags, s.Files)
				t.Errorf("unexpected diagnostics:\n%s", b.String())
			}
		})
	}
}

var errorMark = regexp.MustCompile(`# ERROR: (.+)$`)

// TestErrors: every stack in testdata/errors marks each offending line
// with "# ERROR: <summary>"; Load plus Validate must report exactly those
// errors, each with a range in the right file and a full-sentence detail.
func TestErrors(t *testing.T) {
	dirs := caseDirs(t, "errors")
	if len(dirs) < 20 {
		t.Fatalf("only %d error cases", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want := expectedErrors(t, dir)
			if len(want) == 0 {
				t.Fatal("case marks no # ERROR line")
			}
			s, diags := loadAndValidate(t, dir)
			abs, _ := filepath.Abs(dir)
			var got []string
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no source range", d.Summary)
					continue
				}
				if !strings.HasSuffix(strings.TrimSpace(d.Detail), ".") && !strings.HasSuffix(strings.TrimSpace(d.Detail), "?") && !strings.HasSuffix(strings.TrimSpace(d.Detail), ")") {
					t.Errorf("detail of %q is not a full sentence: %q", d.Summary, d.Detail)
				}
				rel, err := filepath.Rel(abs, d.Subject.Filename)
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("diagnostic %q names file %q, outside %s", d.Summary, d.Subject.Filename, abs)
					continue
				}
				got = append(got, key(rel, d.Subject.Start.Line, d.Summary))
			}
			sort.Strings(got)
			got = slices.Compact(got)
			if !slices.Equal(got, want) {
				var b strings.Builder
				diag.Write(&b, diags, s.Files)
				t.Errorf("diagnostics:\n got %q\nwant %q\n%s", got, want, b.String())
			}
		})
	}
}

func expectedErrors(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	var want []string
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			if m := errorMark.FindStringSubmatch(sc.Text()); m != nil {
				want = append(want, key(filepath.Base(path), line, strings.TrimSpace(m[1])))
			}
		}
		f.Close()
	}
	sort.Strings(want)
	return slices.Compact(want)
}

func key(file string, line int, summary string) string {
	return file + ":" + strconv.Itoa(line) + ": " + summary
}
