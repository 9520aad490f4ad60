package integration

import (
	"strings"
	"testing"
)

// itScriptState prints what the scripts wrote and any script file left
// under /run.
const itScriptState = `cat /srv/it-script/inline.out /srv/it-script/source.out 2>&1; ls /run | grep opsrun-script; true`

// TestScript runs an inline script as root and a source script as deploy,
// each guarded by creates: the first run runs both, check mode runs
// nothing, the second run is 0 changed, and no script file is left.
func TestScript(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-script && mkdir -p /srv/it-script && chown deploy /srv/it-script")
	Converge(t, Case{
		Files: map[string]string{"scripts/whoami.sh": "#!/bin/bash\necho \"$(id -un) in $PWD: $1\" > source.out\n"},
		Present: `
    script "inline" {
      content     = "printf '%s|' \"$@\" \"$GREETING\" > /srv/it-script/inline.out\n"
      args        = ["it's", "a b"]
      environment = { GREETING = "hello world" }
      creates     = "/srv/it-script/inline.out"
    }
    script "source" {
      source      = "scripts/whoami.sh"
      interpreter = "/bin/bash"
      args        = ["x"]
      user        = "deploy"
      cwd         = "/srv/it-script"
      creates     = "/srv/it-script/source.out"
    }`,
		State: itScriptState,
		WantPresent: func(t *testing.T, s string) {
			if want := "it's|a b|hello world|deploy in /srv/it-script: x\n"; s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
	})
}

// TestScriptGuardsAndFailure checks onlyif skips a script, a failing
// script fails the run with its output and still leaves no file, and a
// handler runs only when notified.
func TestScriptGuardsAndFailure(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-script2 && mkdir -p /srv/it-script2")
	o := Apply(t, `
    script "skipped" {
      content = "touch /srv/it-script2/ran\n"
      onlyif  = "test -e /srv/it-script2/enabled"
    }`, nil)
	if o.Totals.Changed != 0 || Sh(t, "ls /srv/it-script2") != "" {
		t.Fatalf("onlyif did not skip: %s", o.Changed())
	}
	o = Run(t, `
    script "fails" {
      content = "echo broken-on-purpose >&2\nexit 7\n"
    }`, nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "exit status 7") || !strings.Contains(o.Errors(), "broken-on-purpose") {
		t.Fatalf("want the script's failure, got %+v: %s", o.Totals, o.Errors())
	}
	if left := Sh(t, "ls /run | grep opsrun-script; true"); left != "" {
		t.Fatalf("script files left under /run: %s", left)
	}
	handler := `
    file "conf" {
      path    = "/srv/it-script2/app.conf"
      content = "%s"
      notify  = [script.reload]
    }
    script "reload" {
      content = "echo reloaded >> /srv/it-script2/reloads\n"
      run     = "on_notify"
    }`
	Apply(t, strings.Replace(handler, "%s", "v1", 1), nil)
	Apply(t, strings.Replace(handler, "%s", "v1", 1), nil)
	Apply(t, strings.Replace(handler, "%s", "v2", 1), nil)
	if got := Sh(t, "cat /srv/it-script2/reloads"); got != "reloaded\nreloaded\n" {
		t.Fatalf("handler ran %q, want twice (two changes of the file)", got)
	}
}
