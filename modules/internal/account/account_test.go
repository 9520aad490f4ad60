package account

import (
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"deploy": true, "_apt": true, "www-data": true, "first.last": true, "host$": true,
		strings.Repeat("a", 32): true, strings.Repeat("a", 33): false,
		"": false, "Deploy": false, "-g": false, "1up": false, "a:b": false, "a$b": false, "a b": false, "a\n": false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, !want, want)
		}
	}
}

func TestProbeTools(t *testing.T) {
	for family, want := range map[string]bool{"alpine": true, "debian": false, "rhel": false, "suse": false, "arch": false} {
		if ProbeTools(&modules.Host{OSFamily: family}) != want {
			t.Errorf("%s: ProbeTools = %v, want %v", family, !want, want)
		}
	}
}
