package user

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/facts"
)

const (
	alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCXVWlGzdgPAjsgaicVxbq55lfHRA40PSatsMz7bfvM alice@laptop"
	bob   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYERgqfeD/b3XboLseMBkMKFi1+VH1VmFHHCtMdpmya bob@laptop"
	hash  = "$6$opsrunsalt1234$KYi5lNoG/Me0KlAu3brsjLlKa6Syvuc4A7kQFpd2BHzeGJ6gBC4DuP1slDNZ58zPKTgnuzQYWwS5WyhGlSv.i/"
)

func newUser(t testing.TB, attrs map[string]cty.Value) *resource {
	t.Helper()
	res, err := New(modules.Config{Name: "t", Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return res.(*resource)
}

// FuzzKeysContent proves keysContent reaches a fixed point whatever the
// host's file holds: the content it writes, read back, needs no further
// change (a second run is idempotent), in both modes.
func FuzzKeysContent(f *testing.F) {
	f.Add("", false)
	f.Add(alice+"\n", true)
	f.Add("# hand\n"+alice+" other comment\n"+alice+"\n\nno newline", false)
	f.Add("from=\"x\" "+bob+"\r\n"+alice, false)
	f.Fuzz(func(t *testing.T, host string, exclusive bool) {
		res := newUser(t, map[string]cty.Value{
			"name":            cty.StringVal("app"),
			"exclusive":       cty.BoolVal(exclusive),
			"authorized_keys": cty.ListVal([]cty.Value{cty.StringVal(alice), cty.StringVal(`command="true" ` + bob)}),
		})
		first, _ := res.keysContent([]byte(host))
		second, change := res.keysContent(first)
		if string(second) != string(first) || len(change) > 0 {
			t.Fatalf("not a fixed point:\nhost   %q\nfirst  %q\nsecond %q (%v)", host, first, second, change)
		}
		for _, k := range res.keys {
			if !strings.Contains(string(first), k.line+"\n") {
				t.Fatalf("declared key missing from %q", first)
			}
		}
	})
}

// TestPasswordNeverShown plans a password change and a creation with a
// password that came from no sensitive variable: the hash is in no
// summary, diff, command or probe ID, and what carries it is sensitive.
func TestPasswordNeverShown(t *testing.T) {
	res := newUser(t, map[string]cty.Value{"name": cty.StringVal("app"), "password": cty.StringVal(hash)})
	h := &modules.Host{OSFamily: "debian"}
	p := res.Probes(h)[0]
	if !p.Sensitive || strings.Contains(p.ID, hash) || !strings.Contains(p.Command, hash) {
		t.Errorf("probe %s: sensitive %v", p.ID, p.Sensitive)
	}
	for _, out := range []string{"", "passwd app:x:1:1::/home/app:/bin/sh\ngroups app\npassword differs\n"} {
		status := 0
		if out == "" {
			status = 2
		}
		acts, err := res.Plan(h, modules.Facts{p.ID: {Stdout: out, ExitStatus: status}})
		if err != nil {
			t.Fatal(err)
		}
		var carried bool
		for _, a := range acts {
			if strings.Contains(a.Summary+a.Diff+a.Command, hash) {
				t.Errorf("%q shows the hash", a.Summary)
			}
			if a.Upload != nil && strings.Contains(string(a.Upload.Content), hash) {
				carried = true
				if !a.Sensitive || a.Upload.Mode != 0o600 {
					t.Errorf("%q carries the hash but is not sensitive or not 0600", a.Summary)
				}
			}
		}
		if !carried {
			t.Errorf("no action sets the password: %+v", acts)
		}
	}
}

// TestPlanNeedsKeysFacts: a probe that reports an existing user but no
// keys section is an error, not a panic.
func TestPlanNeedsKeysFacts(t *testing.T) {
	res := newUser(t, map[string]cty.Value{
		"name":            cty.StringVal("app"),
		"authorized_keys": cty.ListVal([]cty.Value{cty.StringVal(alice)}),
	})
	_, err := res.planKeys(facts.UserState{Exists: true})
	if err == nil || !strings.Contains(err.Error(), "did not report the authorized_keys file") {
		t.Errorf("got %v", err)
	}
}
