package inventory

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

func TestLoadValid(t *testing.T) {
	path := filepath.Join("testdata", "valid", "fleet.hcl")
	inv, diags := LoadFiles(hclparse.NewParser(), path)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "valid"))
	if len(inv.Hosts) != 3 {
		t.Fatalf("got %d hosts, want 3", len(inv.Hosts))
	}
	web := inv.Host("web-1")
	if web.Addr() != "127.0.0.1" || web.Port != 2201 || web.User != "opsrun" {
		t.Errorf("web-1 = %+v", web)
	}
	if got, want := web.SSH.IdentityFiles, []string{filepath.Join(dir, "id_ed25519")}; !equal(got, want) {
		t.Errorf("identity files %v, want %v", got, want)
	}
	if got, want := web.SSH.KnownHosts, []string{filepath.Join(dir, "known_hosts"), "/etc/ssh/ssh_known_hosts"}; !equal(got, want) {
		t.Errorf("known_hosts %v, want %v", got, want)
	}
	if web.SSH.HostKeyChecking != "accept-new" || web.SSH.ConnectTimeout != 5*time.Second {
		t.Errorf("ssh settings = %+v", web.SSH)
	}
	if !web.InLayer("monitoring") || web.InLayer("db") {
		t.Errorf("layers = %v", web.Layers)
	}
	if v := web.Vars["tier"]; !v.RawEquals(cty.StringVal("silver")) {
		t.Errorf("host var must override defaults, got %#v", v)
	}
	if v := web.Vars["region"]; !v.RawEquals(cty.StringVal("eu")) {
		t.Errorf("defaults var missing, got %#v", v)
	}
	db := inv.Host("db-1")
	if db.User != "admin" || db.SSH.ProxyJump != "opsrun@bastion.example.com:2222" || db.Port != 0 {
		t.Errorf("db-1 = %+v", db)
	}
	lonely := inv.Host("lonely")
	if lonely.Addr() != "lonely" || len(lonely.Layers) != 0 {
		t.Errorf("lonely = %+v", lonely)
	}
	if got := inv.Layers(); !equal(got, []string{"db", "monitoring", "web"}) {
		t.Errorf("layers = %v", got)
	}
}

var errorMark = regexp.MustCompile(`# ERROR: (.+)$`)

// TestLoadErrors: every file in testdata/errors marks the offending line
// with "# ERROR: <summary>"; the loader must report exactly those.
func TestLoadErrors(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.hcl"))
	if len(files) < 10 {
		t.Fatalf("only %d error cases", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := expectedErrors(t, path)
			_, diags := LoadFiles(hclparse.NewParser(), path)
			var got []string
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no source range", d.Summary)
					continue
				}
				if d.Subject.Filename != path {
					t.Errorf("diagnostic names file %q, want %q", d.Subject.Filename, path)
				}
				got = append(got, lineKey(d.Subject.Start.Line, d.Summary))
			}
			sort.Strings(got)
			if !equal(got, want) {
				t.Errorf("diagnostics:\n got %v\nwant %v\n(%v)", got, want, diags)
			}
		})
	}
}

func expectedErrors(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if m := errorMark.FindStringSubmatch(sc.Text()); m != nil {
			want = append(want, lineKey(line, strings.TrimSpace(m[1])))
		}
	}
	sort.Strings(want)
	return want
}

func lineKey(line int, summary string) string {
	return strings.Join([]string{itoa(line), summary}, ": ")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLoadMissingFile(t *testing.T) {
	_, diags := LoadFiles(hclparse.NewParser(), filepath.Join(t.TempDir(), "nope.hcl"))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "nope.hcl") || !strings.Contains(diags.Error(), "no such file") {
		t.Fatalf("want a missing-file error naming the file, got %v", diags)
	}
}

func TestDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hcl")
	b := filepath.Join(dir, "b.hcl")
	os.WriteFile(a, []byte("host \"x\" {}\n"), 0o644)
	os.WriteFile(b, []byte("\nhost \"x\" {}\n"), 0o644)
	inv, diags := LoadFiles(hclparse.NewParser(), a, b)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "a.hcl:1") || !strings.Contains(diags.Error(), "b.hcl:2") {
		t.Fatalf("want duplicate naming both files, got %v", diags)
	}
	if len(inv.Hosts) != 1 {
		t.Fatalf("duplicate must not be added, got %d hosts", len(inv.Hosts))
	}
}

func TestEnvFunction(t *testing.T) {
	t.Setenv("OPSRUN_TEST_PW", "s3cret")
	dir := t.TempDir()
	p := filepath.Join(dir, "inv.hcl")
	os.WriteFile(p, []byte(`host "a" { become_password = env("OPSRUN_TEST_PW") }`), 0o644)
	inv, diags := LoadFiles(hclparse.NewParser(), p)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if inv.Host("a").SSH.BecomePassword != "s3cret" {
		t.Fatalf("env() not applied")
	}
}

func FuzzDecode(f *testing.F) {
	for _, glob := range []string{"testdata/valid/*.hcl", "testdata/errors/*.hcl"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			src, _ := os.ReadFile(p)
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := hclparse.NewParser().ParseHCL(src, "fuzz.hcl")
		if diags.HasErrors() {
			return
		}
		inv, _ := Decode(file.Body, "/fuzz")
		for _, h := range inv.Hosts {
			if h.Name == "" {
				t.Fatal("host with empty name accepted")
			}
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
