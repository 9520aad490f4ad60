package integration

import (
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	Converge(t, Case{
		Present: `
    directory "d" {
      path = "/srv/it-file"
      mode = "0750"
    }
    file "f" {
      path    = "/srv/it-file/app.conf"
      content = "port = 8080\n"
      mode    = "0640"
      owner   = "opsrun"
      depends_on = [directory.d]
    }`,
		Absent: `
    file "f" {
      path  = "/srv/it-file/app.conf"
      state = "absent"
    }
    directory "d" {
      path  = "/srv/it-file"
      state = "absent"
    }`,
		State: `stat -c '%n %a %U' /srv/it-file /srv/it-file/app.conf 2>&1; cat /srv/it-file/app.conf 2>&1; true`,
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{"/srv/it-file 750 root", "/srv/it-file/app.conf 640 opsrun", "port = 8080"} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if strings.Count(s, "No such file") != 3 {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})
}
