package facts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// accountShells are the shells the account probes run under: the system
// sh (dash) with its tools, bash, and busybox ash with busybox's own
// applets for everything but getent — Alpine's getent is musl's, not a
// busybox applet — and without useradd or groupadd on PATH, as on Alpine
// without the shadow package.
func accountShells(t *testing.T) map[string][]string {
	t.Helper()
	return shells(t, "", []string{"stat", "id", "cat", "printf", "echo", "["}, "getent")
}

// rootShadowField is root's password field in /etc/shadow, or "" when
// this test cannot read it (not root).
func rootShadowField(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, ":"); len(f) > 2 && f[0] == "root" {
			return f[1]
		}
	}
	return ""
}

// TestUserProbeReal runs the user probe on this machine's real accounts
// and files, under every shell, and parses what it printed.
func TestUserProbeReal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "it's a \"home\" $(touch pwned)")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	keys := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbnRlbnQ alice\n# comment\nno final newline"
	mustWrite(t, filepath.Join(home, ".ssh", "authorized_keys"), keys, 0o600)
	empty := t.TempDir()
	shadow := rootShadowField(t)
	for name, shell := range accountShells(t) {
		t.Run(name, func(t *testing.T) {
			u, err := ParseUser(runIn(t, shell, UserProbe(UserQuery{Name: "root", Tools: true})))
			if err != nil {
				t.Fatal(err)
			}
			wantTools := "shadow"
			if name == "busybox" {
				wantTools = "busybox" // no useradd on its PATH
			}
			if !u.Exists || u.Passwd.Name != "root" || u.Passwd.UID != 0 || u.Passwd.GID != 0 || u.Primary != "root" || u.Tools != wantTools {
				t.Errorf("root: %+v", u)
			}

			r := runIn(t, shell, UserProbe(UserQuery{Name: "opsrun-no-such-user", Password: "$6$a$b", Keys: true}))
			u, err = ParseUser(r)
			if err != nil || u.Exists || r.ExitStatus != 2 {
				t.Errorf("missing user: %+v, %v (%+v)", u, err, r)
			}

			u, err = ParseUser(runIn(t, shell, UserProbe(UserQuery{Name: "root", Keys: true, Home: home})))
			if err != nil {
				t.Fatal(err)
			}
			k := u.Keys
			if k == nil || k.Home != home || k.Dir.Type != Directory || k.Dir.Mode != 0o700 || k.File.Type != Regular ||
				k.File.Mode != 0o600 || !k.HasContent || string(k.Content) != keys {
				t.Errorf("keys: %+v", k)
			}

			u, err = ParseUser(runIn(t, shell, UserProbe(UserQuery{Name: "root", Keys: true, Home: empty})))
			if err != nil || u.Keys == nil || u.Keys.Dir.Exists || u.Keys.File.Exists || u.Keys.HasContent {
				t.Errorf("no .ssh: %+v, %v", u.Keys, err)
			}

			u, err = ParseUser(runIn(t, shell, UserProbe(UserQuery{Name: "root", Keys: true})))
			if err != nil || u.Keys == nil || u.Keys.Home != "/root" {
				t.Errorf("home from passwd: %+v, %v", u.Keys, err)
			}

			if shadow == "" {
				t.Log("cannot read /etc/shadow: password comparison not tested")
				return
			}
			for pw, want := range map[string]string{shadow: "same", "$6$salt$" + shadow: "differs", "x'y": "differs"} {
				u, err = ParseUser(runIn(t, shell, UserProbe(UserQuery{Name: "root", Password: pw})))
				if err != nil || u.Password != want {
					t.Errorf("password %q: %q, %v; want %q", pw, u.Password, err, want)
				}
			}
		})
	}
	if _, err := os.Stat("pwned"); err == nil {
		t.Fatal("a path was interpreted by the shell")
	}
}

// TestUserProbeCommand pins the user probe's commands: they run as root.
func TestUserProbeCommand(t *testing.T) {
	for _, c := range []struct {
		q       UserQuery
		id, cmd string
	}{
		{UserQuery{Name: "app"}, "user:app",
			`p=$(getent passwd app) || exit; printf 'passwd %s\n' "$p"; printf 'groups %s\n' "$(id -Gn app)"`},
		{UserQuery{Name: "app", Tools: true, Password: "$6$s$h"}, "user:app+tools+password",
			`if command -v useradd >/dev/null; then echo 'tools shadow'; else echo 'tools busybox'; fi; ` +
				`p=$(getent passwd app) || exit; printf 'passwd %s\n' "$p"; printf 'groups %s\n' "$(id -Gn app)"; ` +
				`s=$(getent shadow app); s=${s#*:}; s=${s%%:*}; if [ "$s" = '$6$s$h' ]; then echo 'password same'; else echo 'password differs'; fi`},
		{UserQuery{Name: "app", Keys: true}, "user:app+keys",
			`p=$(getent passwd app) || exit; printf 'passwd %s\n' "$p"; printf 'groups %s\n' "$(id -Gn app)"; ` +
				`h=${p#*:*:*:*:*:}; h=${h%%:*}; printf 'home %s\n' "$h"; d="$h/.ssh"; f="$d/authorized_keys"; ` +
				`printf 'sshdir '; if [ -e "$d" ] || [ -h "$d" ]; then LC_ALL=C stat -c '%F` + "\t%a\t%U\t%G\t%s\t%u\t%g" + `' "$d"; else echo absent; fi; ` +
				`printf 'keys '; if [ -e "$f" ] || [ -h "$f" ]; then LC_ALL=C stat -c '%F` + "\t%a\t%U\t%G\t%s\t%u\t%g" + `' "$f"; else echo absent; fi; ` +
				`if [ -f "$f" ] && [ ! -h "$f" ]; then echo content; cat "$f"; fi`},
	} {
		p := UserProbe(c.q)
		if p.ID != c.id || p.Command != c.cmd {
			t.Errorf("%+v:\n got %s %s\nwant %s %s", c.q, p.ID, p.Command, c.id, c.cmd)
		}
		if p.Sensitive != (c.q.Password != "") || strings.Contains(p.ID, "$6$") {
			t.Errorf("%+v: sensitive %v, ID %s", c.q, p.Sensitive, p.ID)
		}
		if strings.ContainsAny(p.Command, "\n\r") {
			t.Errorf("%s: multi-line command", p.ID)
		}
	}
	if p := UserProbe(UserQuery{Name: "app", Keys: true, Home: "/srv/it's"}); p.ID != "user:app+keys:/srv/it's" ||
		!strings.Contains(p.Command, `h='/srv/it'"'"'s'; printf`) {
		t.Errorf("declared home: %s %s", p.ID, p.Command)
	}
}

// The samples below are real output: Debian 12's getent (glibc), id (GNU
// coreutils) and stat; musl's getent prints the same "%s:%s:%u:%u:%s:%s:%s"
// passwd lines (Alpine aports main/musl/getent.c) and busybox's id -Gn the
// same primary-first list (coreutils/id.c).
func TestParseUser(t *testing.T) {
	out := "passwd app:x:1500:1500:App runner,,,:/home/app:/bin/bash\n" +
		"groups app adm www-data app\n" +
		"password same\n" +
		"home /home/app\n" +
		"sshdir directory\t700\tapp\tapp\t4096\t1500\t1500\n" +
		"keys regular file\t600\tapp\tapp\t12\t1500\t1500\n" +
		"content\nssh-ed25519 AAAA k\n\nlast line"
	got, err := ParseUser(modules.ProbeResult{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	want := UserState{
		Exists:   true,
		Passwd:   PasswdEntry{Name: "app", UID: 1500, GID: 1500, Gecos: "App runner,,,", Home: "/home/app", Shell: "/bin/bash"},
		Primary:  "app",
		Groups:   []string{"adm", "www-data"},
		Password: "same",
		Keys: &AuthorizedKeys{
			Home:    "/home/app",
			Dir:     Stat{Exists: true, Type: Directory, Mode: 0o700, Owner: "app", Group: "app", UID: "1500", GID: "1500", Size: 4096},
			File:    Stat{Exists: true, Type: Regular, Mode: 0o600, Owner: "app", Group: "app", UID: "1500", GID: "1500", Size: 12},
			Content: []byte("ssh-ed25519 AAAA k\n\nlast line"), HasContent: true,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v\nkeys %+v", got, want, got.Keys)
	}
	// An empty authorized_keys: "content" and nothing after it.
	got, err = ParseUser(modules.ProbeResult{Stdout: "passwd app:x:1:1::/h:/bin/sh\ngroups app\nhome /h\n" +
		"sshdir directory\t700\tapp\tapp\t4096\t1\t1\nkeys regular empty file\t600\tapp\tapp\t0\t1\t1\ncontent\n"})
	if err != nil || !got.Keys.HasContent || len(got.Keys.Content) != 0 {
		t.Errorf("empty file: %+v, %v", got.Keys, err)
	}
	// A user whose primary group has no name: id prints its number.
	got, err = ParseUser(modules.ProbeResult{Stdout: "tools busybox\npasswd app:x:1:4242::/h:/bin/sh\ngroups 4242 wheel\n"})
	if err != nil || got.Primary != "4242" || !reflect.DeepEqual(got.Groups, []string{"wheel"}) || got.Tools != "busybox" {
		t.Errorf("nameless group: %+v, %v", got, err)
	}
	if got, err := ParseUser(modules.ProbeResult{Stdout: "tools shadow\n", ExitStatus: 2}); err != nil || got.Exists || got.Tools != "shadow" {
		t.Errorf("absent: %+v, %v", got, err)
	}
	for out, e := range map[string]string{
		"":                                 "exit status 127",
		"passwd app:x:1:1:/h:/bin/sh\n":    "6 fields",
		"passwd app:x:one:1::/h:/bin/sh\n": "want name:x:uid",
		"passwd app:x:1:1::/h:/bin/sh\n":   "no groups line",
		"passwd app:x:1:1::/h:/bin/sh\ngroups \n": "want the user's groups",
		"groups app\n": "want the user's groups",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app\npassword maybe\n":                                     "want same or differs",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app\nsshdir absent\n":                                      "before home",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app\nhome /h\nkeys regular file\t600\tapp\tapp\t3\t1\t1\n": "no content",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app\nhome /h\nkeys absent\ncontent\nx":                     "content before",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app\nwhat\n":                                               "unexpected line",
		"passwd app:x:1:1::/h:/bin/sh\ngroups app":                                                       "mid-line",
		"tools toybox\n": "want shadow or busybox",
	} {
		status := 0
		if out == "" {
			status = 127
		}
		if _, err := ParseUser(modules.ProbeResult{Stdout: out, ExitStatus: status}); !errMatches(err, e) {
			t.Errorf("%q: %v, want %q", out, err, e)
		}
	}
}

func FuzzParseUser(f *testing.F) {
	f.Add("passwd app:x:1:1::/h:/bin/sh\ngroups app adm\npassword differs\nhome /h\nsshdir absent\nkeys absent\n", 0)
	f.Add("tools busybox\n", 2)
	f.Add("passwd a:x:1:1::/h:/bin/sh\ngroups a\nhome /h\nsshdir absent\nkeys regular file\t600\ta\ta\t3\t1\t1\ncontent\nabc", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		u, err := ParseUser(modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err != nil {
			return
		}
		if u.Exists && (u.Passwd.Name == "" || u.Primary == "") {
			t.Errorf("accepted inconsistent %+v", u)
		}
		if !u.Exists && (u.Keys != nil || u.Password != "" || len(u.Groups) > 0) {
			t.Errorf("absent user with facts: %+v", u)
		}
		if u.Keys != nil && u.Keys.HasContent != (u.Keys.File.Type == Regular) {
			t.Errorf("content without a regular file, or the reverse: %+v", u.Keys)
		}
	})
}
