package facts

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// apkInstalled is `apk info -v` on an alpine:3.19 image (the base set of
// packages) plus curl.
const apkInstalled = `alpine-baselayout-3.4.3-r2
alpine-baselayout-data-3.4.3-r2
alpine-keys-2.4-r1
apk-tools-2.14.0-r5
busybox-1.36.1-r15
ca-certificates-bundle-20230506-r0
musl-1.2.4_git20230717-r4
ssl_client-1.36.1-r15
curl-8.5.0-r0
py3-google-api-python-client-pyc-2.120.0-r0
`

func TestParseApkInstalled(t *testing.T) {
	got, err := ParseApkInstalled(modules.ProbeResult{Stdout: apkInstalled})
	if err != nil {
		t.Fatal(err)
	}
	for name, ver := range map[string]string{
		"alpine-baselayout-data": "3.4.3-r2", "busybox": "1.36.1-r15", "ca-certificates-bundle": "20230506-r0",
		"musl": "1.2.4_git20230717-r4", "curl": "8.5.0-r0", "py3-google-api-python-client-pyc": "2.120.0-r0",
	} {
		if got[name] != ver {
			t.Errorf("%s: %q, want %q", name, got[name], ver)
		}
	}
	if len(got) != 10 {
		t.Errorf("%d packages: %v", len(got), got)
	}
	if _, err := ParseApkInstalled(modules.ProbeResult{Stdout: "busybox\n"}); !errMatches(err, "want name-version") {
		t.Errorf("a name alone (apk info without -v): %v", err)
	}
	if _, err := ParseApkInstalled(modules.ProbeResult{ExitStatus: 127}); !errMatches(err, "exit status 127") {
		t.Errorf("no apk: %v", err)
	}
}

func TestSplitApkNameVersion(t *testing.T) {
	for _, c := range []struct {
		s, name, ver string
		ok           bool
	}{
		{"curl-8.5.0-r0", "curl", "8.5.0-r0", true},
		{"py3-foo-bar-1.2.3-r10", "py3-foo-bar", "1.2.3-r10", true},
		{"lib2-3d-1.0-r0", "lib2-3d", "1.0-r0", true},
		{"font-noto-cjk-0_git20220127-r1", "font-noto-cjk", "0_git20220127-r1", true},
		{"busybox", "", "", false},
		{"a-b-c-d", "", "", false},
		{"-1.0-r0", "", "", false},
		{"x-1", "x", "1", true},
		{"curl-8.5.0-r0 - description", "", "", false},
	} {
		n, v, ok := SplitApkNameVersion(c.s)
		if n != c.name || v != c.ver || ok != c.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", c.s, n, v, ok, c.name, c.ver, c.ok)
		}
	}
}

// apk2Version prints lines as apk-tools 2's app_version.c does.
func apk2Version(rows ...[2]string) string {
	out := fmt.Sprintf("%-42sAvailable:\n", "Installed:")
	for _, r := range rows {
		nv := r[0]
		if len(nv) > 40 {
			nv = nv[:40]
		}
		out += fmt.Sprintf("%-40s%s %s %s\n", nv, "<", r[1], "")
	}
	return out
}

func TestParseApkVersion(t *testing.T) {
	long := "py3-google-api-python-client-pyc-2.120.0-r0"
	out := apk2Version([2]string{"curl-8.5.0-r0", "8.9.1-r2"}, [2]string{long, "2.125.0-r0"})
	if !strings.Contains(out, "py3-google-api-python-client-pyc-2.120.0< 2.125.0-r0") {
		t.Fatalf("the sample does not cut the long name: %q", out)
	}
	got, err := ParseApkVersion(modules.ProbeResult{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	want := []ApkUpgrade{{"curl-8.5.0-r0", "8.9.1-r2"}, {long[:40], "2.125.0-r0"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !got[0].Is("curl", "8.5.0-r0") || got[0].Is("curl", "8.5.0-r01") || got[0].Is("curl-8.5.0", "r0x") {
		t.Error("Is on a whole name-version")
	}
	// Cut to 40 bytes, the line cannot tell releases of one version
	// apart: the installed one is the only one that can be on it.
	if !got[1].Is("py3-google-api-python-client-pyc", "2.120.0-r0") || !got[1].Is("py3-google-api-python-client-pyc", "2.120.0-r1") {
		t.Error("Is on a cut name-version")
	}
	if got[1].Is("py3-google-api-python-client", "2.120.0-r0") {
		t.Error("a shorter name must not match a cut line")
	}
	// apk-tools 3 widens the column and prints a tag after the version.
	v3 := "Installed:                                  Available:\n" +
		"py3-google-api-python-client-pyc-2.120.0-r0 < 2.125.0-r0 @community\n"
	if got, err := ParseApkVersion(modules.ProbeResult{Stdout: v3}); err != nil || len(got) != 1 || !got[0].Is("py3-google-api-python-client-pyc", "2.120.0-r0") {
		t.Errorf("apk-tools 3: %+v, %v", got, err)
	}
	if got, err := ParseApkVersion(modules.ProbeResult{Stdout: apk2Version()}); err != nil || len(got) != 0 {
		t.Errorf("header only: %+v, %v", got, err)
	}
	for out, e := range map[string]string{
		"curl-8.5.0-r0 = 8.5.0-r0\n": "want name-version",
		"< 8.9.1-r2\n":               "want name-version",
		"curl-8.5.0-r0 <\n":          "want name-version",
	} {
		if _, err := ParseApkVersion(modules.ProbeResult{Stdout: out}); !errMatches(err, e) {
			t.Errorf("%q: %v, want %q", out, err, e)
		}
	}
	if _, err := ParseApkVersion(modules.ProbeResult{ExitStatus: 1}); !errMatches(err, "exit status 1") {
		t.Errorf("failure: %v", err)
	}
}

func FuzzParseApkInstalled(f *testing.F) {
	f.Add(apkInstalled, 0)
	f.Add("a-b-1\n\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseApkInstalled(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, v := range got {
			if err != nil || n == "" || v == "" || v[0] < '0' || v[0] > '9' {
				t.Errorf("inconsistent %q %q (%v)", n, v, err)
			}
		}
	})
}

func FuzzParseApkVersion(f *testing.F) {
	f.Add(apk2Version([2]string{"curl-8.5.0-r0", "8.9.1-r2"}), 0)
	f.Add("x< y z\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseApkVersion(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for _, u := range got {
			if err != nil || u.Installed == "" || u.Latest == "" || strings.ContainsAny(u.Installed+u.Latest, " \t\n<") {
				t.Errorf("inconsistent %+v (%v)", u, err)
			}
		}
	})
}
