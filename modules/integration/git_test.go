package integration

import (
	"strings"
	"testing"
)

// itGitCommit commits a change of f in the scratch clone of repo and
// pushes it; it returns the new commit's id.
func itGitCommit(t *testing.T, scratch, content string) string {
	t.Helper()
	return strings.TrimSpace(Sh(t, "cd "+scratch+" && echo '"+content+"' > f && git add f && "+
		"git -c user.name=it -c user.email=it@example.com commit -qm '"+content+"' && git push -q origin main && git rev-parse HEAD"))
}

// itGitHead is the checkout's HEAD and branch, or git's error.
func itGitHead(t *testing.T, path string) string {
	t.Helper()
	return strings.TrimSpace(Sh(t, "git -C "+path+" rev-parse HEAD 2>&1; git -C "+path+" symbolic-ref --short HEAD 2>&1; true"))
}

// TestGit proves the git type on the Debian host against a bare
// repository on the host itself (no network): git installed by a package
// resource, a clone, no change on a second run, a pushed commit moves
// HEAD (and only then a change), local changes refused and then
// discarded with force, a clone as another user, and absent.
func TestGit(t *testing.T) {
	need(t)
	Apply(t, `
    package "git" {
      name = "git"
    }`, nil)
	t.Cleanup(func() { Sh(t, "rm -rf /srv/it-git") })
	Sh(t, "rm -rf /srv/it-git && mkdir -p /srv/it-git && git init -q --bare /srv/it-git/repo.git && "+
		"git -C /srv/it-git/repo.git symbolic-ref HEAD refs/heads/main && "+
		"git clone -q /srv/it-git/repo.git /srv/it-git/scratch 2>/dev/null && git -C /srv/it-git/scratch checkout -q -b main")
	first := itGitCommit(t, "/srv/it-git/scratch", "one")

	present := `
    git "app" {
      repository = "file:///srv/it-git/repo.git"
      path       = "/srv/it-git/checkout"
    }`
	Converge(t, Case{
		Present: present,
		Absent: `
    git "app" {
      repository = "file:///srv/it-git/repo.git"
      path       = "/srv/it-git/checkout"
      state      = "absent"
    }`,
		State: `git -C /srv/it-git/checkout rev-parse HEAD 2>&1; cat /srv/it-git/checkout/f 2>&1; true`,
		WantPresent: func(t *testing.T, s string) {
			if !strings.HasPrefix(s, first+"\none\n") {
				t.Errorf("checkout is not at %s:\n%s", first, s)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if !strings.Contains(s, "cannot change to '/srv/it-git/checkout'") {
				t.Errorf("checkout not removed:\n%s", s)
			}
		},
	})

	// The default branch is followed: a pushed commit moves HEAD.
	Apply(t, present, nil)
	if got := itGitHead(t, "/srv/it-git/checkout"); got != first+"\nmain" {
		t.Fatalf("HEAD and branch after the clone: %q", got)
	}
	second := itGitCommit(t, "/srv/it-git/scratch", "two")
	if o := Run(t, present, nil, true); o.Totals.Changed != 1 {
		t.Errorf("check mode after a push: %s", o.Changed())
	}
	if got := itGitHead(t, "/srv/it-git/checkout"); got != first+"\nmain" {
		t.Fatalf("check mode moved HEAD: %q", got)
	}
	o := Apply(t, present, nil)
	if want := "update /srv/it-git/checkout: " + first[:7] + " → " + second[:7] + " (branch main)"; o.Totals.Changed != 1 || !strings.Contains(o.Changed(), want) {
		t.Errorf("after a push: changed %s, want %q", o.Changed(), want)
	}
	if got := itGitHead(t, "/srv/it-git/checkout"); got != second+"\nmain" {
		t.Errorf("HEAD after the update: %q", got)
	}
	if o := Apply(t, present, nil); o.Totals.Changed != 0 {
		t.Errorf("run after the update changed %s", o.Changed())
	}

	// Local changes: refused, untouched; force discards them.
	Sh(t, "echo local > /srv/it-git/checkout/f")
	if o := Run(t, present, nil, false); o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "/srv/it-git/checkout has local changes to tracked files") {
		t.Errorf("dirty checkout: %+v %s", o.Totals, o.Errors())
	}
	if got := Sh(t, "cat /srv/it-git/checkout/f"); got != "local\n" {
		t.Errorf("local change touched: %q", got)
	}
	forced := `
    git "app" {
      repository = "file:///srv/it-git/repo.git"
      path       = "/srv/it-git/checkout"
      ref        = "main"
      force      = true
    }`
	if o := Apply(t, forced, nil); !strings.Contains(o.Changed(), "discard local changes in /srv/it-git/checkout") {
		t.Errorf("force: %s", o.Changed())
	}
	if got := Sh(t, "cat /srv/it-git/checkout/f"); got != "two\n" {
		t.Errorf("after force: %q", got)
	}

	// A pinned commit detaches HEAD there, and stays put.
	pinned := `
    git "app" {
      repository = "/srv/it-git/repo.git"
      path       = "/srv/it-git/checkout"
      commit     = "` + first + `"
      depth      = 1
    }`
	o = Apply(t, pinned, nil)
	if !strings.Contains(o.Changed(), "change origin of /srv/it-git/checkout to /srv/it-git/repo.git") ||
		!strings.Contains(o.Changed(), second[:7]+" → "+first[:7]+" (pinned commit)") {
		t.Errorf("pin: %s", o.Changed())
	}
	if got := itGitHead(t, "/srv/it-git/checkout"); !strings.HasPrefix(got, first+"\nfatal: ref HEAD is not a symbolic ref") {
		t.Errorf("HEAD after the pin: %q", got)
	}
	itGitCommit(t, "/srv/it-git/scratch", "three")
	if o := Apply(t, pinned, nil); o.Totals.Changed != 0 {
		t.Errorf("a push moved a pinned checkout: %s", o.Changed())
	}

	// As another user: the checkout is deploy's, and so is the
	// repository (git refuses a local repository owned by someone else).
	Sh(t, "mkdir -p /srv/it-git/deploy && cp -a /srv/it-git/repo.git /srv/it-git/deploy/repo.git && chown -R deploy /srv/it-git/deploy")
	asDeploy := `
    git "deploy" {
      repository = "/srv/it-git/deploy/repo.git"
      path       = "/srv/it-git/deploy/app"
      ref        = "main"
      user       = "deploy"
      depth      = 1
    }`
	phase(t, "clone as deploy", asDeploy, nil, false, true)
	phase(t, "again as deploy", asDeploy, nil, false, false)
	if got := Sh(t, "stat -c %U /srv/it-git/deploy/app /srv/it-git/deploy/app/f /srv/it-git/deploy/app/.git/HEAD"); got != "deploy\ndeploy\ndeploy\n" {
		t.Errorf("owners of deploy's checkout:\n%s", got)
	}
	if got := Sh(t, "runuser -u deploy -- git -C /srv/it-git/deploy/app rev-list --count HEAD"); got != "1\n" {
		t.Errorf("depth 1 gave %q commits", got)
	}
}
