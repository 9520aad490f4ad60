package facts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// run runs a probe as the engine does, under sh.
func run(t *testing.T, p modules.Probe) modules.ProbeResult {
	t.Helper()
	return runIn(t, []string{"sh", "-c"}, p)
}

// runIn runs p as the engine does, `( CMD )`, under shell (argv before
// the command), keeping stdout and the exit status; stderr is logged.
func runIn(t *testing.T, shell []string, p modules.Probe) modules.ProbeResult {
	t.Helper()
	cmd := exec.Command(shell[0], append(shell[1:], "( "+p.Command+" )")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Logf("%s: stderr %q", p.ID, stderr.String())
	}
	return modules.ProbeResult{Stdout: string(out), ExitStatus: status}
}

// shells are the shells a probe is run under, as far as this machine has
// them: sh (dash on Debian), bash, and busybox ash with busybox's own
// applets for the tools named in applets, as on Alpine. host names tools
// busybox's shell takes from this machine instead, as Alpine's are not
// all applets; busybox is left out when one is missing. With path "", sh
// and bash keep this process's PATH and busybox's holds the applets and
// host tools only, so a probe that calls any other tool fails there.
// Otherwise path is every shell's PATH, after the applets for busybox, so
// a test can hide or fake a tool.
func shells(t *testing.T, path string, applets []string, host ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, sh := range []string{"sh", "bash"} {
		p, err := exec.LookPath(sh)
		switch {
		case err != nil:
		case path == "":
			out[sh] = []string{p, "-c"}
		default:
			out[sh] = []string{"env", "PATH=" + path, p, "-c"}
		}
	}
	if argv := busybox(t, path, applets, host); argv != nil {
		out["busybox"] = argv
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell")
	}
	return out
}

// busybox is the argv of busybox's shell for shells; nil when this
// machine lacks busybox or one of the host tools.
func busybox(t *testing.T, path string, applets, host []string) []string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil
	}
	links := map[string]string{"sh": bb}
	for _, a := range applets {
		links[a] = bb
	}
	for _, tool := range host {
		if links[tool], err = exec.LookPath(tool); err != nil {
			return nil
		}
	}
	bin := t.TempDir()
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	dirs := bin
	if path != "" {
		dirs += ":" + path
	}
	return []string{"env", "PATH=" + dirs, filepath.Join(bin, "sh"), "-c"}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestStatReal runs the stat probe on real paths of every kind, with
// names a shell would mangle if they were not quoted.
func TestStatReal(t *testing.T) {
	dir := t.TempDir()
	weird := filepath.Join(dir, "a b'c\"$(touch pwned)\nd")
	mustWrite(t, weird, "hello", 0o640)
	mustWrite(t, filepath.Join(dir, "empty"), "", 0o600)
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o2750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(filepath.Join(dir, "d"), 0o2750); err != nil { // umask-proof
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want Stat
	}{
		{weird, Stat{Exists: true, Type: Regular, Mode: 0o640, Size: 5}},
		{"empty", Stat{Exists: true, Type: Regular, Mode: 0o600}},
		{"d", Stat{Exists: true, Type: Directory, Mode: 0o2750}},
		{"dangling", Stat{Exists: true, Type: Symlink, Mode: 0o777, Size: int64(len("/nonexistent"))}},
		{"fifo", Stat{Exists: true, Type: Fifo, Mode: 0o644 &^ umask()}},
		{"absent", Stat{}},
	} {
		p := c.name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		st, err := ParseStat(run(t, StatProbe(p)))
		if err != nil {
			t.Errorf("%q: %v", c.name, err)
			continue
		}
		if c.want.Exists {
			if st.UID != "" && st.UID == st.Owner && os.Geteuid() == 0 {
				t.Errorf("%q: owner %q has no name", c.name, st.Owner)
			}
			c.want.Owner, c.want.Group, c.want.UID, c.want.GID = st.Owner, st.Group, st.UID, st.GID
			if c.want.Type == Directory {
				c.want.Size = st.Size
			}
		}
		if st != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.name, st, c.want)
		}
	}
	if _, err := os.Stat("pwned"); err == nil {
		t.Fatal("a path was interpreted by the shell")
	}
}

func umask() uint32 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m)
}

func mustWrite(t *testing.T, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSumReal runs the checksum probe: content comes along only when it
// differs from the wanted checksum and is small.
func TestSumReal(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small file")
	mustWrite(t, small, "one\ntwo\n", 0o644)
	big := filepath.Join(dir, "big")
	bigContent := strings.Repeat("x", MaxDiffSize+1)
	mustWrite(t, big, bigContent, 0o644)
	empty := filepath.Join(dir, "empty")
	mustWrite(t, empty, "", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	other := sum([]byte("something else"))
	for _, c := range []struct {
		name, path, want string
		out              Sum
	}{
		{"hash only", small, "", Sum{Present: true, SHA256: sum([]byte("one\ntwo\n"))}},
		{"same", small, sum([]byte("one\ntwo\n")), Sum{Present: true, SHA256: sum([]byte("one\ntwo\n"))}},
		{"differs", small, other, Sum{Present: true, SHA256: sum([]byte("one\ntwo\n")), Content: []byte("one\ntwo\n"), HasContent: true}},
		{"large", big, other, Sum{Present: true, SHA256: sum([]byte(bigContent))}},
		{"empty", empty, other, Sum{Present: true, SHA256: emptySHA256, Content: []byte{}, HasContent: true}},
		{"symlink", link, other, Sum{}},
		{"directory", dir, other, Sum{}},
		{"absent", filepath.Join(dir, "nope"), other, Sum{}},
	} {
		got, err := ParseSum(run(t, SumProbe(c.path, c.want)))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.out) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.out)
		}
	}
}

// TestDpkgReal queries this machine's dpkg database.
func TestDpkgReal(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian machine")
	}
	r := run(t, DpkgProbe([]string{"coreutils", "opsrun-no-such-package"}))
	if r.ExitStatus != 1 {
		t.Errorf("exit status %d, want 1 for an unknown name", r.ExitStatus)
	}
	got, err := ParseDpkg(r)
	if err != nil {
		t.Fatal(err)
	}
	if p := got["coreutils"]; !p.Installed() || p.Version == "" || len(got) != 1 {
		t.Errorf("got %+v", got)
	}
}

// TestAptPolicyReal queries this machine's apt.
func TestAptPolicyReal(t *testing.T) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Skip("not a Debian machine")
	}
	got, err := ParseAptPolicy(run(t, AptPolicyProbe([]string{"coreutils", "opsrun-no-such-package"})))
	if err != nil {
		t.Fatal(err)
	}
	if p := got["coreutils"]; p.Installed == "" || p.Candidate == "" || len(got) != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestStatusReal(t *testing.T) {
	for cmd, want := range map[string]int{"true": 0, "exit 7": 7, "echo noise; echo more >&2; false": 1, "no-such-command-xyz": 127} {
		got, err := ParseStatus(run(t, StatusProbe("unless", cmd)))
		if err != nil || got != want {
			t.Errorf("%q: status %d, %v; want %d", cmd, got, err, want)
		}
	}
}

// Samples of real output on Debian bookworm (systemd 252, dpkg 1.21,
// apt 2.6, coreutils 9.1), with what they must parse to.

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		out  string
		want Stat
		err  string
	}{
		{"absent\n", Stat{}, ""},
		{"regular file\t644\troot\troot\t6\t0\t0\n", Stat{true, Regular, 0o644, "root", "root", "0", "0", 6}, ""},
		{"regular empty file\t600\twww-data\tadm\t0\t33\t4\n", Stat{true, Regular, 0o600, "www-data", "adm", "33", "4", 0}, ""},
		{"directory\t1777\troot\troot\t4096\t0\t0\n", Stat{true, Directory, 0o1777, "root", "root", "0", "0", 4096}, ""},
		{"symbolic link\t777\troot\troot\t1\t0\t0\n", Stat{true, Symlink, 0o777, "root", "root", "0", "0", 1}, ""},
		{"character special file\t666\troot\troot\t0\t0\t0\n", Stat{true, CharDev, 0o666, "root", "root", "0", "0", 0}, ""},
		{"regular file\t644\tUNKNOWN\tUNKNOWN\t1\t1234\t5678\n", Stat{true, Regular, 0o644, "1234", "5678", "1234", "5678", 1}, ""},
		{"weird new type\t644\troot\troot\t1\t0\t0\n", Stat{true, Unknown, 0o644, "root", "root", "0", "0", 1}, ""},
		{"", Stat{}, "0 lines"},
		{"regular file|644|root|root|6|0|0\n", Stat{}, "1 fields"},
		{"regular file\t999\troot\troot\t6\t0\t0\n", Stat{}, "mode"},
		{"regular file\t644\troot\troot\t-1\t0\t0\n", Stat{}, "size"},
		{"regular file\t644\troot\troot\t1\tx\t0\n", Stat{}, "uid"},
		{"absent\nabsent\n", Stat{}, "2 lines"},
	} {
		got, err := ParseStat(modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v, %q", c.out, got, err, c.want, c.err)
		}
	}
}

func TestParseSum(t *testing.T) {
	h := sum([]byte("hi\n"))
	for _, c := range []struct {
		out  string
		want Sum
		err  string
	}{
		{"", Sum{}, ""},
		{h + "\n", Sum{Present: true, SHA256: h}, ""},
		{h + "\naGkK\n", Sum{Present: true, SHA256: h, Content: []byte("hi\n"), HasContent: true}, ""},
		{strings.ToUpper(h) + "\n", Sum{Present: true, SHA256: h}, ""},
		// Content not matching the checksum (file rewritten between the
		// two commands) is dropped, not trusted.
		{h + "\naGVsbG8K\n", Sum{Present: true, SHA256: h}, ""},
		{"abc\n", Sum{}, "64 hex digits"},
		{strings.Repeat("z", 64) + "\n", Sum{}, "64 hex digits"},
		{h + "\n!!!\n", Sum{}, "base64"},
	} {
		got, err := ParseSum(modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, %v; want %+v, %q", c.out, got, err, c.want, c.err)
		}
	}
}

func TestParseDpkg(t *testing.T) {
	got, err := ParseDpkg(modules.ProbeResult{ExitStatus: 1, Stdout: "" +
		"curl\tinstall ok installed\t7.88.1-10+deb12u14\n" +
		"nginx\tdeinstall ok config-files\t1.22.1-9+deb12u11\n" +
		"libc6\tinstall ok installed\t2.36-9+deb12u14\n" +
		"libc6\tunknown ok not-installed\t\n" +
		"man-db\tinstall ok triggers-pending\t2.11.2-2\n" +
		"vim\tinstall reinstreq half-installed\t2:9.0.1378-2\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"curl": true, "nginx": false, "libc6": true, "man-db": true, "vim": false}
	for n, inst := range want {
		if got[n].Installed() != inst {
			t.Errorf("%s: installed %v, want %v (%+v)", n, got[n].Installed(), inst, got[n])
		}
	}
	if got["libc6"].Version != "2.36-9+deb12u14" {
		t.Errorf("libc6: the installed architecture must win: %+v", got["libc6"])
	}
	for out, e := range map[string]string{
		"curl install ok installed 1\n": "separated by tabs",
		"curl\tinstalled\t1\n":          "three-word status",
		"\tinstall ok installed\t1\n":   "three-word status",
	} {
		if _, err := ParseDpkg(modules.ProbeResult{Stdout: out}); !errMatches(err, e) {
			t.Errorf("%q: %v, want %q", out, err, e)
		}
	}
	if _, err := ParseDpkg(modules.ProbeResult{ExitStatus: 127}); !errMatches(err, "exit status 127") {
		t.Errorf("dpkg-query not found: %v", err)
	}
}

func TestParseAptPolicy(t *testing.T) {
	out := `bash:
  Installed: 5.2.15-2+b8
  Candidate: 5.2.15-2+b13
  Version table:
     5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 5.2.15-2+b8 100
        100 /var/lib/dpkg/status
nginx:
  Installed: (none)
  Candidate: 1.22.1-9+deb12u11
  Version table:
     1.22.1-9+deb12u11 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
libc6:i386:
  Installed: (none)
  Candidate: (none)
  Version table:
`
	got, err := ParseAptPolicy(modules.ProbeResult{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]AptPolicy{
		"bash":       {"5.2.15-2+b8", "5.2.15-2+b13"},
		"nginx":      {"", "1.22.1-9+deb12u11"},
		"libc6:i386": {"", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := ParseAptPolicy(modules.ProbeResult{Stdout: "  Installed: 1\n"}); err == nil {
		t.Error("a line before any package name must be an error")
	}
}

func TestParseStatus(t *testing.T) {
	for out, want := range map[string]int{"0\n": 0, "1\n": 1, "127\n": 127} {
		if got, err := ParseStatus(modules.ProbeResult{Stdout: out}); err != nil || got != want {
			t.Errorf("%q: %d, %v", out, got, err)
		}
	}
	for _, out := range []string{"", "x\n", "-1\n", "256\n", "0\n1\n"} {
		if _, err := ParseStatus(modules.ProbeResult{Stdout: out}); err == nil {
			t.Errorf("%q: no error", out)
		}
	}
}

func TestGetMissing(t *testing.T) {
	if _, err := Get(modules.Facts{}, StatProbe("/x")); !errMatches(err, "stat:/x was not gathered") {
		t.Errorf("got %v", err)
	}
}

func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// Fuzzers: parsers see whatever a host prints and must never panic; what
// they accept must be self-consistent.

func FuzzParseStat(f *testing.F) {
	f.Add("regular file\t644\troot\troot\t6\t0\t0\n", 0)
	f.Add("absent\n", 0)
	f.Add("directory\t1777\tUNKNOWN\troot\t4096\t12\t0\r\n", 1)
	f.Fuzz(func(t *testing.T, out string, status int) {
		st, err := ParseStat(modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err == nil && st.Exists && (st.Mode > 0o7777 || st.Size < 0 || st.Type == "" || st.Owner == "" || st.Group == "") {
			t.Errorf("accepted inconsistent %+v", st)
		}
	})
}

func FuzzParseSum(f *testing.F) {
	f.Add(sum([]byte("hi\n")) + "\naGkK\n")
	f.Add("")
	f.Add(emptySHA256 + "\n")
	f.Fuzz(func(t *testing.T, out string) {
		s, err := ParseSum(modules.ProbeResult{Stdout: out})
		if err == nil && s.HasContent && sum(s.Content) != s.SHA256 {
			t.Errorf("content does not match its checksum: %+v", s)
		}
		if err == nil && s.Present && len(s.SHA256) != 64 {
			t.Errorf("bad checksum %q", s.SHA256)
		}
	})
}

func FuzzParseDpkg(f *testing.F) {
	f.Add("curl\tinstall ok installed\t7.88.1-10+deb12u14\n", 1)
	f.Add("nginx\tdeinstall ok config-files\t1.22\n\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		got, err := ParseDpkg(modules.ProbeResult{Stdout: out, ExitStatus: status})
		for n, p := range got {
			if err != nil || n == "" || n != p.Name {
				t.Errorf("inconsistent %q: %+v (%v)", n, p, err)
			}
		}
	})
}

func FuzzParseAptPolicy(f *testing.F) {
	f.Add("bash:\n  Installed: 5.2\n  Candidate: (none)\n  Version table:\n     5.2 500\n")
	f.Add(": \n")
	f.Fuzz(func(t *testing.T, out string) {
		got, err := ParseAptPolicy(modules.ProbeResult{Stdout: out})
		for n, p := range got {
			if err != nil || n == "" || p.Candidate == "(none)" || p.Installed == "(none)" {
				t.Errorf("inconsistent %q: %+v (%v)", n, p, err)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add("0\n")
	f.Add(" 255 \r\n")
	f.Fuzz(func(t *testing.T, out string) {
		n, err := ParseStatus(modules.ProbeResult{Stdout: out})
		if err == nil && (n < 0 || n > 255) {
			t.Errorf("status %d", n)
		}
	})
}

// TestProbeCommandsAreOneLine checks probes and their IDs stay readable in
// logs and cannot break the engine's batching: every command is one line
// except where a user's path itself holds a newline (quoted).
func TestProbeCommandsAreOneLine(t *testing.T) {
	for _, p := range []modules.Probe{
		StatProbe("/etc/x"), SumProbe("/etc/x", ""), SumProbe("/etc/x", sum(nil)),
		DpkgProbe([]string{"a", "b"}), AptPolicyProbe([]string{"a"}), SystemdProbe("nginx"),
	} {
		if bytes.ContainsAny([]byte(p.Command), "\n\r") {
			t.Errorf("%s: multi-line command %q", p.ID, p.Command)
		}
	}
}
