package integration

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// itTarGz is a .tar.gz of app-VERSION/bin/app and app-VERSION/README,
// owned by uid 4242 in the archive (which must not be restored).
func itTarGz(t *testing.T, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{
		{"app-" + version + "/", "", 0o755},
		{"app-" + version + "/bin/", "", 0o755},
		{"app-" + version + "/bin/app", "#!/bin/sh\necho it-archive " + version + "\n", 0o755},
		{"app-" + version + "/README", "version " + version + "\n", 0o644},
	} {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Uid: 4242, Gid: 4242, Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// itZip is a zip of docs/index.txt.
func itZip(t *testing.T, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("docs/index.txt")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArchive proves the archive type on the Debian host: a .tar.gz
// downloaded from an HTTP server on the host itself and extracted with
// one directory stripped, owned as declared, idempotent (and in check
// mode); a new release extracted again; a wrong checksum fails before
// dest exists; a zip already on the host, with unzip installed by a
// package resource; creates.
func TestArchive(t *testing.T) {
	need(t)
	Apply(t, `
    package "tools" {
      name = ["busybox", "curl", "unzip"]
    }`, nil)
	t.Cleanup(func() { Sh(t, "rm -rf /srv/it-archive /srv/it-archive-www") })
	url := itServe(t, "/srv/it-archive-www", 8098)
	v1, v2 := itTarGz(t, "1.0"), itTarGz(t, "2.0")
	itPut(t, "/srv/it-archive-www/app-1.0.tar.gz", v1)
	itPut(t, "/srv/it-archive-www/app-2.0.tar.gz", v2)

	release := func(version string, sum string) string {
		return `
    archive "app" {
      source           = "` + url + `/app-` + version + `.tar.gz"
      sha256           = "` + sum + `"
      dest             = "/srv/it-archive/app"
      strip_components = 1
      owner            = "opsrun"
    }`
	}
	const state = `find /srv/it-archive -printf '%p %u %m\n' 2>&1 | sort; cat /srv/it-archive/app/README /srv/it-archive/app/.opsrun-archive-app.sha256 2>&1; true`
	Converge(t, Case{
		Present: release("1.0", itSHA256(v1)),
		State:   state,
		WantPresent: func(t *testing.T, s string) {
			for _, want := range []string{
				"/srv/it-archive/app opsrun 755", "/srv/it-archive/app/bin/app opsrun 755", "/srv/it-archive/app/README opsrun 644",
				"version 1.0\n" + itSHA256(v1) + "\nstrip_components=1\n",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("state lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, "4242") {
				t.Errorf("the archive's owner was restored:\n%s", s)
			}
			if got := Sh(t, "ls -A /var/tmp | grep -c opsrun-download; true"); got != "0\n" {
				t.Errorf("%s downloads left in /var/tmp", got)
			}
		},
	})
	if got := Sh(t, "/srv/it-archive/app/bin/app"); got != "it-archive 1.0\n" {
		t.Errorf("extracted program: %q", got)
	}

	// A new release: extracted again over the old one, once.
	o := Apply(t, release("2.0", itSHA256(v2)), nil)
	if want := "download and extract " + url + "/app-2.0.tar.gz into /srv/it-archive/app (sha256 " + itSHA256(v1)[:12] + " → " + itSHA256(v2)[:12] + ")"; !strings.Contains(o.Changed(), want) {
		t.Errorf("new release: %s, want %q", o.Changed(), want)
	}
	if got := Sh(t, "/srv/it-archive/app/bin/app"); got != "it-archive 2.0\n" {
		t.Errorf("after the new release: %q", got)
	}
	phase(t, "after the new release", release("2.0", itSHA256(v2)), nil, false, false)

	// A wrong checksum fails before anything is extracted or made.
	wrong := itSHA256([]byte("not it"))
	o = Run(t, `
    archive "wrong" {
      source = "`+url+`/app-1.0.tar.gz"
      sha256 = "`+wrong+`"
      dest   = "/srv/it-archive/wrong"
    }`, nil, false)
	if want := "checksum mismatch: got " + itSHA256(v1) + " want " + wrong; o.Totals.Failed != 1 || !strings.Contains(o.Errors(), want) {
		t.Errorf("wrong checksum: %+v %s; want %q", o.Totals, o.Errors(), want)
	}
	if got := Sh(t, "ls -A /srv/it-archive; ls -A /var/tmp | grep -c opsrun-download; true"); got != "app\n0\n" {
		t.Errorf("a failed download left: %q", got)
	}

	// A zip already on the host; creates then keeps it from being
	// extracted again even when it changes.
	itPut(t, "/srv/it-archive/docs.zip", itZip(t, "first\n"))
	docs := `
    archive "docs" {
      source  = "/srv/it-archive/docs.zip"
      dest    = "/srv/it-archive/docs"
      creates = "/srv/it-archive/docs/docs/index.txt"
    }`
	phase(t, "zip", docs, nil, false, true)
	phase(t, "zip again", docs, nil, false, false)
	itPut(t, "/srv/it-archive/docs.zip", itZip(t, "second\n"))
	phase(t, "zip changed, creates exists", docs, nil, false, false)
	if got := Sh(t, "cat /srv/it-archive/docs/docs/index.txt"); got != "first\n" {
		t.Errorf("zip: %q", got)
	}
	// Without creates the marker decides: the changed zip is extracted.
	phase(t, "zip changed, no creates", strings.Replace(docs, `creates = "/srv/it-archive/docs/docs/index.txt"`, "", 1), nil, false, true)
	if got := Sh(t, "cat /srv/it-archive/docs/docs/index.txt"); got != "second\n" {
		t.Errorf("zip after the change: %q", got)
	}
}
