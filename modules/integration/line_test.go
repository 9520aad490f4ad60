package integration

import (
	"strings"
	"testing"
)

// TestLine edits one file with two line resources: a regexp replaces the
// commented default, a new line goes after it; absent removes both and
// the rest of the file, its mode and its owner stay as they were.
func TestLine(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-line && mkdir -p /srv/it-line && printf '#port = 80\\nhost = a\\n' > /srv/it-line/app.conf && chmod 0640 /srv/it-line/app.conf && chown deploy /srv/it-line/app.conf")
	Converge(t, Case{
		Present: `
    line "port" {
      path   = "/srv/it-line/app.conf"
      line   = "port = 9090"
      regexp = "^#?port\\s*="
    }
    line "log" {
      path         = "/srv/it-line/app.conf"
      line         = "log = on"
      insert_after = "^port"
      depends_on   = [line.port]
    }`,
		Absent: `
    line "port" {
      path   = "/srv/it-line/app.conf"
      regexp = "^port\\s*="
      state  = "absent"
    }
    line "log" {
      path  = "/srv/it-line/app.conf"
      line  = "log = on"
      state = "absent"
    }`,
		State: `cat /srv/it-line/app.conf; stat -c '%a %U' /srv/it-line/app.conf`,
		WantPresent: func(t *testing.T, s string) {
			if want := "port = 9090\nlog = on\nhost = a\n640 deploy\n"; s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if want := "host = a\n640 deploy\n"; s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
	})
}

// TestLineMissingFile checks a missing file is an error that says how to
// create it, and that create = true then makes it.
func TestLineMissingFile(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-line-new && mkdir -p /srv/it-line-new")
	o := Run(t, `
    line "x" {
      path = "/srv/it-line-new/app.conf"
      line = "a = 1"
    }`, nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "set create = true") {
		t.Fatalf("want a failure suggesting create = true, got %+v: %s", o.Totals, o.Errors())
	}
	Apply(t, `
    line "x" {
      path   = "/srv/it-line-new/app.conf"
      line   = "a = 1"
      create = true
      mode   = "0600"
    }`, nil)
	if got := Sh(t, "cat /srv/it-line-new/app.conf; stat -c %a /srv/it-line-new/app.conf"); got != "a = 1\n600\n" {
		t.Fatalf("created file:\n%s", got)
	}
}
