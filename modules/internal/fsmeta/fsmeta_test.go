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
