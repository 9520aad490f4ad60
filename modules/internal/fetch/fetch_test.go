package fetch_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules/internal/fetch"
)

// TestVerify runs the checksum check on this machine: it passes on the
// right checksum and fails, saying both, on another.
func TestVerify(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	p := filepath.Join(t.TempDir(), "it's a file")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	other := strings.Repeat("ab", 32)
	q := transport.ShellQuote(p)
	if out, err := exec.Command("sh", "-c", fetch.Verify(q, empty)).CombinedOutput(); err != nil {
		t.Errorf("right checksum: %v: %s", err, out)
	}
	out, err := exec.Command("sh", "-c", fetch.Verify(q, other)).CombinedOutput()
	if want := "checksum mismatch: got " + empty + " want " + other + "\n"; err == nil || string(out) != want {
		t.Errorf("wrong checksum: %v: %q, want %q", err, out, want)
	}
}
