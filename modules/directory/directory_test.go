package directory_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opsrun/opsrun/modules/directory"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, directory.Type()) }

// TestConvergeLocal runs the real probe and actions in a temporary
// directory and checks each second plan is empty.
func TestConvergeLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a b", "c'd")
	steps := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"create with parents", map[string]any{"path": p, "mode": "0750"}, "create " + p + " (mode 0750)"},
		{"again", map[string]any{"path": p, "mode": "0750"}, ""},
		{"setgid", map[string]any{"path": p, "mode": "2775"}, "change " + p + " (mode 0750 → 2775)"},
		{"clear setgid", map[string]any{"path": p, "mode": "0755"}, "change " + p + " (mode 2775 → 0755)"},
		{"absent", map[string]any{"path": filepath.Dir(p), "state": "absent"}, "remove " + filepath.Dir(p) + " and everything in it"},
		{"absent again", map[string]any{"path": filepath.Dir(p), "state": "absent"}, ""},
	}
	for _, s := range steps {
		acts := fixture.Converge(t, fixture.New(t, directory.Type(), s.attrs, dir))
		var got string
		if len(acts) > 1 {
			t.Fatalf("%s: %d actions: %+v", s.name, len(acts), acts)
		}
		if len(acts) == 1 {
			got = acts[0].Summary
		}
		if got != s.want {
			t.Errorf("%s: summary %q, want %q", s.name, got, s.want)
		}
	}
	if _, err := os.Stat(filepath.Dir(p)); !os.IsNotExist(err) {
		t.Errorf("directory still there: %v", err)
	}
}
