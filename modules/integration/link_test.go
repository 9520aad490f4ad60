package integration

import (
	"strings"
	"testing"
)

func TestLink(t *testing.T) {
	Converge(t, Case{
		Present: `
    directory "d" {
      path = "/srv/it-link"
    }
    file "t" {
      path       = "/srv/it-link/target.txt"
      content    = "hello\n"
      depends_on = [directory.d]
    }
    link "s" {
      path       = "/srv/it-link/current"
      target     = "target.txt"
      owner      = "deploy"
      depends_on = [file.t]
    }
    link "h" {
      path       = "/srv/it-link/hard.txt"
      target     = "/srv/it-link/target.txt"
      type       = "hard"
      depends_on = [file.t]
    }`,
		Absent: `
    link "s" {
      path  = "/srv/it-link/current"
      state = "absent"
    }
    link "h" {
      path   = "/srv/it-link/hard.txt"
      target = "/srv/it-link/target.txt"
      type   = "hard"
      state  = "absent"
    }
    file "t" {
      path  = "/srv/it-link/target.txt"
      state = "absent"
    }
    directory "d" {
      path  = "/srv/it-link"
      state = "absent"
    }`,
		State: `cd /srv && for p in it-link/current it-link/hard.txt it-link/target.txt; do stat -c '%n|%F|%U|%i|%h' "$p" 2>&1; done; readlink it-link/current; cat it-link/current 2>&1; true`,
		WantPresent: func(t *testing.T, s string) {
			lines := strings.Split(s, "\n")
			if len(lines) < 5 {
				t.Fatalf("state:\n%s", s)
			}
			cur, hard, target := strings.Split(lines[0], "|"), strings.Split(lines[1], "|"), strings.Split(lines[2], "|")
			if len(cur) != 5 || cur[1] != "symbolic link" || cur[2] != "deploy" {
				t.Errorf("current is not a symbolic link owned by deploy: %s", lines[0])
			}
			if len(hard) != 5 || len(target) != 5 || hard[3] != target[3] || hard[4] != "2" || target[2] != "root" {
				t.Errorf("hard.txt is not target.txt's inode (2 links, target still root's):\n%s\n%s", lines[1], lines[2])
			}
			if lines[3] != "target.txt" || lines[4] != "hello" {
				t.Errorf("current points to %q and reads %q", lines[3], lines[4])
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if strings.Count(s, "No such file") != 4 {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})
}

// TestLinkForce: a file in the way fails the link without force and is
// replaced with it.
func TestLinkForce(t *testing.T) {
	need(t)
	Sh(t, "rm -rf /srv/it-link-force && mkdir /srv/it-link-force && echo keep > /srv/it-link-force/app")
	defer Sh(t, "rm -rf /srv/it-link-force")
	const res = `
    link "l" {
      path   = "/srv/it-link-force/app"
      target = "/bin/true"%s
    }`
	o := Run(t, strings.Replace(res, "%s", "", 1), nil, false)
	if o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "is a regular file, not a symbolic link to /bin/true; set force = true") {
		t.Fatalf("want a failure asking for force, got %+v: %s", o.Totals, o.Errors())
	}
	if got := Sh(t, "cat /srv/it-link-force/app"); got != "keep\n" {
		t.Fatalf("the file was touched: %q", got)
	}
	Apply(t, strings.Replace(res, "%s", "\n      force  = true", 1), nil)
	if got := Sh(t, "readlink /srv/it-link-force/app"); got != "/bin/true\n" {
		t.Errorf("readlink: %q", got)
	}
	if o := Apply(t, strings.Replace(res, "%s", "\n      force  = true", 1), nil); o.Totals.Changed != 0 {
		t.Errorf("second run changed %s", o.Changed())
	}
}
