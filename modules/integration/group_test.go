package integration

import (
	"strings"
	"testing"
)

func TestGroup(t *testing.T) {
	Sh(t, "groupdel it-group 2>/dev/null; true")
	Converge(t, Case{
		Present: `
    group "g" {
      name = "it-group"
      gid  = 2345
    }`,
		Absent: `
    group "g" {
      name  = "it-group"
      state = "absent"
    }`,
		State: `getent group it-group; true`,
		WantPresent: func(t *testing.T, s string) {
			if s != "it-group:x:2345:\n" {
				t.Errorf("group not made with its gid: %q", s)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if s != "" {
				t.Errorf("group not removed: %q", s)
			}
		},
	})
}

// TestGroupChangeGID changes an existing group's gid with groupmod; a
// second run changes nothing.
func TestGroupChangeGID(t *testing.T) {
	Sh(t, "groupdel it-group-gid 2>/dev/null; groupadd -g 2350 it-group-gid")
	defer Sh(t, "groupdel it-group-gid 2>/dev/null; true")
	hcl := `
    group "g" {
      name = "it-group-gid"
      gid  = 2351
    }`
	o := Apply(t, hcl, nil)
	if !strings.Contains(o.Changed(), "change group it-group-gid: gid 2350 → 2351") {
		t.Errorf("changed %s", o.Changed())
	}
	if got := Sh(t, "getent group it-group-gid"); got != "it-group-gid:x:2351:\n" {
		t.Errorf("gid not changed: %q", got)
	}
	if o := Apply(t, hcl, nil); o.Totals.Changed != 0 {
		t.Errorf("second run changed %s", o.Changed())
	}
}
