package facts

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// alpineRunlevels are the runlevels of a stock Alpine system, as
// rc-update show walks them (sorted).
var alpineRunlevels = []string{"boot", "default", "nonetwork", "shutdown", "sysinit"}

// rcUpdateShowLine prints one line of `rc-update show` as OpenRC's
// src/rc-update/rc-update.c show() does: " %20s |", then for each runlevel
// " NAME" when the service is in it, else as many spaces.
func rcUpdateShowLine(service string, in ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, " %20s |", service)
	for _, l := range alpineRunlevels {
		if slices.Contains(in, l) {
			b.WriteString(" " + l)
		} else {
			b.WriteString(" " + strings.Repeat(" ", len(l)))
		}
	}
	return b.String() + "\n"
}

func TestRCUpdateShowLine(t *testing.T) {
	// One line as Alpine prints it, to keep the helper honest.
	want := "                 sshd |      default" + strings.Repeat(" ", 27) + "\n"
	if got := rcUpdateShowLine("sshd", "default"); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestOpenRCProbeCommand(t *testing.T) {
	got := OpenRCProbe("nginx")
	want := `if ! command -v rc-service >/dev/null; then echo no-openrc; elif rc-service -e nginx; then ` +
		`rc-service nginx status </dev/null 2>&1; echo "== opsrun: rc-service status exited $?"; rc-update show; ` +
		`else echo no-service; fi`
	if got.ID != "openrc:nginx" || got.Command != want {
		t.Errorf("\n got %s %s\nwant openrc:nginx %s", got.ID, got.Command, want)
	}
	initOneLine(t, got)
}

// showAlpine is `rc-update show` on an Alpine host with nginx enabled.
var showAlpine = rcUpdateShowLine("acpid", "default") +
	rcUpdateShowLine("bootmisc", "boot") +
	rcUpdateShowLine("crond", "default") +
	rcUpdateShowLine("devfs", "sysinit") +
	rcUpdateShowLine("killprocs", "shutdown") +
	rcUpdateShowLine("nginx", "default") +
	rcUpdateShowLine("nginx-exporter", "boot", "default") +
	rcUpdateShowLine("sshd", "default")

const marker = "== opsrun: rc-service status exited "

func TestParseOpenRC(t *testing.T) {
	for _, c := range []struct {
		name, out string
		want      OpenRC
		err       string
	}{
		{"nginx", " * status: started\n" + marker + "0\n" + showAlpine,
			OpenRC{Found: true, Status: "started", Runlevels: []string{"default"}}, ""},
		{"nginx-exporter", " * status: stopped\n" + marker + "3\n" + showAlpine,
			OpenRC{Found: true, Status: "stopped", Runlevels: []string{"boot", "default"}}, ""},
		{"bootmisc", " * status: crashed\n" + marker + "32\n" + showAlpine,
			OpenRC{Found: true, Status: "crashed", Runlevels: []string{"boot"}}, ""},
		{"php-fpm83", " * status: stopped\n" + marker + "3\n" + showAlpine,
			OpenRC{Found: true, Status: "stopped"}, ""},
		{"php-fpm83", " * status: starting\n" + marker + "8\n", OpenRC{Found: true, Status: "starting"}, ""},
		{"php-fpm83", " * status: unsupervised\n" + marker + "64\n", OpenRC{Found: true, Status: "unsupervised"}, ""},
		// einfo's colors, when EINFO_COLOR forces them.
		{"nginx", " \x1b[32;01m*\x1b[0m status: started\n" + marker + "0\n", OpenRC{Found: true, Status: "started"}, ""},
		// A script's own status function: its words, or its exit status.
		{"db", "checking pid file\n * status: stopped\n" + marker + "0\n", OpenRC{Found: true, Status: "stopped"}, ""},
		{"db", "db is running (pid 42)\n" + marker + "0\n", OpenRC{Found: true, Status: "started"}, ""},
		{"db", marker + "3\n", OpenRC{Found: true, Status: "stopped"}, ""},
		{"db", " * You are attempting to run an openrc service on a\n * system which openrc did not boot.\n" + marker + "1\n",
			OpenRC{}, "status exited 1 and printed no status word"},
		{"db", " * status: runing\n" + marker + "1\n", OpenRC{}, "printed no status word"},
		{"nginx", "no-service\n", OpenRC{}, ""},
		{"nginx", "no-openrc\n", OpenRC{}, "is OpenRC the host's init system"},
		{"nginx", "", OpenRC{}, "want the status"},
		{"nginx", " * status: started\n", OpenRC{}, "want the status"},
		{"nginx", marker + "x\n", OpenRC{}, "want an exit status"},
		{"nginx", marker + "0\nnginx default\n", OpenRC{}, `want "service | runlevels"`},
		{"0", marker + "0\n0 |000|00000000", OpenRC{}, `want "service | runlevels"`}, // found by fuzzing
	} {
		got, err := ParseOpenRC(c.name, modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q:\n got %+v, %v\nwant %+v, %q", c.name, c.out, got, err, c.want, c.err)
		}
	}
}

// TestOpenRCProbeReal runs the probe under every shell against stand-ins
// for rc-service and rc-update that behave as OpenRC's do (see
// ParseOpenRC): status words on stdout for started and stopped, on
// stderr for the others, rc-service -e's exit status. It proves the
// probe's shell, quoting and stdin handling, not OpenRC itself.
func TestOpenRCProbeReal(t *testing.T) {
	dir := t.TempDir()
	bin, svc := filepath.Join(dir, "bin"), filepath.Join(dir, "init.d")
	for _, d := range []string{bin, svc} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	q := "'" + svc + "'"
	mustWrite(t, filepath.Join(bin, "rc-service"), `#!/bin/sh
if [ "$1" = -e ]; then [ -f `+q+`/"$2" ]; exit $?; fi
[ -f `+q+`/"$1" ] || { echo " * rc-service: service \`+"`"+`$1' does not exist" >&2; exit 1; }
[ "$2" = status ] || exit 1
. `+q+`/"$1"
`, 0o755)
	var show strings.Builder
	show.WriteString("#!/bin/sh\n[ \"$1\" = show ] || exit 1\n")
	for _, l := range strings.SplitAfter(showAlpine, "\n") {
		if l != "" {
			fmt.Fprintf(&show, "printf '%%s\\n' '%s'\n", strings.TrimSuffix(l, "\n"))
		}
	}
	mustWrite(t, filepath.Join(bin, "rc-update"), show.String(), 0o755)
	for name, body := range map[string]string{
		"nginx":          `echo " * status: started"; exit 0`,
		"nginx-exporter": `echo " * status: crashed" >&2; exit 32`,
		"reader":         `read -r line; echo " * status: stopped"; exit 3`,
	} {
		mustWrite(t, filepath.Join(svc, name), body+"\n", 0o644)
	}
	path := bin + ":" + os.Getenv("PATH")
	for name, argv := range initShells(t) {
		for _, c := range []struct {
			service, path string
			want          OpenRC
			err           string
		}{
			{"nginx", path, OpenRC{Found: true, Status: "started", Runlevels: []string{"default"}}, ""},
			{"nginx-exporter", path, OpenRC{Found: true, Status: "crashed", Runlevels: []string{"boot", "default"}}, ""},
			{"reader", path, OpenRC{Found: true, Status: "stopped"}, ""},
			{"absent", path, OpenRC{}, ""},
			{"nginx", dir, OpenRC{}, "is OpenRC"},
		} {
			got, err := ParseOpenRC(c.service, initRun(t, argv, c.path, OpenRCProbe(c.service)))
			if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %s: got %+v, %v; want %+v, %q", name, c.service, got, err, c.want, c.err)
			}
		}
	}
}

func FuzzParseOpenRC(f *testing.F) {
	f.Add("nginx", " * status: started\n"+marker+"0\n"+showAlpine)
	f.Add("nginx", "no-service\n")
	f.Add("a", marker+"32\n  a | boot\n")
	f.Fuzz(func(t *testing.T, name, out string) {
		o, err := ParseOpenRC(name, modules.ProbeResult{Stdout: out})
		if err != nil {
			return
		}
		if o.Found != slices.Contains(openrcStatuses, o.Status) || (!o.Found && len(o.Runlevels) > 0) {
			t.Errorf("inconsistent %+v", o)
		}
		for _, l := range o.Runlevels {
			if l == "" || strings.ContainsAny(l, " \t|") {
				t.Errorf("runlevel %q", l)
			}
		}
	})
}
