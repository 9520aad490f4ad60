package testenv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestImageTagStable(t *testing.T) {
	a, b := ImageTag(), ImageTag()
	if a != b {
		t.Fatalf("ImageTag not stable: %s vs %s", a, b)
	}
	if !strings.HasPrefix(a, "opsrun-testenv:bookworm-") || len(a) != len("opsrun-testenv:bookworm-")+8 {
		t.Fatalf("ImageTag = %q, want opsrun-testenv:bookworm-<8 hex>", a)
	}
}

func TestSetupScriptHasRecipe(t *testing.T) {
	s := setupScript()
	for _, want := range []string{
		"apt-get update", "rm -f /etc/ssh/ssh_host_*", ": > /etc/machine-id",
		"useradd -m -s /bin/bash -u 1000 opsrun", "useradd -m -s /bin/bash -u 1001 deploy",
		"deploy:" + DeployPassword, "NOPASSWD:ALL", "deploy ALL=(ALL) ALL",
		"HostKey /etc/ssh/opsrun/ssh_host_ed25519_key", "MaxStartups 200:30:400",
		"ln -sf /dev/null /etc/systemd/system/apt-daily.timer",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("setup script lacks %q", want)
		}
	}
	if strings.Contains(s, "\napt-get clean") {
		t.Error("setup script runs apt-get clean, which deletes the baked pkgcache.bin")
	}
}

func TestMountinfoUnescape(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b/proc`); got != "/tmp/a b/proc" {
		t.Fatalf("got %q", got)
	}
	if got := unescapeMountinfo(`/x\04`); got != `/x\04` {
		t.Fatalf("truncated escape: got %q", got)
	}
}

// TestEnsureImage builds the image when missing (about a minute, once per
// machine) and checks it is then found without a rebuild.
func TestEnsureImage(t *testing.T) {
	if testing.Short() && os.Getenv(RequireDockerEnv) != "1" {
		t.Skip("builds a Docker image")
	}
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	tag, err := EnsureImage(ctx, log)
	if errors.Is(err, ErrUnavailable) && os.Getenv(RequireDockerEnv) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tag2, err := EnsureImage(ctx, nil)
	if err != nil || tag2 != tag {
		t.Fatalf("second EnsureImage = %q, %v; want %q", tag2, err, tag)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second EnsureImage took %v; it should find the image, not rebuild", d)
	}
	ok, err := imageExists(ctx, tag)
	if err != nil || !ok {
		t.Fatalf("image %s missing after EnsureImage: %v", tag, err)
	}
}
