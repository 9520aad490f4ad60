package web

import (
	"os"
	"path/filepath"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/playbooks/playtest"
)

// writeStack replaces the stack's stack.hcl (the test then reloads it).
func writeStack(s *playtest.Stack, src string) error {
	return os.WriteFile(filepath.Join(s.Dir, "stack.hcl"), []byte(src), 0o644)
}

// changed says whether o changed resource on host.
func changed(o playtest.Outcome, host, resource string) bool {
	for _, e := range o.Events {
		if e.Host == host && e.Resource == resource && e.Status == run.StatusChanged {
			return true
		}
	}
	return false
}
