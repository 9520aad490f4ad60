package sshconn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

func TestCheck(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	good := writeKey(t, dir, "id_good", "ed25519", "", false)
	locked := writeKey(t, dir, "id_locked", "ed25519", "pw", true)
	garbage := filepath.Join(dir, "id_garbage")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	prompts := 0
	d, err := NewDialer(Options{SSHConfigFile: "none", Prompt: func(string) (string, error) { prompts++; return "pw", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	host := func(keys ...string) *inventory.Host {
		return &inventory.Host{Name: "h", Address: "127.0.0.1", User: "u", SSH: inventory.SSH{IdentityFiles: keys, KnownHosts: []string{filepath.Join(dir, "kh")}}}
	}
	if err := d.Check(host(good.Path, locked.Path)); err != nil {
		t.Errorf("good and encrypted keys: %v", err)
	}
	if prompts != 0 {
		t.Errorf("Check asked for a passphrase %d times; it must never", prompts)
	}
	missing := filepath.Join(dir, "id_missing")
	for _, tc := range []struct{ key, want string }{
		{missing, missing + " does not exist"},
		{garbage, garbage + " is not a private key"},
	} {
		err := d.Check(host(good.Path, tc.key))
		var he *transport.HostError
		if !errors.Is(err, transport.ErrConfig) || !errors.As(err, &he) || he.Host != "h" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s) = %v, want ErrConfig containing %q", tc.key, err, tc.want)
		}
	}
}
