package facts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

func TestCrontabProbeCommand(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{CrontabProbe("opsrun").Command, `LC_ALL=C crontab -u opsrun -l 2>&1`},
		{CrontabProbe("svc$").Command, `LC_ALL=C crontab -u 'svc$' -l 2>&1`},
	} {
		if c.got != c.want {
			t.Errorf("\n got %s\nwant %s", c.got, c.want)
		}
	}
}

// TestParseCrontab reads what each crontab prints: the messages are those
// of vixie cron (Debian), cronie (RHEL) and busybox (Alpine) sources.
func TestParseCrontab(t *testing.T) {
	for _, c := range []struct {
		name   string
		out    string
		status int
		want   Crontab
		err    string
		is     error
	}{
		{"listing", "# mine\n0 3 * * * /bin/true\n", 0, Crontab{Exists: true, Content: "# mine\n0 3 * * * /bin/true\n"}, "", nil},
		{"no final newline", "0 3 * * * /bin/true", 0, Crontab{Exists: true, Content: "0 3 * * * /bin/true"}, "", nil},
		{"empty crontab", "", 0, Crontab{Exists: true}, "", nil},
		{"vixie none", "no crontab for opsrun\n", 1, Crontab{}, "", nil},
		{"openbsd-style none", "crontab: no crontab for `opsrun'\n", 1, Crontab{}, "", nil},
		{"busybox none", "crontab: can't open 'opsrun': No such file or directory\n", 1, Crontab{}, "", nil},
		{"vixie unknown user", "crontab:  user `opsrun' unknown\n", 1, Crontab{}, "crontab: user opsrun: no such user", ErrUnknownUser},
		{"busybox unknown user", "crontab: unknown user opsrun\n", 1, Crontab{}, "crontab: user opsrun: no such user", ErrUnknownUser},
		{"dash not found", "sh: 1: crontab: not found\n", 127, Crontab{}, "there is no crontab command", ErrNoCrontab},
		{"silent not found", "", 127, Crontab{}, "there is no crontab command", ErrNoCrontab},
		{"another user's message", "no crontab for opsrun2\n", 1, Crontab{}, `crontab -l failed (exit status 1): "no crontab for opsrun2"`, nil},
		{"busybox no spool", "crontab: can't change directory to '/var/spool/cron/crontabs': No such file or directory\n", 1, Crontab{},
			"crontab -l failed (exit status 1): \"crontab: can't change directory to '/var/spool/cron/crontabs...", nil},
		{"permission", "/var/spool/cron/crontabs/opsrun/: fopen: Permission denied\n", 1, Crontab{}, "fopen: Permission denied", nil},
		{"silent failure", "", 1, Crontab{}, "crontab -l failed (exit status 1) and printed nothing", nil},
	} {
		got, err := ParseCrontab("opsrun", modules.ProbeResult{Stdout: c.out, ExitStatus: c.status})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.is != nil && !errors.Is(err, c.is):
			t.Errorf("%s: error %v is not %v", c.name, err, c.is)
		case got != c.want:
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestCrontabProbeNoCommand runs the probe with an empty PATH, so there is
// no crontab, under each shell: every one exits 127, which the parser
// reads as no cron.
func TestCrontabProbeNoCommand(t *testing.T) {
	for shell, argv := range probeShells(t, t.TempDir()) {
		r := runIn(t, argv, CrontabProbe("opsrun"))
		if _, err := ParseCrontab("opsrun", r); !errors.Is(err, ErrNoCrontab) {
			t.Errorf("%s: %+v: %v, want ErrNoCrontab", shell, r, err)
		}
	}
}

// TestCrontabProbeFake runs the probe against a stand-in crontab that
// prints on stderr and exits 1, as vixie cron does for a user without a
// crontab: the message must reach the parser through the 2>&1.
func TestCrontabProbeFake(t *testing.T) {
	dir := t.TempDir()
	fake := "#!/bin/sh\n[ \"$1 $2 $3\" = '-u opsrun -l' ] || exit 9\necho \"no crontab for $2\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "crontab"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	for shell, argv := range probeShells(t, dir+":"+os.Getenv("PATH")) {
		r := runIn(t, argv, CrontabProbe("opsrun"))
		ct, err := ParseCrontab("opsrun", r)
		if err != nil || ct.Exists {
			t.Errorf("%s: %+v: %+v, %v; want an empty crontab", shell, r, ct, err)
		}
	}
}

// probeShells are the shells the crontab and sysctl probes are run
// under, with PATH set to path: sh (dash on Debian), bash, and busybox's
// ash with busybox's own applets first on PATH, as on Alpine.
func probeShells(t *testing.T, path string) map[string][]string {
	t.Helper()
	return shells(t, path, []string{"cat", "echo", "["})
}

func FuzzParseCrontab(f *testing.F) {
	f.Add("no crontab for root\n", 1)
	f.Add("0 3 * * * x\n", 0)
	f.Add("crontab: unknown user root\n", 1)
	f.Add("", 127)
	f.Fuzz(func(t *testing.T, out string, status int) {
		ct, err := ParseCrontab("root", modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err == nil && ct.Exists != (status == 0) {
			t.Errorf("status %d gave %+v", status, ct)
		}
		if err == nil && !ct.Exists && ct.Content != "" {
			t.Errorf("no crontab with content %q", ct.Content)
		}
	})
}
