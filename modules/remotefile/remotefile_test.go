package remotefile_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/remotefile"
)

func TestFixtures(t *testing.T) { fixture.Run(t, remotefile.Type()) }

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// server serves /file, /redirect (to /file), /auth (needs a header) and a
// 404 for anything else, on the loopback address.
func server(t *testing.T, content []byte) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, _ *http.Request) { w.Write(content) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/file", http.StatusFound) })
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken-123" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(content)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// withTools puts a PATH with only the commands a download needs first,
// with wget being prog (GNU wget or busybox), and no curl: the way to
// test the wget path on a machine that has curl.
func withTools(t *testing.T, wget []string) {
	t.Helper()
	dir := t.TempDir()
	for _, c := range []string{"sh", "mktemp", "sha256sum", "chmod", "chown", "chgrp", "mv", "rm", "awk", "cat", "stat", "base64", "wc"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("%s: %v", c, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, c)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\nexec " + strings.Join(wget, " ") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "wget"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

// run runs actions like the engine and returns the first failure.
func run(acts []modules.Action) (string, error) {
	for _, a := range acts {
		out, err := exec.Command("sh", "-c", a.Command).CombinedOutput()
		if err != nil {
			return string(out), err
		}
	}
	return "", nil
}

// TestLocal downloads from a local server with curl, GNU wget and
// busybox wget: converge, idempotence, a metadata change, a redirect, a
// header, a wrong checksum that leaves the target alone, and absent.
func TestLocal(t *testing.T) {
	content := []byte("#!/bin/sh\necho hello\n")
	s := server(t, content)
	for _, tool := range []struct {
		name string
		wget []string // nil: the machine's PATH (curl)
	}{{"curl", nil}, {"wget", []string{"/usr/bin/wget"}}, {"busybox", []string{"busybox", "wget"}}} {
		t.Run(tool.name, func(t *testing.T) {
			if tool.wget == nil {
				if _, err := exec.LookPath("curl"); err != nil {
					t.Skip("no curl")
				}
			} else {
				if _, err := exec.LookPath(tool.wget[0]); err != nil {
					t.Skipf("no %s", tool.wget[0])
				}
				if tool.wget[0] == "busybox" {
					p, _ := exec.LookPath("busybox")
					tool.wget[0] = p
				}
				withTools(t, tool.wget)
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "tool")
			attrs := map[string]any{"url": s.URL + "/redirect", "path": target, "sha256": sum(content), "mode": "0755"}
			res := fixture.New(t, remotefile.Type(), attrs, dir)
			acts := fixture.Converge(t, res)
			if len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "download ") || !strings.Contains(acts[0].Command, map[bool]string{true: "curl -", false: "wget "}[tool.wget == nil]) {
				t.Fatalf("actions %+v", acts)
			}
			if got, _ := os.ReadFile(target); string(got) != string(content) {
				t.Fatalf("content %q", got)
			}
			if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
				t.Errorf("mode %v", fi.Mode())
			}
			attrs["mode"] = "0700"
			acts = fixture.Converge(t, fixture.New(t, remotefile.Type(), attrs, dir))
			if len(acts) != 1 || acts[0].Summary != "change "+target+" (mode 0755 → 0700)" {
				t.Errorf("mode change: %+v", acts)
			}

			// A header; the file there differs: replaced.
			if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			attrs["url"], attrs["headers"] = s.URL+"/auth", map[string]string{"Authorization": "Bearer t0ken-123"}
			acts = fixture.Converge(t, fixture.New(t, remotefile.Type(), attrs, dir))
			if len(acts) != 1 || !strings.HasPrefix(acts[0].Summary, "update "+target+" from ") {
				t.Errorf("update: %+v", acts)
			}

			// A wrong checksum fails and leaves the file there as it was,
			// with no temporary file beside it.
			if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			wrong := sum([]byte("something else"))
			bad := fixture.New(t, remotefile.Type(), map[string]any{"url": s.URL + "/file", "path": target, "sha256": wrong}, dir)
			h := fixture.DefaultHost()
			acts, err := bad.Plan(h, fixture.Probe(t, bad, h))
			if err != nil {
				t.Fatal(err)
			}
			out, err := run(acts)
			if err == nil || !strings.Contains(out, "checksum mismatch: got "+sum(content)+" want "+wrong) {
				t.Errorf("wrong checksum: %v: %s", err, out)
			}
			if got, _ := os.ReadFile(target); string(got) != "old" {
				t.Errorf("target changed to %q", got)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".opsrun-*")); len(m) > 0 {
				t.Errorf("temporary files left: %v", m)
			}

			// A 404 fails too, with the tool's message.
			missing := fixture.New(t, remotefile.Type(), map[string]any{"url": s.URL + "/nope", "path": filepath.Join(dir, "new"), "sha256": wrong}, dir)
			acts, err = missing.Plan(h, fixture.Probe(t, missing, h))
			if err != nil {
				t.Fatal(err)
			}
			if out, err := run(acts); err == nil || !strings.Contains(out, "404") {
				t.Errorf("404: %v: %s", err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed download created the file: %v", err)
			}

			fixture.Converge(t, fixture.New(t, remotefile.Type(), map[string]any{"url": s.URL + "/file", "path": target, "sha256": wrong, "state": "absent"}, dir))
			if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("not removed: %v", err)
			}
		})
	}
}

// TestSensitiveFailure fails a download whose URL holds a token, with
// GNU wget, which prints the URL: the output shows it hidden.
func TestSensitiveFailure(t *testing.T) {
	if _, err := exec.LookPath("wget"); err != nil {
		t.Skip("no wget")
	}
	withTools(t, []string{"/usr/bin/wget"})
	s := server(t, nil)
	dir := t.TempDir()
	url := s.URL + "/nope?token=s3cr3t-t0ken"
	raw := map[string]json.RawMessage{}
	for k, v := range map[string]string{"url": url, "path": filepath.Join(dir, "f"), "sha256": sum(nil)} {
		raw[k], _ = json.Marshal(v)
	}
	res, err := remotefile.New(fixture.Config(t, remotefile.Type(), raw, []string{"url"}, dir))
	if err != nil {
		t.Fatal(err)
	}
	h := fixture.DefaultHost()
	acts, err := res.Plan(h, fixture.Probe(t, res, h))
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || !acts[0].Sensitive || strings.Contains(acts[0].Summary, "s3cr3t") {
		t.Fatalf("actions %+v", acts)
	}
	out, err := run(acts)
	if err == nil || strings.Contains(out, "s3cr3t") || !strings.Contains(out, "(sensitive)") || !strings.Contains(out, "404") {
		t.Errorf("%v: %s", err, out)
	}
}
