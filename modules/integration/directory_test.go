package integration

import (
	"strings"
	"testing"
)

// TestDirectoryRecursive: owner and group reach everything inside, then
// a second run finds nothing owned otherwise; absent removes the tree.
func TestDirectoryRecursive(t *testing.T) {
	Sh(t, "rm -rf /srv/it-dir && mkdir -p /srv/it-dir/a/b && touch /srv/it-dir/a/b/f /srv/it-dir/g")
	Converge(t, Case{
		Present: `
    directory "tree" {
      path      = "/srv/it-dir"
      owner     = "deploy"
      group     = "deploy"
      recursive = true
    }`,
		Absent: `
    directory "tree" {
      path  = "/srv/it-dir"
      state = "absent"
    }`,
		State: "find /srv/it-dir -printf '%u:%g %p\\n' 2>&1 | sort; true",
		WantPresent: func(t *testing.T, s string) {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			if len(lines) != 5 {
				t.Fatalf("want the directory and 4 entries:\n%s", s)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "deploy:deploy ") {
					t.Errorf("not owned as declared: %s", l)
				}
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if !strings.Contains(s, "No such file") {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})
}
