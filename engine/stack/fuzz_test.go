package stack

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary sources to Load and Validate, seeded with every
// golden case; whatever the input, they must report, never panic.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.hcl"))
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"main.hcl": &fstest.MapFile{Data: src}}
		// The directory does not exist: file() and templatefile() fail
		// instead of reading the machine's files.
		s, _ := Load(fsys, "/nonexistent/opsrun-fuzz", Inputs{Vars: []string{"port=8080"}}, reg)
		if s == nil {
			t.Fatal("Load returned a nil stack")
		}
		s.Validate()
		s.EvalContext(s.LayerValues(nil), s.LayerValues(nil))
	})
}
