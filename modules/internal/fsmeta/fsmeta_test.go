package fsmeta

import (
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/facts"
)

func TestFix(t *testing.T) {
	root := facts.Stat{Exists: true, Type: facts.Regular, Mode: 0o644, Owner: "root", Group: "root", UID: "0", GID: "0"}
	for _, c := range []struct {
		name    string
		st      facts.Stat
		w       Want
		dir     bool
		cmd     string
		changes string
	}{
		{"nothing", root, Want{Mode: 0o644}, false, "", ""},
		{"numeric ids match", root, Want{Mode: 0o644, Owner: "0", Group: "0"}, false, "", ""},
		{"mode", root, Want{Mode: 0o600}, false, "chmod 0600 /p", "mode 0644 → 0600"},
		{"dir mode has 5 digits", root, Want{Mode: 0o755}, true, "chmod 00755 /p", "mode 0644 → 0755"},
		{"owner and group", root, Want{Mode: 0o644, Owner: "app", Group: "adm"}, false, "chown app:adm /p", "owner root → app, group root → adm"},
		{"group", root, Want{Mode: 0o644, Group: "adm"}, false, "chgrp adm /p", "group root → adm"},
		// chown may clear setuid, so the mode is set again after it.
		{"chown keeps setuid", facts.Stat{Exists: true, Mode: 0o4755, Owner: "root", Group: "root", UID: "0", GID: "0"},
			Want{Mode: 0o4755, Owner: "app"}, false, "chown app /p && chmod 4755 /p", "owner root → app"},
	} {
		if got := Fix("/p", c.st, c.w, c.dir); got != c.cmd {
			t.Errorf("%s: Fix = %q, want %q", c.name, got, c.cmd)
		}
		if got := strings.Join(Changes(c.st, c.w), ", "); got != c.changes {
			t.Errorf("%s: Changes = %q, want %q", c.name, got, c.changes)
		}
	}
}

func TestDescribe(t *testing.T) {
	if got := (Want{Mode: 0o640, Owner: "root", Group: "adm"}).Describe(); got != "mode 0640, owner root, group adm" {
		t.Error(got)
	}
	if got := (Want{Mode: 0o755}).Describe(); got != "mode 0755" {
		t.Error(got)
	}
}

// TestChownVariants checks the recursive and shell-word forms word the
// command as Chown does, with -R or the word in place of the path.
func TestChownVariants(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{ChownR("/opt/a b", "app", "adm"), "chown -R app:adm '/opt/a b'"},
		{ChownR("/opt/a", "", "adm"), "chgrp -R adm /opt/a"},
		{ChownR("/opt/a", "", ""), ""},
		{ChownWord(`"$t"`, "app", ""), `chown app "$t"`},
		{ChownWord(`"$t"`, "", "adm"), `chgrp adm "$t"`},
		{Chown("/p", "app", ""), "chown app /p"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

// TestRemoveFileChangeReplacing checks the shared actions: nothing for a
// missing path or matching metadata, the type named for a non-regular
// file, and a replaced regular file's owner and group kept.
func TestRemoveFileChangeReplacing(t *testing.T) {
	reg := facts.Stat{Exists: true, Type: facts.Regular, Mode: 0o644, Owner: "app", Group: "adm", UID: "1000", GID: "4"}
	if a := RemoveFile("/p", facts.Stat{}); a != nil {
		t.Errorf("absent: %v", a)
	}
	if a := RemoveFile("/p", facts.Stat{Exists: true, Type: facts.Symlink}); len(a) != 1 || a[0].Summary != "remove symbolic link /p" || a[0].Command != "rm -f /p" {
		t.Errorf("link: %v", a)
	}
	if a := Change("/p", reg, Want{Mode: 0o644}, false); a != nil {
		t.Errorf("same: %v", a)
	}
	if a := Change("/p", reg, Want{Mode: 0o600}, false); len(a) != 1 || a[0].Summary != "change /p (mode 0644 → 0600)" || a[0].Command != "chmod 0600 /p" {
		t.Errorf("mode: %v", a)
	}
	if w := (Want{Mode: 0o600, Owner: "root"}).Replacing(reg); w != (Want{Mode: 0o600, Owner: "root", Group: "4"}) {
		t.Errorf("Replacing regular: %+v", w)
	}
	if w := (Want{Mode: 0o600}).Replacing(facts.Stat{Exists: true, Type: facts.Symlink, UID: "1"}); w != (Want{Mode: 0o600}) {
		t.Errorf("Replacing link: %+v", w)
	}
}
