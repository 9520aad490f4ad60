package data

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// writeStack replaces the stack's stack.hcl (the test then reloads it).
func writeStack(t *testing.T, s *playtest.Stack, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// hclString writes s as an HCL string literal.
func hclString(s string) string {
	b, _ := json.Marshal(s) // JSON's escapes are HCL's
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(string(b))
}

// fails runs command on host, expecting it to fail, and returns what it
// printed; the test fails when the command succeeds.
func fails(t *testing.T, host, command string) string {
	t.Helper()
	out := pool.Sh(t, host, "if ("+command+") 2>&1; then echo OPSRUN-SUCCEEDED; fi")
	if strings.Contains(out, "OPSRUN-SUCCEEDED") {
		t.Errorf("%s: %s succeeded; it should not have:\n%s", host, command, out)
	}
	return out
}

// noSecret fails the test when any event of the outcomes (actions,
// diffs, errors, output) shows one of the secrets.
func noSecret(t *testing.T, outcomes []playtest.Outcome, secrets ...string) {
	t.Helper()
	for _, o := range outcomes {
		for _, e := range o.Events {
			shown := fmt.Sprintf("%+v %s", e, o.Note) // raw strings, unlike JSON's escapes
			for _, s := range secrets {
				if strings.Contains(shown, s) {
					t.Errorf("a secret is shown: %s", shown)
				}
			}
		}
	}
}
