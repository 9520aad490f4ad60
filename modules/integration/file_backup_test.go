package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestFileBackup: backup = true keeps exactly one copy per content change,
// none for a run that changes nothing or only checks.
func TestFileBackup(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-backup && mkdir /srv/it-backup")
	defer Sh(t, "rm -rf /srv/it-backup")
	res := func(content, mode string) string {
		return fmt.Sprintf(`
    file "f" {
      path    = "/srv/it-backup/app.conf"
      content = %q
      mode    = %q
      backup  = true
    }`, content, mode)
	}
	list := func() []string { return strings.Fields(Sh(t, "ls -1 /srv/it-backup")) }

	Apply(t, res("v1\n", "0640"), nil)
	Apply(t, res("v1\n", "0600"), nil) // mode only: no copy
	if got := list(); len(got) != 1 {
		t.Fatalf("creating the file or changing its mode made a copy: %q", got)
	}
	if o := Run(t, res("v2\n", "0600"), nil, true); o.Totals.Changed != 1 || len(list()) != 1 {
		t.Fatalf("check mode: %+v, files %q", o.Totals, list())
	}
	o := Apply(t, res("v2\n", "0600"), nil)
	if !strings.Contains(o.Changed(), "back up /srv/it-backup/app.conf") {
		t.Errorf("the summary does not mention the backup: %s", o.Changed())
	}
	if o := Apply(t, res("v2\n", "0600"), nil); o.Totals.Changed != 0 {
		t.Fatalf("second run changed %s", o.Changed())
	}
	got := list()
	if len(got) != 2 {
		t.Fatalf("want app.conf and one backup, got %q", got)
	}
	backup := got[0]
	if backup == "app.conf" {
		backup = got[1]
	}
	if !regexp.MustCompile(`^app\.conf\.[0-9]{8}T[0-9]{6}~$`).MatchString(backup) {
		t.Errorf("backup %q is not named app.conf.YYYYMMDDTHHMMSS~", backup)
	}
	if s := Sh(t, "stat -c '%a' /srv/it-backup/"+backup+"; cat /srv/it-backup/"+backup); s != "600\nv1\n" {
		t.Errorf("backup: %q, want the old content with the old mode", s)
	}
}
