package integration

import (
	"fmt"
	"strings"
	"testing"
)

// Public keys and password hashes made offline for these tests
// (ssh-keygen -t ed25519; openssl passwd -6 -salt SALT PASSWORD): fixed,
// so the tests can compare what lands on the host byte for byte.
const (
	itAlice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCXVWlGzdgPAjsgaicVxbq55lfHRA40PSatsMz7bfvM alice@laptop"
	itBob   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYERgqfeD/b3XboLseMBkMKFi1+VH1VmFHHCtMdpmya bob@laptop"
	itCarol = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA9iONwknYQmC2oNYRVrHBlqFiMgTRPALJX0GmGVC7bH carol@laptop"
	itHash1 = "$6$opsrunsalt1234$KYi5lNoG/Me0KlAu3brsjLlKa6Syvuc4A7kQFpd2BHzeGJ6gBC4DuP1slDNZ58zPKTgnuzQYWwS5WyhGlSv.i/"
	itHash2 = "$6$opsrunit2$L09U2gyJNsvdXQWxlUSyYQ2RYq3jFXzUKxWxulF/.x3pyclISw3mya.k00d1rEnC7mzknJ1.z0hPn9AzwHq/C."
)

// userState prints what the user tests check: the account, its groups,
// its shadow hash and its ~/.ssh, whether or not they exist.
func userState(name, home string) string {
	return fmt.Sprintf(`getent passwd %[1]s; echo "groups: $(id -Gn %[1]s 2>&1)"; echo "hash: $(getent shadow %[1]s | cut -d: -f2)"; `+
		`stat -c '%%n %%a %%U %%G' %[2]s %[2]s/.ssh %[2]s/.ssh/authorized_keys 2>&1; echo keys:; cat %[2]s/.ssh/authorized_keys 2>&1; true`, name, home)
}

func TestUser(t *testing.T) {
	Sh(t, "userdel -r it-user 2>/dev/null; groupdel it-user-grp 2>/dev/null; groupdel it-user-sup 2>/dev/null; rm -rf /srv/it-user; true")
	Converge(t, Case{
		Present: `
    group "g" {
      name = "it-user-grp"
      gid  = 2400
    }
    group "s" {
      name = "it-user-sup"
    }
    user "u" {
      name            = "it-user"
      uid             = 2401
      group           = "it-user-grp"
      groups          = ["it-user-sup", "adm"]
      shell           = "/bin/bash"
      home            = "/srv/it-user"
      comment         = "Integration user"
      password        = "` + itHash1 + `"
      authorized_keys = ["` + itAlice + `", "` + itBob + `"]
    }`,
		Absent: `
    user "u" {
      name   = "it-user"
      state  = "absent"
      remove = true
    }
    group "s" {
      name  = "it-user-sup"
      state = "absent"
    }
    group "g" {
      name  = "it-user-grp"
      state = "absent"
    }`,
		State: userState("it-user", "/srv/it-user") + "; getent group it-user-grp it-user-sup; true",
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{
				"it-user:x:2401:2400:Integration user:/srv/it-user:/bin/bash\n",
				"groups: it-user-grp ",
				"hash: " + itHash1 + "\n",
				"/srv/it-user/.ssh 700 it-user it-user-grp\n",
				"/srv/it-user/.ssh/authorized_keys 600 it-user it-user-grp\n",
				"keys:\n" + itAlice + "\n" + itBob + "\n",
				"it-user-grp:x:2400:\n",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
			groups := lineAfter(s, "groups: ")
			if f := strings.Fields(groups); len(f) != 3 || !strings.Contains(groups, " adm") || !strings.Contains(groups, " it-user-sup") {
				t.Errorf("groups %q, want it-user-grp, adm and it-user-sup", groups)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if strings.Contains(s, "it-user:x:") || !strings.Contains(s, "no such user") || strings.Contains(s, "it-user-grp:") || strings.Contains(s, "it-user-sup:") {
				t.Errorf("user or groups not removed:\n%s", s)
			}
			if strings.Count(s, "No such file") != 4 { // the home, .ssh, the keys (stat), the keys (cat)
				t.Errorf("home not removed:\n%s", s)
			}
		},
	})
}

// lineAfter is the rest of the line of s that starts with prefix.
func lineAfter(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest
		}
	}
	return ""
}

// TestUserChanges changes an existing user field by field: shell, comment,
// exact and appended groups, the password (never shown, never on a command
// line) and authorized_keys, exclusive or not.
func TestUserChanges(t *testing.T) {
	Sh(t, "userdel -r it-user2 2>/dev/null; groupdel it-user2-sup 2>/dev/null; groupadd it-user2-sup")
	defer Sh(t, "userdel -r it-user2 2>/dev/null; groupdel it-user2-sup 2>/dev/null; true")
	user := func(attrs string) string {
		return `
    user "u" {
      name = "it-user2"
` + attrs + `
    }`
	}
	state := userState("it-user2", "/home/it-user2")

	// Created with defaults for home (/home/it-user2, given to useradd
	// because of the keys) and the user's own group.
	Apply(t, user(`
      shell           = "/bin/sh"
      groups          = ["it-user2-sup", "adm"]
      password        = "`+itHash1+`"
      authorized_keys = ["`+itAlice+`"]`), nil)
	s := Sh(t, state)
	for _, want := range []string{":/home/it-user2:/bin/sh\n", "/home/it-user2/.ssh 700 it-user2 it-user2\n",
		"/home/it-user2/.ssh/authorized_keys 600 it-user2 it-user2\n", "hash: " + itHash1 + "\n"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after create, state lacks %q:\n%s", want, s)
		}
	}

	changed := user(`
      shell           = "/bin/bash"
      comment         = "Changed"
      groups          = ["adm"]
      password        = "` + itHash2 + `"
      authorized_keys = ["` + itAlice + `"]`)
	before := Sh(t, state)
	if o := Run(t, changed, nil, true); o.Totals.Changed == 0 || o.Totals.Failed > 0 {
		t.Fatalf("check mode: %s %s", o.Changed(), o.Errors())
	}
	if got := Sh(t, state); got != before {
		t.Fatalf("check mode changed the host:\n%s\n%s", before, got)
	}
	o := Apply(t, changed, nil)
	var summaries []string
	for _, e := range o.Events {
		summaries = append(summaries, e.Actions...)
	}
	if want := []string{`change it-user2: shell /bin/sh → /bin/bash; comment "" → "Changed"; remove from groups it-user2-sup`, "set it-user2's password"}; strings.Join(summaries, "\n") != strings.Join(want, "\n") {
		t.Errorf("actions %q, want %q", summaries, want)
	}
	// The hash reached the host through an upload: not in the run's
	// events, nor in the journal where sudo logs every command line.
	for _, e := range o.Events {
		all := strings.Join(e.Actions, " ") + strings.Join(e.Diffs, " ") + e.Error + e.Reason
		if strings.Contains(all, "opsrunit2") {
			t.Errorf("event of %s shows the password hash: %s", e.Resource, all)
		}
	}
	// The journal logs sudo's command lines (so the check below is not
	// vacuous); the password's action, being sensitive, reached the host
	// on stdin, so not even the upload's path is there.
	if got := Sh(t, "journalctl --no-pager 2>/dev/null | grep -c 'sudo.*COMMAND='; true"); got == "0\n" {
		t.Errorf("the journal has no sudo command log: the hash check proves nothing (%q)", got)
	}
	if got := Sh(t, "journalctl --no-pager 2>/dev/null | grep -c 'chpasswd'; true"); got != "0\n" {
		t.Errorf("a sensitive action's command is in the journal (%q lines)", got)
	}
	if got := Sh(t, "journalctl --no-pager 2>/dev/null | grep -c opsrunit2; ls /run/opsrun-password-* 2>/dev/null; true"); got != "0\n" {
		t.Errorf("the hash is in the journal, or its file was left in /run: %q", got)
	}
	s = Sh(t, state)
	if !strings.Contains(s, ":Changed:/home/it-user2:/bin/bash\n") || !strings.Contains(s, "hash: "+itHash2+"\n") ||
		strings.TrimSpace(lineAfter(s, "groups: ")) != "it-user2 adm" {
		t.Errorf("not changed:\n%s", s)
	}
	if o := Apply(t, changed, nil); o.Totals.Changed != 0 {
		t.Errorf("second run changed %s", o.Changed())
	}

	// append = true joins a group and leaves the others.
	if o := Apply(t, user(`
      groups = ["it-user2-sup"]
      append = true`), nil); !strings.Contains(o.Changed(), "add to groups it-user2-sup") {
		t.Errorf("append: %s", o.Changed())
	}
	if g := strings.TrimSpace(lineAfter(Sh(t, state), "groups: ")); g != "it-user2 adm it-user2-sup" {
		t.Errorf("append: groups %q", g)
	}

	// exclusive = false keeps lines written by hand and appends what is
	// missing; exclusive (the default) then makes the file exactly the keys.
	Sh(t, "printf '# by hand\\n%s\\n' '"+itBob+"' >> /home/it-user2/.ssh/authorized_keys")
	if o := Apply(t, user(`
      authorized_keys = ["`+itAlice+`"]
      exclusive       = false`), nil); o.Totals.Changed != 0 {
		t.Errorf("non-exclusive with every key there changed %s", o.Changed())
	}
	o = Apply(t, user(`
      authorized_keys = ["`+itCarol+`", "`+itAlice+`"]
      exclusive       = false`), nil)
	if !strings.Contains(o.Changed(), "update /home/it-user2/.ssh/authorized_keys (add 1 key)") {
		t.Errorf("non-exclusive: %s", o.Changed())
	}
	want := itAlice + "\n# by hand\n" + itBob + "\n" + itCarol + "\n"
	if got := Sh(t, "cat /home/it-user2/.ssh/authorized_keys"); got != want {
		t.Errorf("non-exclusive content:\n%s\nwant\n%s", got, want)
	}
	o = Apply(t, user(`
      authorized_keys = ["`+itAlice+`"]`), nil)
	if !strings.Contains(o.Changed(), "remove 2 keys") {
		t.Errorf("exclusive: %s", o.Changed())
	}
	if got := Sh(t, "cat /home/it-user2/.ssh/authorized_keys; stat -c '%a %U %G' /home/it-user2/.ssh/authorized_keys"); got != itAlice+"\n600 it-user2 it-user2\n" {
		t.Errorf("exclusive content: %q", got)
	}
}
