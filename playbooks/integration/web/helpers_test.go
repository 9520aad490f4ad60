package web

import (
	"os"
	"path/filepath"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// writeStack replaces the stack's stack.hcl (the test then reloads it).
func writeStack(s *playtest.Stack, src string) error {
	return os.WriteFile(filepath.Join(s.Dir, "stack.hcl"), []byte(src), 0o644)
}
