package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPackage installs two small packages with one resource (one apt-get
// call, after apt-get update when the image has no lists), removes them,
// and proves both idempotent.
func TestPackage(t *testing.T) {
	const present = `
    package "tools" {
      name = ["jq", "tree"]
    }`
	state := `dpkg-query -W -f='${Package} ${Status}\n' jq tree 2>&1; true`
	installed := func(s string) int { return strings.Count(s, " install ok installed") }
	if n := installed(Sh(t, state)); n != 0 {
		t.Fatalf("jq or tree is installed before the test:\n%s", Sh(t, state))
	}
	o := Run(t, present, nil, true)
	if len(o.Events) != 1 || !slices.Equal(o.Events[0].Actions, []string{"install jq, tree"}) {
		t.Fatalf("check mode: want one action installing both, got %s", o.Changed())
	}
	Converge(t, Case{
		Present: present,
		Absent: `
    package "tools" {
      name  = ["jq", "tree"]
      state = "absent"
    }`,
		State: state,
		WantPresent: func(t *testing.T, s string) {
			if installed(s) != 2 {
				t.Errorf("not both installed:\n%s", s)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if installed(s) != 0 {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})
}

// TestPackagePinnedAndLatest pins a package to a version older than its
// candidate (apt-get install --allow-downgrades), then upgrades it with
// state = "latest", against a real index. The host image knows bookworm
// only, one version of each package, so the test adds bookworm-security
// for its duration. tzdata is used because it depends on no other package
// at its own version, so apt can move it alone.
func TestPackagePinnedAndLatest(t *testing.T) {
	const list = "/etc/apt/sources.list.d/opsrun-it-package.list"
	t.Cleanup(func() { Sh(t, "rm -f "+list+" && apt-get update -qq") })
	Sh(t, "echo 'deb http://deb.debian.org/debian-security bookworm-security main' > "+list+" && apt-get update -qq")
	latestRes := `
    package "tz" {
      name  = "tzdata"
      state = "latest"
    }`
	Apply(t, latestRes, nil)
	version := func() string {
		return strings.TrimSpace(Sh(t, `dpkg-query -W -f='${Version}' tzdata`))
	}
	latest := version()
	var older string
	for _, v := range strings.Fields(Sh(t, `apt-cache madison tzdata | cut -d'|' -f2`)) {
		if v != latest {
			older = v
			break
		}
	}
	if older == "" {
		t.Skipf("bookworm and bookworm-security hold one version of tzdata (%s): nothing to pin to", latest)
	}
	pinned := fmt.Sprintf(`
    package "tz" {
      name    = "tzdata"
      version = %q
    }`, older)
	phase(t, "check pin", pinned, nil, true, true)
	o := phase(t, "pin", pinned, nil, false, true)
	if want := fmt.Sprintf("change tzdata %s → %s", latest, older); !slices.Equal(o.Events[0].Actions, []string{want}) {
		t.Errorf("pin: actions %q, want %q", o.Events[0].Actions, want)
	}
	if got := version(); got != older {
		t.Fatalf("tzdata is at %s, want the pinned %s", got, older)
	}
	phase(t, "pin again", pinned, nil, false, false)
	phase(t, "check latest", latestRes, nil, true, true)
	if got := version(); got != older {
		t.Fatalf("check mode moved tzdata to %s", got)
	}
	o = phase(t, "latest", latestRes, nil, false, true)
	if want := fmt.Sprintf("upgrade tzdata %s → %s", older, latest); !slices.Equal(o.Events[0].Actions, []string{want}) {
		t.Errorf("latest: actions %q, want %q", o.Events[0].Actions, want)
	}
	if got := version(); got != latest {
		t.Fatalf("tzdata is at %s, want %s", got, latest)
	}
	phase(t, "latest again", latestRes, nil, false, false)

	// A version the index does not have: the plan says what it would do,
	// and apt-get fails the run rather than install something else.
	missing := `
    package "tz" {
      name    = "tzdata"
      version = "1999a-0"
    }`
	o = Run(t, missing, nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "1999a-0") {
		t.Fatalf("a version not in the index: %+v, %s", o.Totals, o.Errors())
	}
	if got := version(); got != latest {
		t.Fatalf("a failed pin moved tzdata to %s", got)
	}
}

// TestPackageBadNameOnDebian: an upper-case name, valid for rpm, is
// refused once the host's manager is known to be apt.
func TestPackageBadNameOnDebian(t *testing.T) {
	o := Run(t, `
    package "bad" {
      name = "Jq"
    }`, nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), `"Jq" is not a package name`) {
		t.Fatalf("want the name refused, got %+v: %s", o.Totals, o.Errors())
	}
}
