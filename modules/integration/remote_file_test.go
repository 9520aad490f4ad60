package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func itSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// itServe serves dir over HTTP on 127.0.0.1:port from the host itself
// with busybox httpd (the host has no network beyond the package
// mirror), until the test ends. busybox must be installed.
func itServe(t *testing.T, dir string, port int) string {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	pid := strings.TrimSpace(Sh(t, fmt.Sprintf("mkdir -p %s && echo ok > %s/it-ready && "+
		"{ busybox httpd -f -p 127.0.0.1:%d -h %s </dev/null >/dev/null 2>&1 & echo $!; }", dir, dir, port, dir)))
	t.Cleanup(func() { Sh(t, "kill "+pid+" 2>/dev/null; true") })
	Sh(t, "for i in $(seq 100); do busybox wget -q -O /dev/null "+url+"/it-ready 2>/dev/null && exit 0; sleep 0.1; done; exit 1")
	return url
}

// itPut writes content to path on the host.
func itPut(t *testing.T, path string, content []byte) {
	t.Helper()
	Sh(t, fmt.Sprintf("printf '%%s' '%s' | base64 -d > %s", base64.StdEncoding.EncodeToString(content), path))
}

// TestRemoteFile proves remote_file on the Debian host, downloading from
// an HTTP server on the host itself: with wget (curl removed), converge,
// idempotence, check mode, absent; a wrong checksum fails and creates
// nothing; a new release replaces the file; then with curl.
func TestRemoteFile(t *testing.T) {
	need(t)
	Apply(t, `
    package "tools" {
      name = ["busybox", "wget"]
    }
    package "curl" {
      name  = "curl"
      state = "absent"
    }`, nil)
	t.Cleanup(func() { Sh(t, "rm -rf /srv/it-rf /srv/it-rf-www") })
	v1 := []byte("#!/bin/sh\necho it-rf v1\n")
	url := itServe(t, "/srv/it-rf-www", 8099)
	itPut(t, "/srv/it-rf-www/tool-v1", v1)

	present := func(name string, content []byte) string {
		return fmt.Sprintf(`
    directory "d" {
      path = "/srv/it-rf"
    }
    remote_file "tool" {
      url        = "%s/%s"
      path       = "/srv/it-rf/tool"
      sha256     = "%s"
      mode       = "0755"
      owner      = "opsrun"
      depends_on = [directory.d]
    }`, url, name, itSHA256(content))
	}
	const state = `stat -c '%n %a %U' /srv/it-rf/tool 2>&1; sha256sum /srv/it-rf/tool 2>&1; ls -a /srv/it-rf 2>&1; true`
	Converge(t, Case{
		Present: present("tool-v1", v1),
		Absent: `
    remote_file "tool" {
      url    = "` + url + `/tool-v1"
      path   = "/srv/it-rf/tool"
      sha256 = "` + itSHA256(v1) + `"
      state  = "absent"
    }`,
		State: state,
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{"/srv/it-rf/tool 755 opsrun", itSHA256(v1)} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, ".opsrun-") {
				t.Errorf("temporary file left:\n%s", s)
			}
		},
		WantAbsent: func(t *testing.T, s string) {
			if !strings.Contains(s, "No such file") {
				t.Errorf("not removed:\n%s", s)
			}
		},
	})

	// A wrong checksum: the run fails saying so, and nothing is created,
	// not even a temporary file.
	wrong := itSHA256([]byte("not it"))
	o := Run(t, `
    remote_file "wrong" {
      url    = "`+url+`/tool-v1"
      path   = "/srv/it-rf/wrong"
      sha256 = "`+wrong+`"
    }`, nil, false)
	if want := "checksum mismatch: got " + itSHA256(v1) + " want " + wrong; o.Totals.Failed != 1 || !strings.Contains(o.Errors(), want) {
		t.Errorf("wrong checksum: %+v %s; want %q", o.Totals, o.Errors(), want)
	}
	if got := Sh(t, "ls -A /srv/it-rf"); got != "" {
		t.Errorf("a failed download left %q", got)
	}
	// A missing file on the server fails too.
	if o := Run(t, `
    remote_file "missing" {
      url    = "`+url+`/nope"
      path   = "/srv/it-rf/missing"
      sha256 = "`+wrong+`"
    }`, nil, false); o.Totals.Failed != 1 || !strings.Contains(o.Errors(), "404") {
		t.Errorf("404: %+v %s", o.Totals, o.Errors())
	}

	// A new release: the file is replaced (owner and mode kept as
	// declared), and only once.
	Apply(t, present("tool-v1", v1), nil)
	v2 := []byte("#!/bin/sh\necho it-rf v2\n")
	itPut(t, "/srv/it-rf-www/tool-v2", v2)
	o = Apply(t, present("tool-v2", v2), nil)
	if want := "update /srv/it-rf/tool from " + url + "/tool-v2 (sha256 " + itSHA256(v1)[:12] + " → " + itSHA256(v2)[:12] + ")"; !strings.Contains(o.Changed(), want) {
		t.Errorf("new release: %s, want %q", o.Changed(), want)
	}
	if got := Sh(t, "/srv/it-rf/tool; stat -c '%a %U' /srv/it-rf/tool"); got != "it-rf v2\n755 opsrun\n" {
		t.Errorf("after the update: %q", got)
	}
	phase(t, "after the update", present("tool-v2", v2), nil, false, false)

	// With curl: the plan picks it; the file there is changed behind
	// opsrun's back and comes back.
	Apply(t, `
    package "curl" {
      name = "curl"
    }`, nil)
	Sh(t, "echo tampered > /srv/it-rf/tool")
	phase(t, "with curl", present("tool-v2", v2), nil, false, true)
	if got := Sh(t, "/srv/it-rf/tool"); got != "it-rf v2\n" {
		t.Errorf("with curl: %q", got)
	}
}
