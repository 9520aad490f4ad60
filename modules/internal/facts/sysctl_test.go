package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

func TestSysctlProbeCommands(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{SysctlProbe("/proc/sys/net/ipv4/ip_forward").Command,
			`f=/proc/sys/net/ipv4/ip_forward; if [ -f "$f" ]; then if [ -w "$f" ]; then echo writable; else echo read-only; fi; cat "$f"; else echo absent; fi`},
		{ProcSysMountProbe().Command,
			`while read -r _ m _ o _; do case $m in /proc|/proc/sys) echo "$m $o";; esac; done < /proc/self/mounts`},
		{ConfFileProbe("/etc/sysctl.d/99-opsrun.conf").Command,
			`if [ -h /etc/sysctl.d/99-opsrun.conf ]; then echo link; elif [ -f /etc/sysctl.d/99-opsrun.conf ]; then echo file; cat /etc/sysctl.d/99-opsrun.conf; elif [ -e /etc/sysctl.d/99-opsrun.conf ]; then echo other; elif [ -d /etc/sysctl.d/ ]; then echo absent; else echo nodir; fi`},
	} {
		if c.got != c.want {
			t.Errorf("\n got %s\nwant %s", c.got, c.want)
		}
	}
}

// TestSysctlReal reads real kernel parameters of this machine (never
// writes one) under each shell.
func TestSysctlReal(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/ostype"); err != nil {
		t.Skip("no /proc/sys here")
	}
	for shell, argv := range probeShells(t, os.Getenv("PATH")) {
		s, err := ParseSysctl(runIn(t, argv, SysctlProbe("/proc/sys/kernel/ostype")))
		if err != nil || !s.Exists || !s.Readable || s.Value != "Linux" {
			t.Errorf("%s: kernel.ostype: %+v, %v", shell, s, err)
		}
		s, err = ParseSysctl(runIn(t, argv, SysctlProbe("/proc/sys/net/ipv4/ip_local_port_range")))
		if err != nil || !s.Exists || len(strings.Split(s.Value, "\t")) != 2 {
			t.Errorf("%s: ip_local_port_range: %+v, %v; want two tab-separated numbers", shell, s, err)
		}
		s, err = ParseSysctl(runIn(t, argv, SysctlProbe("/proc/sys/net/ipv4/no_such_key")))
		if err != nil || s.Exists {
			t.Errorf("%s: missing key: %+v, %v", shell, s, err)
		}
		// Mode 0200: root may write it but not read it.
		s, err = ParseSysctl(runIn(t, argv, SysctlProbe("/proc/sys/vm/drop_caches")))
		if err != nil || !s.Exists || s.Readable {
			t.Errorf("%s: vm.drop_caches: %+v, %v; want unreadable", shell, s, err)
		}
		// Mode 0444: dash and bash ask access(2), which the kernel answers
		// from the key's mode even for root; busybox's test says yes to root.
		s, err = ParseSysctl(runIn(t, argv, SysctlProbe("/proc/sys/kernel/ostype")))
		if err == nil && shell != "busybox" && s.Writable {
			t.Errorf("%s: kernel.ostype is read-only, the probe says writable", shell)
		}
		ro, err := ParseProcSysMount(runIn(t, argv, ProcSysMountProbe()))
		if err != nil {
			t.Errorf("%s: mounts: %v", shell, err)
		}
		t.Logf("%s: /proc/sys read-only: %v", shell, ro)
	}
}

func TestParseSysctl(t *testing.T) {
	for _, c := range []struct {
		out    string
		status int
		want   Sysctl
		err    string
	}{
		{"writable\n1\n", 0, Sysctl{Exists: true, Writable: true, Readable: true, Value: "1"}, ""},
		{"read-only\n32768\t60999\n", 0, Sysctl{Exists: true, Readable: true, Value: "32768\t60999"}, ""},
		{"writable\n", 1, Sysctl{Exists: true, Writable: true}, ""},
		{"absent\n", 0, Sysctl{}, ""},
		{"absent\n1\n", 0, Sysctl{}, "after absent"},
		{"", 0, Sysctl{}, "want writable, read-only or absent"},
		{"1\n", 0, Sysctl{}, "want writable, read-only or absent"},
	} {
		got, err := ParseSysctl(modules.ProbeResult{Stdout: c.out, ExitStatus: c.status})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.out, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.out, got, err, c.want)
		}
	}
}

// TestParseProcSysMount reads the lines the probe prints on a host, in a
// Docker container (/proc/sys bound read-only over /proc) and after it was
// remounted read-write.
func TestParseProcSysMount(t *testing.T) {
	for _, c := range []struct {
		out  string
		ro   bool
		fail bool
	}{
		{"/proc rw,nosuid,nodev,noexec,relatime\n", false, false},
		{"/proc rw,nosuid,nodev,noexec,relatime\n/proc/sys ro,nosuid,nodev,noexec,relatime\n", true, false},
		{"/proc rw,relatime\n/proc/sys ro,relatime\n/proc/sys rw,relatime\n", false, false},
		{"/proc ro,relatime\n", true, false},
		{"/proc rw,errors=remount-ro\n", false, false},
		{"", false, true},
		{"/proc\n", false, true},
		{"/sys rw\n", false, true},
	} {
		ro, err := ParseProcSysMount(modules.ProbeResult{Stdout: c.out})
		if (err != nil) != c.fail || ro != c.ro {
			t.Errorf("%q: %v, %v; want %v (fail %v)", c.out, ro, err, c.ro, c.fail)
		}
	}
}

// TestConfFileReal runs the file probe on real paths under each shell.
func TestConfFileReal(t *testing.T) {
	dir := t.TempDir()
	weird := filepath.Join(dir, "it's $(touch pwned).conf")
	mustWrite(t, weird, "a = 1\nno newline", 0o644)
	mustWrite(t, filepath.Join(dir, "empty.conf"), "", 0o644)
	if err := os.Symlink(weird, filepath.Join(dir, "link.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	for shell, argv := range probeShells(t, os.Getenv("PATH")) {
		for _, c := range []struct {
			path string
			want ConfFile
			err  string
		}{
			{weird, ConfFile{Exists: true, Content: "a = 1\nno newline"}, ""},
			{filepath.Join(dir, "empty.conf"), ConfFile{Exists: true}, ""},
			{filepath.Join(dir, "none.conf"), ConfFile{}, ""},
			{filepath.Join(dir, "nodir", "x.conf"), ConfFile{NoDir: true}, ""},
			{filepath.Join(dir, "link.conf"), ConfFile{}, "is a symbolic link"},
			{filepath.Join(dir, "d.conf"), ConfFile{}, "is not a regular file"},
		} {
			got, err := ParseConfFile(c.path, runIn(t, argv, ConfFileProbe(c.path)))
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s: %s: error %v, want %q", shell, c.path, err, c.err)
				}
			case err != nil || got != c.want:
				t.Errorf("%s: %s: %+v, %v; want %+v", shell, c.path, got, err, c.want)
			}
		}
	}
	if _, err := os.Stat("pwned"); err == nil {
		t.Fatal("a path was interpreted by the shell")
	}
}

func FuzzParseSysctl(f *testing.F) {
	f.Add("writable\n1\n", 0)
	f.Add("absent\n", 0)
	f.Add("read-only\n", 1)
	f.Fuzz(func(t *testing.T, out string, status int) {
		s, err := ParseSysctl(modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err == nil && !s.Exists && (s.Writable || s.Readable || s.Value != "") {
			t.Errorf("absent key with state %+v", s)
		}
	})
}

func FuzzParseProcSysMount(f *testing.F) {
	f.Add("/proc rw,relatime\n/proc/sys ro,relatime\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		ro, err := ParseProcSysMount(modules.ProbeResult{Stdout: out})
		if err != nil && ro {
			t.Errorf("error %v with read-only set", err)
		}
	})
}

func FuzzParseConfFile(f *testing.F) {
	f.Add("file\na = 1\n", 0)
	f.Add("nodir\n", 0)
	f.Add("link\n", 0)
	f.Fuzz(func(t *testing.T, out string, status int) {
		c, err := ParseConfFile("/etc/x.conf", modules.ProbeResult{Stdout: out, ExitStatus: status})
		if err == nil && (c.Exists && c.NoDir || !c.Exists && c.Content != "") {
			t.Errorf("inconsistent %+v", c)
		}
	})
}
