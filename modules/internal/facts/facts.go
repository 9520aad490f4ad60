// Package facts holds the probes resource types share and the parsers of
// their output: a probe is a shell command plus a parser, as in pyinfra's
// facts. Each probe is built in one place so two resources that need the
// same fact ask with the same ID and the same command, and the engine runs
// it once.
//
// Parsers take the raw stdout of commands on a real host and must never
// panic: anything unexpected is an error naming the probe (fuzzed).
//
// Probes that parse words force the C locale: an operator's LANG travels
// over SSH (SendEnv) and through sudo, and would translate stat's file types
// or apt-cache's "Candidate:".
package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/modules"
)

// Get is the result of probe p, or an error when the engine did not
// gather it (a bug in the engine or the resource, never a host state).
func Get(f modules.Facts, p modules.Probe) (modules.ProbeResult, error) {
	r, ok := f[p.ID]
	if !ok {
		return modules.ProbeResult{}, fmt.Errorf("fact %s was not gathered", p.ID)
	}
	return r, nil
}

// lines splits output into lines without the trailing newline, dropping a
// final empty line and carriage returns a pty may add.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// short quotes at most 60 bytes of s for an error message about garbage
// output.
func short(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("%q", s)
}
