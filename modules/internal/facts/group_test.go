package facts

import (
	"reflect"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// TestGroupProbeReal runs the group probe on this machine's groups under
// every shell; busybox's PATH has no groupadd, as Alpine without shadow.
func TestGroupProbeReal(t *testing.T) {
	for name, shell := range accountShells(t) {
		t.Run(name, func(t *testing.T) {
			g, err := ParseGroup(runIn(t, shell, GroupProbe("root", true)))
			wantTools := "shadow"
			if name == "busybox" {
				wantTools = "busybox"
			}
			if err != nil || !g.Exists || g.Group.Name != "root" || g.Group.GID != 0 || g.Tools != wantTools {
				t.Errorf("root: %+v, %v", g, err)
			}
			r := runIn(t, shell, GroupProbe("opsrun-no-such-group", false))
			g, err = ParseGroup(r)
			if err != nil || g.Exists || r.ExitStatus != 2 {
				t.Errorf("missing group: %+v, %v (%+v)", g, err, r)
			}
		})
	}
}

func TestGroupProbeCommand(t *testing.T) {
	if p := GroupProbe("app", false); p.ID != "group:app" || p.Command != "getent group app" {
		t.Errorf("got %+v", p)
	}
	if p := GroupProbe("app", true); p.ID != "group:app+tools" ||
		p.Command != "if command -v groupadd >/dev/null; then echo 'tools shadow'; else echo 'tools busybox'; fi; getent group app" {
		t.Errorf("got %+v", p)
	}
}

// Samples are Debian 12's getent group output; musl's getent prints the
// same "%s:%s:%u" and ":"-then-","-joined members (Alpine aports
// main/musl/getent.c).
func TestParseGroup(t *testing.T) {
	for _, c := range []struct {
		out    string
		status int
		want   GroupState
		err    string
	}{
		{"docker:x:999:app,deploy\n", 0, GroupState{Exists: true, Group: GroupEntry{Name: "docker", GID: 999, Members: []string{"app", "deploy"}}}, ""},
		{"adm:x:4:\n", 0, GroupState{Exists: true, Group: GroupEntry{Name: "adm", GID: 4}}, ""},
		{"tools busybox\nadm:x:4:\n", 0, GroupState{Tools: "busybox", Exists: true, Group: GroupEntry{Name: "adm", GID: 4}}, ""},
		{"", 2, GroupState{}, ""},
		{"tools shadow\n", 2, GroupState{Tools: "shadow"}, ""},
		{"", 127, GroupState{}, "exit status 127"},
		{"adm:x:4:\n", 1, GroupState{}, "exit status 1"},
		{"adm:x:4\n", 0, GroupState{}, "3 fields"},
		{"adm:x:-4:\n", 0, GroupState{}, "want name:x:gid"},
		{"adm:x:4294967296:\n", 0, GroupState{}, "want name:x:gid"},
		{"adm:x:4:\nadm:x:4:\n", 0, GroupState{}, "2 lines"},
		{"tools toybox\n", 2, GroupState{}, "want shadow or busybox"},
	} {
		got, err := ParseGroup(modules.ProbeResult{Stdout: c.out, ExitStatus: c.status})
		if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q (%d): got %+v, %v; want %+v, %q", c.out, c.status, got, err, c.want, c.err)
		}
	}
}

func FuzzParseGroup(f *testing.F) {
	f.Add("docker:x:999:app,deploy\n", 0)
	f.Add("tools shadow\n", 2)
	f.Fuzz(func(t *testing.T, out string, status int) {
		g, err := ParseGroup(modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err == nil && g.Exists && g.Group.Name == "" {
			t.Errorf("accepted a group without a name: %+v", g)
		}
		if err == nil && g.Tools != "" && g.Tools != "shadow" && g.Tools != "busybox" {
			t.Errorf("tools %q", g.Tools)
		}
	})
}
