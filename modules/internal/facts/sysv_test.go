package facts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// initShells are the POSIX shells the init system probes must work
// under, as far as this machine has them: dash (Debian's sh), bash, and
// busybox ash (Alpine).
func initShells(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, argv := range map[string][]string{
		"sh": {"sh"}, "dash": {"dash"}, "bash": {"bash", "--posix"}, "busybox": {"busybox", "sh"},
	} {
		if _, err := exec.LookPath(argv[0]); err == nil {
			out[name] = argv
		}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell on this machine")
	}
	return out
}

// initRun runs a probe as the engine does, `( CMD )`, under shell argv
// with PATH path. stdin is a pipe holding the text of a next probe: the
// engine's probes share one shell, so a command of the probe that read
// stdin would swallow the probes after it.
func initRun(t *testing.T, argv []string, path string, p modules.Probe) modules.ProbeResult {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "-c", "( "+p.Command+" ); read -r next; echo \"$next\"")...)
	cmd.Env = []string{"PATH=" + path, "LC_ALL=C"}
	cmd.Stdin = bytes.NewBufferString("NEXT PROBE\n")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	s, ok := strings.CutSuffix(string(out), "NEXT PROBE\n")
	if !ok {
		t.Fatalf("%s: the probe read stdin (the next probe's text); output %q", argv[0], out)
	}
	return modules.ProbeResult{Stdout: s}
}

// initOneLine checks a probe stays one line, as the engine's batching and
// the logs want.
func initOneLine(t *testing.T, p modules.Probe) {
	t.Helper()
	if strings.ContainsAny(p.Command, "\n\r") || strings.ContainsAny(p.ID, "\n\r") {
		t.Errorf("%s: multi-line probe %q", p.ID, p.Command)
	}
}

func TestSysVProbeCommand(t *testing.T) {
	got := SysVProbe("nginx")
	want := `if [ -f /etc/init.d/nginx ]; then /etc/init.d/nginx status </dev/null >/dev/null 2>&1; echo "status $?"; ` +
		`for l in /etc/rc?.d/[SK]??nginx; do if [ -h "$l" ] || [ -e "$l" ]; then echo "link $l"; fi; done; else echo missing; fi`
	if got.ID != "sysv:nginx" || got.Command != want {
		t.Errorf("\n got %s %s\nwant sysv:nginx %s", got.ID, got.Command, want)
	}
	initOneLine(t, got)
	initOneLine(t, SysVProbe("it's"))
}

// TestSysVProbeReal runs the probe on a scratch /etc under every shell:
// scripts exiting with each LSB status, one that reads stdin, runlevel
// links as update-rc.d and chkconfig make them, a look-alike name, and a
// name the shell would mangle unquoted.
func TestSysVProbeReal(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "my etc")
	for _, d := range []string{"init.d", "rc0.d", "rc1.d", "rc2.d", "rc3.d", "rc5.d", "rcS.d"} {
		if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := func(name, body string) {
		mustWrite(t, filepath.Join(etc, "init.d", name), "#!/bin/sh\n"+body+"\n", 0o755)
	}
	link := func(dir, name, target string) {
		if err := os.Symlink("../init.d/"+target, filepath.Join(etc, dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	script("web", `[ "$1" = status ] && echo "web is running" && exit 0; exit 1`)
	link("rc2.d", "S01web", "web")
	link("rc3.d", "S01web", "web")
	link("rc0.d", "K01web", "web")
	link("rc2.d", "S01webx", "webx") // another service: not matched
	script("webx", "exit 0")
	script("db", `echo "db is not running" >&2; exit 3`)
	link("rc2.d", "K80db", "db")          // disabled (update-rc.d disable)
	script("cat", `read -r line; exit 3`) // reads stdin: must get EOF
	script("unknown", "exit 4")
	script("it's $x", "exit 0")
	link("rcS.d", "S10it's $x", "it's $x")
	mustWrite(t, filepath.Join(etc, "init.d", "noexec"), "#!/bin/sh\nexit 0\n", 0o644)
	if err := os.Mkdir(filepath.Join(etc, "init.d", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	for name, argv := range initShells(t) {
		for _, c := range []struct {
			service string
			want    SysV
		}{
			{"web", SysV{Found: true, Status: 0, Links: []SysVLink{{'0', false}, {'2', true}, {'3', true}}}},
			{"db", SysV{Found: true, Status: 3, Links: []SysVLink{{'2', false}}}},
			{"cat", SysV{Found: true, Status: 3}},
			{"unknown", SysV{Found: true, Status: 4}},
			{"it's $x", SysV{Found: true, Status: 0, Links: []SysVLink{{'S', true}}}},
			{"noexec", SysV{Found: true, Status: 126}},
			{"dir", SysV{}},
			{"absent", SysV{}},
		} {
			got, err := ParseSysV(initRun(t, argv, os.Getenv("PATH"), sysvProbe(etc, c.service)))
			if err != nil {
				t.Errorf("%s: %q: %v", name, c.service, err)
				continue
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %q:\n got %+v\nwant %+v", name, c.service, got, c.want)
			}
		}
	}
}

func TestParseSysV(t *testing.T) {
	for _, c := range []struct {
		out     string
		want    SysV
		enabled bool
		err     string
	}{
		{"missing\n", SysV{}, false, ""},
		{"status 0\nlink /etc/rc2.d/S01nginx\nlink /etc/rc0.d/K01nginx\n",
			SysV{Found: true, Links: []SysVLink{{'2', true}, {'0', false}}}, true, ""},
		{"status 3\nlink /etc/rc2.d/K01nginx\n", SysV{Found: true, Status: 3, Links: []SysVLink{{'2', false}}}, false, ""},
		{"status 1\n", SysV{Found: true, Status: 1}, false, ""},
		{"status 0\nlink /etc/rcS.d/S02hwclock.sh\n", SysV{Found: true, Links: []SysVLink{{'S', true}}}, true, ""},
		{"", SysV{}, false, "printed nothing"},
		{"status x\n", SysV{}, false, `want "status N"`},
		{"status 256\n", SysV{}, false, `want "status N"`},
		{"Usage: /etc/init.d/x {start|stop}\n", SysV{}, false, `want "status N"`},
		{"status 0\nlink /etc/rc2.d/nginx\n", SysV{}, false, "want \"link"},
		{"status 0\nS01nginx\n", SysV{}, false, "want \"link"},
	} {
		got, err := ParseSysV(modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) || got.Enabled() != c.enabled {
			t.Errorf("%q: got %+v (enabled %v), %v; want %+v (enabled %v), %q", c.out, got, got.Enabled(), err, c.want, c.enabled, c.err)
		}
	}
	for code, want := range map[int][2]bool{0: {true, false}, 1: {false, true}, 2: {false, true}, 3: {false, true}, 4: {false, false}, 127: {false, false}} {
		s := SysV{Found: true, Status: code}
		if s.Running() != want[0] || s.Stopped() != want[1] {
			t.Errorf("status %d: running %v stopped %v, want %v", code, s.Running(), s.Stopped(), want)
		}
	}
}

func FuzzParseSysV(f *testing.F) {
	f.Add("status 0\nlink /etc/rc2.d/S01nginx\n")
	f.Add("missing\n")
	f.Add("status 4\r\n")
	f.Fuzz(func(t *testing.T, out string) {
		s, err := ParseSysV(modules.ProbeResult{Stdout: out})
		if err != nil {
			return
		}
		if s.Status < 0 || s.Status > 255 || (!s.Found && (s.Status != 0 || len(s.Links) > 0)) {
			t.Errorf("inconsistent %+v", s)
		}
		for _, l := range s.Links {
			if !strings.ContainsRune("0123456S", rune(l.Runlevel)) {
				t.Errorf("runlevel %q", l.Runlevel)
			}
		}
	})
}
