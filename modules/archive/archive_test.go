package archive_test

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/archive"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, archive.Type()) }

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sh(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// makeArchives writes app-1/bin/app and app-1/README in every format
// this machine can make, with version in the files; it returns the
// archives by format.
func makeArchives(t *testing.T, dir, version string) map[string]string {
	t.Helper()
	src := filepath.Join(dir, "src-"+version)
	if err := os.MkdirAll(filepath.Join(src, "app-1", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"app-1/bin/app": "#!/bin/sh\necho " + version + "\n", "app-1/README": version + "\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]string{}
	for format, flag := range map[string]string{"tar.gz": "z", "tar.bz2": "j", "tar.xz": "J", "tar": ""} {
		tool := map[string]string{"z": "gzip", "j": "bzip2", "J": "xz", "": "tar"}[flag]
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		p := filepath.Join(dir, version+"."+format)
		// --owner: extraction must not restore a stranger's uid.
		sh(t, src, "tar --owner=12345 --group=12345 -c"+flag+"f '"+p+"' app-1")
		out[format] = p
	}
	p := filepath.Join(dir, version+".zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range []string{"app-1/bin/app", "app-1/README"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(src, name))
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out["zip"] = p
	return out
}

// busyboxTools puts busybox's tar, unzip, gzip... first on PATH, as on
// Alpine.
func busyboxTools(t *testing.T) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox")
	}
	dir := t.TempDir()
	for _, c := range []string{"tar", "unzip", "gzip", "bzip2", "xz"} {
		if err := os.Symlink(bb, filepath.Join(dir, c)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// TestLocal extracts real archives of every format from a path, with GNU
// tar and Info-ZIP unzip, then with busybox's: extract, idempotence, a
// changed archive extracted again, creates.
func TestLocal(t *testing.T) {
	for _, tools := range []string{"gnu", "busybox"} {
		t.Run(tools, func(t *testing.T) {
			dir := t.TempDir()
			v1, v2 := makeArchives(t, dir, "v1"), makeArchives(t, dir, "v2")
			if tools == "busybox" {
				busyboxTools(t)
			} else if _, err := exec.LookPath("unzip"); err != nil {
				t.Skip("no unzip")
			}
			for format, p := range v1 {
				t.Run(format, func(t *testing.T) {
					dest := filepath.Join(dir, "dest-"+format, "app")
					attrs := map[string]any{"source": p, "dest": dest}
					if format != "zip" {
						attrs["strip_components"] = 1
					}
					acts := fixture.Converge(t, fixture.New(t, archive.Type(), attrs, dir))
					if len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "extract "+p+" into "+dest) {
						t.Fatalf("actions %+v", acts)
					}
					app := filepath.Join(dest, "bin", "app")
					if format == "zip" {
						app = filepath.Join(dest, "app-1", "bin", "app")
					}
					if b, err := os.ReadFile(app); err != nil || !strings.Contains(string(b), "v1") {
						t.Fatalf("extracted app: %q, %v", b, err)
					}
					if fi, err := os.Stat(app); err == nil && os.Geteuid() == 0 && format != "zip" {
						if out, _ := exec.Command("stat", "-c", "%u", app).Output(); strings.TrimSpace(string(out)) != "0" {
							t.Errorf("owner %s restored from the archive (mode %v)", out, fi.Mode())
						}
					}
					// The archive at the path changes: extracted again.
					b, _ := os.ReadFile(v2[format])
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
					acts = fixture.Converge(t, fixture.New(t, archive.Type(), attrs, dir))
					if len(acts) != 1 || !strings.Contains(acts[0].Summary, " → ") {
						t.Fatalf("changed archive: %+v", acts)
					}
					if b, _ := os.ReadFile(app); !strings.Contains(string(b), "v2") {
						t.Errorf("not extracted again: %q", b)
					}
					// strip_components changes alone: extracted again too.
					if format != "zip" {
						attrs["strip_components"] = 0
						if acts = fixture.Converge(t, fixture.New(t, archive.Type(), attrs, dir)); len(acts) != 1 {
							t.Errorf("strip_components changed: %+v", acts)
						}
					}
					// creates exists: nothing, whatever the checksum.
					attrs["creates"], attrs["sha256"] = dest, strings.Repeat("0", 64)
					if acts = fixture.Converge(t, fixture.New(t, archive.Type(), attrs, dir)); len(acts) != 0 {
						t.Errorf("creates: %+v", acts)
					}
				})
			}
		})
	}
}

// TestLocalURL downloads an archive from a local server: extracted and
// owned as declared; a wrong checksum makes no dest and leaves no
// temporary file.
func TestLocalURL(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	dir := t.TempDir()
	p := makeArchives(t, dir, "v1")["tar.gz"]
	if p == "" {
		t.Skip("no gzip")
	}
	s := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(s.Close)
	dest := filepath.Join(dir, "url-dest")
	attrs := map[string]any{"source": s.URL + "/v1.tar.gz", "sha256": fileSum(t, p), "dest": dest, "strip_components": 1}
	if os.Geteuid() == 0 {
		attrs["owner"] = "nobody"
	}
	before, _ := filepath.Glob("/var/tmp/.opsrun-download-*")
	res := fixture.New(t, archive.Type(), attrs, dir)
	acts := fixture.Converge(t, res)
	if len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "download and extract "+s.URL) {
		t.Fatalf("actions %+v", acts)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "bin", "app")); err != nil || !strings.Contains(string(b), "v1") {
		t.Fatalf("extracted: %q %v", b, err)
	}
	if os.Geteuid() == 0 {
		if out, _ := exec.Command("stat", "-c", "%U", filepath.Join(dest, "bin", "app")).Output(); strings.TrimSpace(string(out)) != "nobody" {
			t.Errorf("owner %s, want nobody", out)
		}
	}

	bad := filepath.Join(dir, "bad-dest")
	attrs = map[string]any{"source": s.URL + "/v1.tar.gz", "sha256": strings.Repeat("ab", 32), "dest": bad}
	res = fixture.New(t, archive.Type(), attrs, dir)
	h := fixture.DefaultHost()
	acts, err := res.Plan(h, fixture.Probe(t, res, h))
	if err != nil || len(acts) != 1 {
		t.Fatalf("plan: %+v %v", acts, err)
	}
	out, err := exec.Command("sh", "-c", acts[0].Command).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum mismatch: got "+fileSum(t, p)+" want "+strings.Repeat("ab", 32)) {
		t.Errorf("wrong checksum: %v: %s", err, out)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed download made dest: %v", err)
	}
	if after, _ := filepath.Glob("/var/tmp/.opsrun-download-*"); len(after) > len(before) {
		t.Errorf("downloads left behind: %v (before: %v)", after, before)
	}
}

// TestLocalErrors: a corrupt archive fails and leaves no marker, so the
// next run tries again.
func TestLocalErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broken.tar.gz")
	if err := os.WriteFile(p, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "dest")
	res := fixture.New(t, archive.Type(), map[string]any{"source": p, "dest": dest}, dir)
	h := fixture.DefaultHost()
	acts, err := res.Plan(h, fixture.Probe(t, res, h))
	if err != nil || len(acts) != 1 {
		t.Fatalf("plan: %+v %v", acts, err)
	}
	if out, err := exec.Command("sh", "-c", acts[0].Command).CombinedOutput(); err == nil {
		t.Errorf("a corrupt archive extracted: %s", out)
	}
	if again, err := res.Plan(h, fixture.Probe(t, res, h)); err != nil || len(again) != 1 {
		t.Errorf("after a failure the next plan must extract again: %+v %v", again, err)
	}
	missing := fixture.New(t, archive.Type(), map[string]any{"source": filepath.Join(dir, "none.zip"), "dest": dest}, dir)
	if _, err := missing.Plan(h, fixture.Probe(t, missing, h)); !errors.Is(err, modules.ErrMissingOnHost) {
		t.Errorf("missing source: %v, want ErrMissingOnHost", err)
	}
}
