package integration

import (
	"strings"
	"testing"
)

// TestCommand: guarded commands converge like any resource; the
// environment, working directory and user reach the command; an unguarded
// command runs on every run, and only its notified form waits for a change.
func TestCommand(t *testing.T) {
	Sh(t, "rm -rf /srv/it-command && mkdir -p /srv/it-command/work && chown deploy /srv/it-command/work")
	defer Sh(t, "rm -rf /srv/it-command")
	Converge(t, Case{
		Present: `
    command "init" {
      command     = "echo \"$GREETING from $(pwd) as $(id -un)\" > out"
      creates     = "/srv/it-command/work/out"
      cwd         = "/srv/it-command/work"
      user        = "deploy"
      environment = { GREETING = "hello world" }
    }
    command "mark" {
      command = "touch /srv/it-command/mark"
      unless  = "test -e /srv/it-command/mark"
      notify  = [command.notified]
    }
    command "notified" {
      command = "echo x >> /srv/it-command/notified"
      run     = "on_notify"
    }`,
		State: "cat /srv/it-command/work/out /srv/it-command/notified 2>&1; stat -c '%U' /srv/it-command/work/out 2>&1; true",
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{"hello world from /srv/it-command/work as deploy\n", "x\n", "deploy\n"} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
			if strings.Count(s, "x\n") != 1 {
				t.Errorf("the notified command ran more than once:\n%s", s)
			}
		},
	})
	// Without a guard a command is a change on every run.
	for range 2 {
		if o := Apply(t, `
    command "always" {
      command = "true"
    }`, nil); o.Totals.Changed != 1 {
			t.Fatalf("an unguarded command: %+v", o.Totals)
		}
	}
}
