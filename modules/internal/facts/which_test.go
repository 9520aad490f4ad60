package facts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// TestWhichReal asks each shell for a command every machine has, a shell
// builtin and one no machine has.
func TestWhichReal(t *testing.T) {
	names := []string{"sh", "opsrun-no-such-command", "cd"}
	p := WhichProbe(names...)
	if p.Command != `for c in sh opsrun-no-such-command cd; do if command -v "$c" >/dev/null 2>&1; then echo "$c"; fi; done` {
		t.Errorf("command %s", p.Command)
	}
	for shell, f := range probeWith(t, p) {
		got, err := ParseWhich(f[p.ID], names...)
		if err != nil || !reflect.DeepEqual(got, map[string]bool{"sh": true, "cd": true}) {
			t.Errorf("%s: %v, %v", shell, got, err)
		}
	}
}

func TestParseWhich(t *testing.T) {
	if got, err := ParseWhich(modules.ProbeResult{Stdout: "curl\r\nsha256sum\n"}, "curl", "wget", "sha256sum"); err != nil ||
		!reflect.DeepEqual(got, map[string]bool{"curl": true, "sha256sum": true}) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := ParseWhich(modules.ProbeResult{}, "curl"); err != nil || len(got) != 0 {
		t.Errorf("nothing found: %v, %v", got, err)
	}
	if _, err := ParseWhich(modules.ProbeResult{Stdout: "/usr/bin/curl\n"}, "curl"); err == nil || !strings.Contains(err.Error(), "want one of curl") {
		t.Errorf("garbage: %v", err)
	}
}

func FuzzParseWhich(f *testing.F) {
	f.Add("curl\nwget\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, out string) {
		got, err := ParseWhich(modules.ProbeResult{Stdout: out}, "curl", "wget")
		for n := range got {
			if err != nil || n != "curl" && n != "wget" {
				t.Errorf("accepted %q (%v)", n, err)
			}
		}
	})
}
