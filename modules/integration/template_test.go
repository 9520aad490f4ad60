package integration

import (
	"fmt"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/modules/registry"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// itTemplate renders host facts, the layer's topology (the host itself,
// the only instance of layer l) and a var.
const itTemplate = `# for ${host.hostname} (${host.os.family})
%{ for i in layer.l.instances ~}
peer ${i.name} ${i.private_ip}
%{ endfor ~}
port ${port}
`

const itTemplateResources = `
    directory "d" {
      path = "/srv/it-template"
    }
    template "t" {
      path       = "/srv/it-template/app.conf"
      source     = "templates/app.conf.tmpl"
      vars       = { port = %s }
      mode       = "0640"
      owner      = "opsrun"
      backup     = true
      depends_on = [directory.d]
    }`

func TestTemplate(t *testing.T) {
	need(t)
	hostname := strings.TrimSpace(Sh(t, "hostname"))
	Converge(t, Case{
		Files:   map[string]string{"templates/app.conf.tmpl": itTemplate},
		Present: strings.Replace(itTemplateResources, "%s", "8080", 1),
		Absent: `
    template "t" {
      path   = "/srv/it-template/app.conf"
      source = "templates/app.conf.tmpl"
      state  = "absent"
    }
    directory "d" {
      path  = "/srv/it-template"
      state = "absent"
    }`,
		State: `stat -c '%n %a %U' /srv/it-template/app.conf 2>&1; cat /srv/it-template/app.conf 2>&1; ls /srv/it-template 2>&1; true`,
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{"/srv/it-template/app.conf 640 opsrun", "# for " + hostname + " (debian)\n", "\npeer " + hostName + " ", "\nport 8080\n"} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, "~") {
				t.Errorf("creating the file made a backup:\n%s", s)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if strings.Count(s, "No such file") != 3 {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})
}

// TestTemplateChange: a changed template is shown as a diff in check mode
// and changes nothing there; the real run then keeps one backup.
func TestTemplateChange(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-template")
	defer Sh(t, "rm -rf /srv/it-template")
	files := map[string]string{"templates/app.conf.tmpl": itTemplate}
	Apply(t, strings.Replace(itTemplateResources, "%s", "8080", 1), files)
	before := Sh(t, "cat /srv/it-template/app.conf")

	v2 := strings.Replace(itTemplateResources, "%s", "9090", 1)
	o := Run(t, v2, files, true)
	if o.Totals.Failed > 0 || o.Totals.Changed != 1 {
		t.Fatalf("check mode: %+v, %s %s", o.Totals, o.Errors(), o.Changed())
	}
	var diff, summaries string
	for _, e := range o.Events {
		if e.Resource == "template.t" {
			diff = strings.Join(e.Diffs, "\n")
			summaries = strings.Join(e.Actions, "; ")
		}
	}
	if !strings.Contains(diff, "-port 8080\n+port 9090\n") {
		t.Errorf("check mode diff lacks the port change:\n%s", diff)
	}
	if !strings.Contains(summaries, "back up /srv/it-template/app.conf to /srv/it-template/app.conf.YYYYMMDDTHHMMSS~") {
		t.Errorf("check mode does not announce the backup: %s", summaries)
	}
	if got := Sh(t, "cat /srv/it-template/app.conf; ls /srv/it-template"); got != before+"app.conf\n" {
		t.Fatalf("check mode changed the host:\n%s", got)
	}

	Apply(t, v2, files)
	if got := Sh(t, "cat /srv/it-template/app.conf"); !strings.Contains(got, "port 9090\n") {
		t.Errorf("not rendered again:\n%s", got)
	}
	backups := strings.Fields(Sh(t, "cd /srv/it-template && ls -1 app.conf.*~ 2>/dev/null || true"))
	if len(backups) != 1 {
		t.Fatalf("want one backup, got %q", backups)
	}
	if got := Sh(t, "cat /srv/it-template/"+backups[0]); got != before {
		t.Errorf("backup holds\n%s\nwant the old content\n%s", got, before)
	}
}

// TestTemplateError: a mistake in the template fails the run with the
// template's file, line and column, before anything changes.
func TestTemplateError(t *testing.T) {
	need(t)
	// A template naming a fact that does not exist is refused when the
	// stack is validated, before any host is contacted, at its own line.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte("ok\nname ${host.hostnme}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(fmt.Sprintf(stackTemplate, `
    template "t" {
      path   = "/srv/it-template-bad.conf"
      source = "bad.tmpl"
    }`)), 0o644)
	s, diags := stack.LoadDir(dir, stack.Inputs{}, registry.Builtin())
	if !diags.HasErrors() {
		diags = s.Validate()
	}
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "bad.tmpl:2:12: Unsupported attribute") {
		t.Fatalf("want validate to refuse bad.tmpl:2:12, got %v", diags)
	}
	if got := Sh(t, "ls /srv/it-template-bad.conf 2>&1 || true"); !strings.Contains(got, "No such file") {
		t.Errorf("the file was written: %s", got)
	}
}
