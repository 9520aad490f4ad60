package facts

import (
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// Samples below are recorded from rpm 4.18, dnf 4.14 and zypper 1.14.42
// (Debian's packages) run against an rpm database and a repository of
// test packages, or follow yum 3.4's output.py and apk-tools' app_info.c
// and app_version.c where noted.

func TestParseRPM(t *testing.T) {
	got, err := ParseRPM(modules.ProbeResult{ExitStatus: 1, Stdout: "" +
		"opsrun-a (none):1.0-1 noarch\n" +
		"opsrun-b 2:3.0-1.el9 noarch\n" +
		"package nosuch is not installed\n" +
		"glibc (none):2.34-100.el9_4.2 x86_64\n" +
		"glibc (none):2.34-100.el9_4.2 i686\n" +
		"python3.11 (none):3.11.7-1.el9 x86_64\r\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]RPMPackage{
		"opsrun-a":   {{"opsrun-a", "", "1.0", "1", "noarch"}},
		"opsrun-b":   {{"opsrun-b", "2", "3.0", "1.el9", "noarch"}},
		"glibc":      {{"glibc", "", "2.34", "100.el9_4.2", "x86_64"}, {"glibc", "", "2.34", "100.el9_4.2", "i686"}},
		"python3.11": {{"python3.11", "", "3.11.7", "1.el9", "x86_64"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if e := got["opsrun-b"][0].EVR(); e != "2:3.0-1.el9" {
		t.Errorf("EVR %q", e)
	}
	if e := got["opsrun-a"][0].EVR(); e != "1.0-1" {
		t.Errorf("EVR %q", e)
	}
	for out, e := range map[string]string{
		"nginx-1.20.1-16.el9_4.1.x86_64\n": "want name, epoch:version-release",
		"nginx 1.20.1-16 x86_64\n":         "want name",
		"nginx x:1.20.1-16 x86_64\n":       "want name",
		"nginx 1:1.20.1 x86_64\n":          "want name",
		"nginx 1:-16 x86_64\n":             "want name",
		"nginx (none):1:2-3 x86_64\n":      "want name",
	} {
		if _, err := ParseRPM(modules.ProbeResult{Stdout: out}); !errMatches(err, e) {
			t.Errorf("%q: %v, want %q", out, err, e)
		}
	}
	if _, err := ParseRPM(modules.ProbeResult{ExitStatus: 127}); !errMatches(err, "printed nothing (exit status 127)") {
		t.Errorf("rpm not found: %v", err)
	}
	if got, err := ParseRPM(modules.ProbeResult{}); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestRPMReal runs the probe with this machine's rpm, when it has one: on
// a Debian machine its database is empty, so every name is reported not
// installed, on stdout, and counted in the exit status.
func TestRPMReal(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not found")
	}
	r := run(t, RPMProbe([]string{"opsrun-no-such-package", "opsrun-other-missing"}))
	if r.ExitStatus != 2 || !strings.Contains(r.Stdout, "package opsrun-no-such-package is not installed\n") {
		t.Fatalf("got %+v", r)
	}
	got, err := ParseRPM(r)
	if err != nil || len(got) != 0 {
		t.Errorf("got %+v, %v", got, err)
	}
}

// rpmVerCmpCases are from rpm's tests/rpmvercmp.at, plus some of ours.
var rpmVerCmpCases = []struct {
	a, b string
	want int
}{
	{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
	{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1", "2.0", 1},
	{"2.0.1a", "2.0.1a", 0}, {"2.0.1a", "2.0.1", 1}, {"2.0.1", "2.0.1a", -1},
	{"5.5p1", "5.5p1", 0}, {"5.5p1", "5.5p2", -1}, {"5.5p2", "5.5p1", 1},
	{"5.5p10", "5.5p10", 0}, {"5.5p1", "5.5p10", -1}, {"5.5p10", "5.5p1", 1},
	{"10xyz", "10.1xyz", -1}, {"10.1xyz", "10xyz", 1},
	{"xyz10", "xyz10", 0}, {"xyz10", "xyz10.1", -1}, {"xyz10.1", "xyz10", 1},
	{"xyz.4", "xyz.4", 0}, {"xyz.4", "8", -1}, {"8", "xyz.4", 1},
	{"xyz.4", "2", -1}, {"2", "xyz.4", 1},
	{"5.5p2", "5.6p1", -1}, {"5.6p1", "5.5p2", 1},
	{"5.6p1", "6.5p1", -1}, {"6.5p1", "5.6p1", 1},
	{"6.0.rc1", "6.0", 1}, {"6.0", "6.0.rc1", -1},
	{"10b2", "10a1", 1}, {"10a2", "10b2", -1},
	{"1.0aa", "1.0aa", 0}, {"1.0a", "1.0aa", -1}, {"1.0aa", "1.0a", 1},
	{"10.0001", "10.0001", 0}, {"10.0001", "10.1", 0}, {"10.1", "10.0001", 0},
	{"10.0001", "10.0039", -1}, {"10.0039", "10.0001", 1},
	{"4.999.9", "5.0", -1}, {"5.0", "4.999.9", 1},
	{"20101121", "20101121", 0}, {"20101121", "20101122", -1}, {"20101122", "20101121", 1},
	{"2_0", "2_0", 0}, {"2.0", "2_0", 0}, {"2_0", "2.0", 0},
	{"a", "a", 0}, {"a+", "a+", 0}, {"a+", "a_", 0}, {"a_", "a+", 0},
	{"+a", "+a", 0}, {"+a", "_a", 0}, {"_a", "+a", 0}, {"+_", "+_", 0},
	{"_+", "+_", 0}, {"_+", "_+", 0}, {"+", "_", 0}, {"_", "+", 0},
	{"1.0~rc1", "1.0~rc1", 0}, {"1.0~rc1", "1.0", -1}, {"1.0", "1.0~rc1", 1},
	{"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc2", "1.0~rc1", 1},
	{"1.0~rc1~git123", "1.0~rc1~git123", 0}, {"1.0~rc1~git123", "1.0~rc1", -1}, {"1.0~rc1", "1.0~rc1~git123", 1},
	{"1.0^", "1.0^", 0}, {"1.0^", "1.0", 1}, {"1.0", "1.0^", -1},
	{"1.0^git1", "1.0^git1", 0}, {"1.0^git1", "1.0", 1}, {"1.0", "1.0^git1", -1},
	{"1.0^git1", "1.0^git2", -1}, {"1.0^git2", "1.0^git1", 1},
	{"1.0^git1", "1.01", -1}, {"1.01", "1.0^git1", 1},
	{"1.0^20160101", "1.0^20160101", 0}, {"1.0^20160101", "1.0.1", -1}, {"1.0.1", "1.0^20160101", 1},
	{"1.0^20160101^git1", "1.0^20160101^git1", 0}, {"1.0^20160102", "1.0^20160101^git1", 1},
	{"1.0^20160101^git1", "1.0^20160102", -1},
	{"1.0~rc1^git1", "1.0~rc1^git1", 0}, {"1.0~rc1^git1", "1.0~rc1", 1}, {"1.0~rc1", "1.0~rc1^git1", -1},
	{"1.0^git1~pre", "1.0^git1~pre", 0}, {"1.0^git1", "1.0^git1~pre", 1}, {"1.0^git1~pre", "1.0^git1", -1},
	{"1.0", "1.0.", 0}, {"", "", 0}, {"", "1", -1}, {"~", "", -1}, {"^", "", 1},
	{"59.el7_9.2", "59.el7_9.1", 1}, {"29.el9_4.1", "26.el9_3.3", 1},
	{"99999999999999999999999", "9", 1},
}

func TestRPMVerCmp(t *testing.T) {
	for _, c := range rpmVerCmpCases {
		if got := RPMVerCmp(c.a, c.b); got != c.want {
			t.Errorf("RPMVerCmp(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestRPMVerCmpReal compares with this machine's rpm (its Lua rpm.vercmp,
// rpm 4.14 and later), when it has one.
func TestRPMVerCmpReal(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not found")
	}
	var lua strings.Builder
	var cases []int // rpm.vercmp refuses an empty version
	for i, c := range rpmVerCmpCases {
		if c.a == "" || c.b == "" {
			continue
		}
		cases = append(cases, i)
		lua.WriteString("print(rpm.vercmp(" + strconv.Quote(c.a) + ", " + strconv.Quote(c.b) + `) .. " ")` + "\n")
	}
	out, err := exec.Command("rpm", "--eval", "%{lua:\n"+lua.String()+"}").Output()
	if err != nil {
		t.Skipf("rpm --eval with Lua: %v", err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(cases) {
		t.Fatalf("rpm printed %d results for %d cases: %q", len(got), len(cases), out)
	}
	for i, k := range cases {
		c := rpmVerCmpCases[k]
		if want := RPMVerCmp(c.a, c.b); strconv.Itoa(want) != got[i] {
			t.Errorf("RPMVerCmp(%q, %q) = %d, rpm says %s", c.a, c.b, want, got[i])
		}
	}
}

func TestSplitAndCompareEVR(t *testing.T) {
	for _, c := range []struct {
		s       string
		e, v, r string
		ok      bool
	}{
		{"1.20.1", "", "1.20.1", "", true},
		{"1.20.1-14.el9", "", "1.20.1", "14.el9", true},
		{"1:1.20.1-14.el9", "1", "1.20.1", "14.el9", true},
		{"1:1.20.1", "1", "1.20.1", "", true},
		{"x:1.0", "", "", "", false},
		{"1:", "", "", "", false},
		{"1.0-", "", "", "", false},
		{"-1", "", "", "", false},
		{"1:2:3", "", "", "", false},
	} {
		e, v, r, ok := SplitEVR(c.s)
		if e != c.e || v != c.v || r != c.r || ok != c.ok {
			t.Errorf("SplitEVR(%q) = %q %q %q %v", c.s, e, v, r, ok)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1:1.20.1-14.el9", "1.20.1-16.el9", 1}, // epoch wins
		{"0:1.0-1", "1.0-1", 0},                 // a missing epoch is 0
		{"1.20.1", "1.20.1-16.el9", 0},          // release only when both have one
		{"7.29.0-59.el7_9.1", "7.29.0-59.el7_9.2", -1},
		{"00012:1", "12:1", 0},
		{"2:1", "10:1", -1},
	} {
		if got := CompareEVR(c.a, c.b); got != c.want {
			t.Errorf("CompareEVR(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParseDnfRepoquery(t *testing.T) {
	// dnf 4.14: the \n of the format, then its own newline.
	dnf4 := "opsrun-a 0:1.1-1 noarch\n\nopsrun-b 2:3.1-1.el9 noarch\n\nglibc 0:2.34-100.el9_4.3 i686\n\nglibc 0:2.34-100.el9_4.4 x86_64\n\n"
	got, err := ParseDnfRepoquery(modules.ProbeResult{Stdout: dnf4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RPMPackage{
		"opsrun-a": {"opsrun-a", "0", "1.1", "1", "noarch"},
		"opsrun-b": {"opsrun-b", "2", "3.1", "1.el9", "noarch"},
		"glibc":    {"glibc", "0", "2.34", "100.el9_4.4", "x86_64"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// dnf 5 prints the format alone.
	if got, err := ParseDnfRepoquery(modules.ProbeResult{Stdout: "opsrun-a 0:1.1-1 noarch\n"}); err != nil || got["opsrun-a"].EVR() != "1.1-1" {
		t.Errorf("dnf 5: %+v, %v", got, err)
	}
	if got, err := ParseDnfRepoquery(modules.ProbeResult{}); err != nil || len(got) != 0 {
		t.Errorf("no upgrades: %+v, %v", got, err)
	}
	if _, err := ParseDnfRepoquery(modules.ProbeResult{ExitStatus: 1}); !errMatches(err, "exit status 1") {
		t.Errorf("failure: %v", err)
	}
	if _, err := ParseDnfRepoquery(modules.ProbeResult{Stdout: "opsrun-a-0:1.1-1.noarch\n"}); !errMatches(err, "want name") {
		t.Errorf("garbage: %v", err)
	}
}

func TestParseYumInfo(t *testing.T) {
	// yum 3.4 output.py infoOutput, under LC_ALL=C, after listPkgs'
	// description line.
	out := `Updated Packages
Name        : curl
Arch        : x86_64
Version     : 7.29.0
Release     : 59.el7_9.2
Size        : 271 k
Repo        : updates
Summary     : A utility for getting files from remote servers (FTP, HTTP, and
            : others)
URL         : http://curl.haxx.se/
License     : MIT
Description : curl is a command line tool for transferring data with URL syntax,
            : Name: not a field

Name        : nginx
Arch        : x86_64
Epoch       : 1
Version     : 1.20.1
Release     : 10.el7
Size        : 588 k
Repo        : epel
Summary     : A high performance web server and reverse proxy server
License     : BSD
Description : Nginx is a web server.

`
	got, err := ParseYumInfo(modules.ProbeResult{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RPMPackage{
		"curl":  {"curl", "", "7.29.0", "59.el7_9.2", "x86_64"},
		"nginx": {"nginx", "1", "1.20.1", "10.el7", "x86_64"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got, err := ParseYumInfo(modules.ProbeResult{ExitStatus: 1}); err != nil || len(got) != 0 {
		t.Errorf("no updates: %+v, %v", got, err)
	}
	for _, c := range []struct {
		r modules.ProbeResult
		e string
	}{
		{modules.ProbeResult{ExitStatus: 200}, "exit status 200"},
		{modules.ProbeResult{Stdout: "Name        : curl\nArch        : x86_64\n"}, "without its version"},
		{modules.ProbeResult{Stdout: "Name        : curl\nArch : x\nEpoch : one\nVersion : 1\nRelease : 1\n"}, "want a number"},
		{modules.ProbeResult{Stdout: "Name        : two words\n"}, "want a package name"},
	} {
		if _, err := ParseYumInfo(c.r); !errMatches(err, c.e) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.e)
		}
	}
}

// zypperUpdates is `zypper --non-interactive --no-refresh --xmlout
// list-updates` as zypper 1.14.42 printed it.
const zypperUpdates = `<?xml version='1.0'?>
<stream>
<message type="info">Loading repository data...</message>
<message type="info">Reading installed packages...</message>
<update-status version="0.6">
<update-list>
<update kind="package" name="opsrun-a" edition="1.1-1" arch="noarch" edition-old="1.0-1"><summary>test package opsrun-a</summary><description>test package</description><license/><source url="file:/tmp/rpmw/top/RPMS" alias="local"/></update><update kind="package" name="opsrun-b" edition="2:3.1-1.el9" arch="noarch" edition-old="2:3.0-1.el9"><summary>test package opsrun-b</summary><description>test package</description><license/><source url="file:/tmp/rpmw/top/RPMS" alias="local"/></update></update-list>
</update-status>
</stream>
`

func TestParseZypperUpdates(t *testing.T) {
	got, err := ParseZypperUpdates(modules.ProbeResult{Stdout: zypperUpdates})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ZypperUpdate{
		"opsrun-a": {"opsrun-a", "1.1-1", "noarch"},
		"opsrun-b": {"opsrun-b", "2:3.1-1.el9", "noarch"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	patch := strings.Replace(zypperUpdates, `kind="package" name="opsrun-a"`, `kind="patch" name="opsrun-a"`, 1)
	if got, err := ParseZypperUpdates(modules.ProbeResult{Stdout: patch}); err != nil || len(got) != 1 {
		t.Errorf("a patch is not a package update: %+v, %v", got, err)
	}
	empty := "<?xml version='1.0'?>\n<stream>\n<update-status version=\"0.6\">\n<update-list>\n</update-list>\n</update-status>\n</stream>\n"
	for _, status := range []int{0, 6, 106} {
		if got, err := ParseZypperUpdates(modules.ProbeResult{Stdout: empty, ExitStatus: status}); err != nil || len(got) != 0 {
			t.Errorf("exit %d: %+v, %v", status, got, err)
		}
	}
	for _, c := range []struct {
		r modules.ProbeResult
		e string
	}{
		{modules.ProbeResult{ExitStatus: 7}, "holds the package manager lock"},
		{modules.ProbeResult{ExitStatus: 1}, "exit status 1"},
		{modules.ProbeResult{Stdout: "<stream><update name=\"a\" edition=\"1\"></stream>"}, "malformed XML"},
		{modules.ProbeResult{Stdout: "<stream><update kind=\"package\" name=\"a\"/></stream>"}, "without a name or edition"},
	} {
		if _, err := ParseZypperUpdates(c.r); !errMatches(err, c.e) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.e)
		}
	}
}

// TestRPMProbeCommands pins the probe commands that run as root on rpm,
// dnf, yum, zypper and apk hosts.
func TestRPMProbeCommands(t *testing.T) {
	for _, c := range []struct {
		got  modules.Probe
		want string
	}{
		{RPMProbe([]string{"curl", "nginx"}),
			`LC_ALL=C rpm -q --queryformat '%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH}\n' curl nginx`},
		{DnfUpgradesProbe([]string{"curl"}),
			`dnf -C -q repoquery --upgrades --latest-limit 1 --queryformat '%{name} %{epoch}:%{version}-%{release} %{arch}\n' curl`},
		{YumUpdatesProbe([]string{"curl", "git"}), `LC_ALL=C yum -C -q info updates curl git`},
		{ZypperUpdatesProbe(), `zypper --non-interactive --no-refresh --xmlout list-updates`},
		{ApkInstalledProbe(), `apk info -v`},
		{ApkVersionProbe([]string{"curl", "py3-foo"}), `apk version -l '<' curl py3-foo`},
	} {
		if c.got.Command != c.want {
			t.Errorf("\n got %s\nwant %s", c.got.Command, c.want)
		}
		if strings.ContainsAny(c.got.Command+c.got.ID, "\n\r") {
			t.Errorf("%s: multi-line", c.got.ID)
		}
	}
}

func FuzzParseRPM(f *testing.F) {
	f.Add("opsrun-b 2:3.0-1.el9 noarch\npackage x is not installed\n", 1)
	f.Add("a (none):1-1 x86_64\r\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseRPM(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, ps := range got {
			for _, p := range ps {
				if err != nil || n != p.Name || p.Version == "" || p.Release == "" || p.Arch == "" || (p.Epoch != "" && !isDigits(p.Epoch)) {
					t.Errorf("inconsistent %q: %+v (%v)", n, p, err)
				}
			}
		}
	})
}

func FuzzParseDnfRepoquery(f *testing.F) {
	f.Add("opsrun-a 0:1.1-1 noarch\n\n", 0)
	f.Add("glibc 0:2.34-1 i686\nglibc 0:2.34-2 x86_64\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseDnfRepoquery(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, p := range got {
			if err != nil || n != p.Name || p.Version == "" || p.Release == "" {
				t.Errorf("inconsistent %q: %+v (%v)", n, p, err)
			}
		}
	})
}

func FuzzParseYumInfo(f *testing.F) {
	f.Add("Updated Packages\nName : curl\nArch : x86_64\nEpoch : 1\nVersion : 7\nRelease : 59\n\n", 0)
	f.Add("Name : a\nName : b\n", 1)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseYumInfo(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, p := range got {
			if err != nil || n != p.Name || p.Version == "" || p.Release == "" || p.Arch == "" {
				t.Errorf("inconsistent %q: %+v (%v)", n, p, err)
			}
		}
	})
}

func FuzzParseZypperUpdates(f *testing.F) {
	f.Add(zypperUpdates, 0)
	f.Add("<stream><update name='a' edition='1'/></stream>", 106)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseZypperUpdates(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, u := range got {
			if err != nil || n != u.Name || u.Edition == "" {
				t.Errorf("inconsistent %q: %+v (%v)", n, u, err)
			}
		}
	})
}

func FuzzRPMVerCmp(f *testing.F) {
	for _, c := range rpmVerCmpCases[:20] {
		f.Add(c.a, c.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := RPMVerCmp(a, b), RPMVerCmp(b, a)
		if ab != -ba || RPMVerCmp(a, a) != 0 || ab < -1 || ab > 1 {
			t.Errorf("RPMVerCmp(%q, %q) = %d but reversed %d", a, b, ab, ba)
		}
		CompareEVR(a, b) // must not panic
	})
}
