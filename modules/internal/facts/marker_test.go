package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// TestMarkerReal reads markers of every kind under each shell.
func TestMarkerReal(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", MarkerMax+10)
	for name, content := range map[string]string{"m": "abc\nstrip_components=1\n", "empty": "", "no newline": "abc", "long": long} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("m", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	want := map[string]Marker{
		"m":          {true, "abc\nstrip_components=1\n"},
		"empty":      {true, ""},
		"no newline": {true, "abc"},
		"long":       {true, long[:MarkerMax]},
		"link":       {},
		"none":       {},
		".":          {},
	}
	var ps []modules.Probe
	names := []string{}
	for name := range want {
		names = append(names, name)
		ps = append(ps, MarkerProbe(filepath.Join(dir, name)))
	}
	for shell, f := range probeWith(t, ps...) {
		for i, name := range names {
			got, err := ParseMarker(f[ps[i].ID])
			if err != nil || got != want[name] {
				t.Errorf("%s: %s: %+v, %v; want %+v", shell, name, got, err, want[name])
			}
		}
	}
	if p := MarkerProbe("/srv/it's"); p.Command != `if [ -f '/srv/it'"'"'s' ] && [ ! -h '/srv/it'"'"'s' ]; then echo present; head -c 1024 '/srv/it'"'"'s'; else echo absent; fi` {
		t.Errorf("command %s", p.Command)
	}
}

func TestParseMarker(t *testing.T) {
	for out, want := range map[string]Marker{"absent\n": {}, "present\n": {true, ""}, "present\nabc\n": {true, "abc\n"}} {
		if got, err := ParseMarker(modules.ProbeResult{Stdout: out}); err != nil || got != want {
			t.Errorf("%q: %+v, %v", out, got, err)
		}
	}
	for _, out := range []string{"", "absent", "head: cannot open\n", "presentabc"} {
		if _, err := ParseMarker(modules.ProbeResult{Stdout: out}); err == nil {
			t.Errorf("%q: no error", out)
		}
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add("present\nabc\n")
	f.Add("absent\n")
	f.Fuzz(func(t *testing.T, out string) {
		m, err := ParseMarker(modules.ProbeResult{Stdout: out})
		if err == nil && !m.Present && m.Content != "" {
			t.Errorf("content without a marker: %+v", m)
		}
	})
}
