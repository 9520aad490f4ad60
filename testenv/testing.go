package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RequireDockerEnv names the environment variable that turns New's skip
// into a failure when Docker is unavailable. CI sets it to 1 so that a
// broken Docker setup cannot pass as "all tests skipped".
const RequireDockerEnv = "OPSRUN_REQUIRE_DOCKER"

// upTimeout bounds New's Up. It is generous because the first Up on a
// machine builds the image, and parallel test packages queue behind that
// build and then boot their fleets at the same time.
const upTimeout = 10 * time.Minute

// New brings up a fleet for the test and removes it when the test and its
// subtests end, even if they fail or time out. Name and Dir are filled in
// when empty: a unique name derived from the test's, and t.TempDir().
//
// When this machine cannot run fleets (no Docker, no daemon, no debootstrap)
// the test is skipped with the reason, and under -short it is skipped
// without trying. With OPSRUN_REQUIRE_DOCKER=1 neither happens: the fleet
// comes up or the test fails.
func New(t testing.TB, spec Spec) *Fleet {
	t.Helper()
	required := os.Getenv(RequireDockerEnv) == "1"
	if testing.Short() && !required {
		t.Skip("testenv: skipped in -short mode (it starts Docker containers)")
	}
	if spec.Name == "" {
		spec.Name = testFleetName(t.Name())
	}
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Registered before Up so that whatever an interrupted Up leaves is
	// removed too; Down is a no-op for a fleet that does not exist. It gets
	// a fresh context because the test's is cancelled by then.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := Down(ctx, spec.Name, spec.Dir); err != nil && !errors.Is(err, ErrUnavailable) {
			t.Errorf("testenv: remove fleet %s: %v", spec.Name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	f, err := Up(ctx, spec, log)
	if err != nil {
		if errors.Is(err, ErrUnavailable) && !required {
			t.Skipf("testenv: %v (set %s=1 to fail instead)", err, RequireDockerEnv)
		}
		t.Fatalf("testenv: %v", err)
	}
	return f
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// testFleetName makes a fleet name that says which test owns the containers
// (for whoever reads `docker ps` after a crash) and is unique across
// parallel tests and packages.
func testFleetName(testName string) string {
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(base) > 24 {
		base = strings.TrimRight(base[:24], "-")
	}
	var b [4]byte
	rand.Read(b[:])
	if base == "" {
		return "t-" + hex.EncodeToString(b[:])
	}
	return "t-" + base + "-" + hex.EncodeToString(b[:])
}

// Main runs a test package whose tests share one fleet: it brings spec's
// fleet up, hands it to use, runs m and removes the fleet, returning the
// exit code for os.Exit. Name (made unique with the process id) and Dir
// default as in New. When the fleet cannot come up, as New would skip,
// use gets a nil fleet and the reason, and the tests skip with it.
func Main(m *testing.M, spec Spec, use func(f *Fleet, skip string)) int {
	flag.Parse()
	required := os.Getenv(RequireDockerEnv) == "1"
	if testing.Short() && !required {
		use(nil, "testenv: skipped in -short mode (it starts Docker containers)")
		return m.Run()
	}
	if spec.Name == "" {
		spec.Name = "t-pkg"
	}
	spec.Name = fmt.Sprintf("%s-%d", spec.Name, os.Getpid())
	if spec.Dir == "" {
		dir, err := os.MkdirTemp("", "opsrun-testenv-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		spec.Dir = filepath.Join(dir, "fleet")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := Down(ctx, spec.Name, spec.Dir); err != nil && !errors.Is(err, ErrUnavailable) {
			fmt.Fprintf(os.Stderr, "testenv: remove fleet %s: %v\n", spec.Name, err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	f, err := Up(ctx, spec, log)
	cancel()
	if err != nil {
		if errors.Is(err, ErrUnavailable) && !required {
			use(nil, fmt.Sprintf("testenv: %v (set %s=1 to fail instead)", err, RequireDockerEnv))
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	use(f, "")
	return m.Run()
}
