package integration

import (
	"testing"
)

// TestBlockinfile puts two named blocks in one file, then updates one in
// place; absent removes both blocks and their markers, leaving the file
// as it was.
func TestBlockinfile(t *testing.T) {
	need(t)
	const orig = "127.0.0.1 localhost\n::1 localhost\n"
	Sh(t, "rm -rf /srv/it-block && mkdir -p /srv/it-block && printf '"+orig+"' > /srv/it-block/hosts")
	present := func(db string) string {
		return `
    blockinfile "db" {
      path  = "/srv/it-block/hosts"
      block = "` + db + `"
    }
    blockinfile "cache" {
      path          = "/srv/it-block/hosts"
      block         = "10.0.0.6 cache\n"
      insert_before = "BOF"
      depends_on    = [blockinfile.db]
    }`
	}
	absent := `
    blockinfile "db" {
      path  = "/srv/it-block/hosts"
      state = "absent"
    }
    blockinfile "cache" {
      path  = "/srv/it-block/hosts"
      state = "absent"
    }`
	Converge(t, Case{
		Present: present(`10.0.0.5 db\n`),
		Absent:  absent,
		State:   `cat /srv/it-block/hosts`,
		WantPresent: func(t *testing.T, s string) {
			want := "# BEGIN MANAGED BY OPSRUN: cache\n10.0.0.6 cache\n# END MANAGED BY OPSRUN: cache\n" + orig +
				"# BEGIN MANAGED BY OPSRUN: db\n10.0.0.5 db\n# END MANAGED BY OPSRUN: db\n"
			if s != want {
				t.Errorf("state:\n%s\nwant:\n%s", s, want)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if s != orig {
				t.Errorf("state:\n%s\nwant:\n%s", s, orig)
			}
		},
	})

	// An update replaces the lines between the markers where they are.
	Apply(t, present(`10.0.0.5 db\n`), nil)
	Sh(t, "echo '# added by hand' >> /srv/it-block/hosts")
	if o := Apply(t, present(`10.0.0.7 db\n10.0.0.8 db2\n`), nil); o.Totals.Changed != 1 {
		t.Fatalf("update changed %s, want only the db block", o.Changed())
	}
	want := "# BEGIN MANAGED BY OPSRUN: cache\n10.0.0.6 cache\n# END MANAGED BY OPSRUN: cache\n" + orig +
		"# BEGIN MANAGED BY OPSRUN: db\n10.0.0.7 db\n10.0.0.8 db2\n# END MANAGED BY OPSRUN: db\n# added by hand\n"
	if got := Sh(t, "cat /srv/it-block/hosts"); got != want {
		t.Fatalf("after update:\n%s\nwant:\n%s", got, want)
	}
	Apply(t, absent, nil)
}
