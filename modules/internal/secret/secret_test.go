package secret_test

import (
	"errors"
	"os/exec"
	"slices"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/secret"
)

// TestHideOutput checks the wrapper keeps the exit status, prints
// nothing on success, and replaces secrets literally (regular expression
// characters and all) without looping on a secret inside its own
// replacement.
func TestHideOutput(t *testing.T) {
	for _, c := range []struct {
		cmd, out string
		ok       bool
	}{
		{"echo fine", "", true},
		{"echo 'url a.b*c[d] and a.b*c[d]'; echo more >&2; exit 3", "url (sensitive) and (sensitive)\nmore\n", false},
		{"echo 'it is sensitive'; false", "it is (sensitive)\n", false},
		// Longest first: xtokx goes whole, then tok where it is left.
		{"echo 'tok: xtokx'; exit 1", "(sensitive): (sensitive)\n", false},
	} {
		cmd := secret.HideOutput(c.cmd, []string{"a.b*c[d]", "sensitive", "xtokx", "tok", ""})
		out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
		if (err == nil) != c.ok || string(out) != c.out {
			t.Errorf("%s: %v %q, want ok %v %q", c.cmd, err, out, c.ok, c.out)
		}
		var ee *exec.ExitError
		if c.cmd == "echo 'url a.b*c[d] and a.b*c[d]'; echo more >&2; exit 3" && (!errors.As(err, &ee) || ee.ExitCode() != 3) {
			t.Errorf("exit status not kept: %v", err)
		}
	}
	if got := secret.HideOutput("x", nil); got != "x" {
		t.Errorf("no secrets: %q", got)
	}
}

// TestURL checks a URL's userinfo and password are hidden on their own
// too, since a program may print them without the rest of the URL.
func TestURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"https://example.com/f?token=x", []string{"https://example.com/f?token=x"}},
		{"https://u:p4ss@example.com/f", []string{"https://u:p4ss@example.com/f", "u:p4ss", "p4ss"}},
		{"https://u@example.com/f", []string{"https://u@example.com/f", "u"}},
	} {
		if got := secret.URL(c.in); !slices.Equal(got, c.want) {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestShowURL checks a summary never shows a password, nor anything of a
// sensitive URL.
func TestShowURL(t *testing.T) {
	for _, c := range []struct {
		in        string
		sensitive bool
		want      string
	}{
		{"https://example.com/f", false, "https://example.com/f"},
		{"https://u:p4ss@example.com/f", false, "https://u:xxxxx@example.com/f"},
		{"https://example.com/f?token=x", true, "(sensitive URL)"},
	} {
		if got := secret.ShowURL(c.in, c.sensitive); got != c.want {
			t.Errorf("ShowURL(%q, %v) = %q, want %q", c.in, c.sensitive, got, c.want)
		}
	}
}
