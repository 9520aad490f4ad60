package command_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsrun/opsrun/modules/command"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, command.Type()) }

// TestGuardsLocal runs the real guard probes and the command on this
// machine: a guarded command runs once, then its guard holds.
func TestGuardsLocal(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "it's done")
	env := map[string]string{"GREETING": "hello world"}
	for _, attrs := range []map[string]any{
		{"command": `echo "$GREETING" > "$MARKER"`, "creates": marker},
		{"command": `echo "$GREETING" > "it's done"`, "cwd": dir, "unless": `grep -qx "$GREETING" "it's done"`},
	} {
		if err := os.RemoveAll(marker); err != nil {
			t.Fatal(err)
		}
		attrs["environment"] = map[string]string{"GREETING": env["GREETING"], "MARKER": marker}
		acts := fixture.Converge(t, fixture.New(t, command.Type(), attrs, dir))
		if len(acts) != 1 {
			t.Fatalf("%v: want the command to run once, got %+v", attrs, acts)
		}
		b, err := os.ReadFile(marker)
		if err != nil || string(b) != "hello world\n" {
			t.Fatalf("%v: marker %q, %v", attrs, b, err)
		}
	}
}

// TestUnlessDoesNotReadStdin checks a guard that reads stdin neither
// blocks on the engine's stdin (an SSH channel that stays open) nor
// swallows a probe batch fed through it.
func TestUnlessDoesNotReadStdin(t *testing.T) {
	res := fixture.New(t, command.Type(), map[string]any{"command": "true", "unless": "cat >/dev/null; exit 3"}, t.TempDir())
	p := res.Probes(fixture.DefaultHost())[0]
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // open for the whole run, like an SSH session's stdin
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "( "+p.Command+" )")
	cmd.Stdin = r
	cmd.WaitDelay = time.Second // a stuck guard child keeps stdout open
	out, err := cmd.Output()
	if err != nil || string(out) != "3\n" {
		t.Fatalf("guard probe printed %q (%v), want its status 3", out, err)
	}
}
